// What postgres_store.cc and postgres_certificate_store.cc share: the pool's connection
// lease and the row-list mapper. Internal to broker/store/postgres/.
#ifndef CERTBRIDGE_BROKER_STORE_POSTGRES_POSTGRES_STORE_INTERNAL_H_
#define CERTBRIDGE_BROKER_STORE_POSTGRES_POSTGRES_STORE_INTERNAL_H_

#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/store/postgres/pg_connection.h"
#include "broker/store/postgres/postgres_store.h"
#include "common/status_macros.h"

namespace certbridge::broker {

// A borrowed connection; gives it back (or drops it, if broken) when destroyed.
class PostgresStore::Lease {
 public:
  Lease(PostgresStore* store, std::unique_ptr<pg::Connection> conn)
      : store_(store), conn_(std::move(conn)), start_(std::chrono::steady_clock::now()) {}
  Lease(Lease&& other) noexcept = default;
  Lease& operator=(Lease&&) = delete;
  ~Lease() {
    if (store_ == nullptr || conn_ == nullptr) return;  // moved from
    if (store_->options_.metrics != nullptr) {
      store_->options_.metrics->DatabaseCall(
          absl::FromChrono(std::chrono::steady_clock::now() - start_));
    }
    store_->Release(std::move(conn_));
  }
  pg::Connection& operator*() { return *conn_; }
  pg::Connection* operator->() { return conn_.get(); }

 private:
  PostgresStore* store_;
  std::unique_ptr<pg::Connection> conn_;
  std::chrono::steady_clock::time_point start_;  // the call's duration: a measurement, not a decision
};

namespace pg {

// Maps every row with `mapper(rows, r)`; the first mapping error is returned.
template <typename T, typename Mapper>
absl::StatusOr<std::vector<T>> AllRows(const Rows& rows, Mapper mapper) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (int r = 0; r < rows.size(); ++r) {
    ASSIGN_OR_RETURN(T item, mapper(rows, r));
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace pg
}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_POSTGRES_POSTGRES_STORE_INTERNAL_H_
