// FleetStatisticsSource on PostgreSQL: one read-only statement over the request, job,
// connector and session tables, on a connection of its own (not the store's pool), so
// that the metrics still say "database unreachable" when the pool is exhausted, and a
// slow read never takes a connection from request traffic.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<PostgresFleetStatistics> fleet,
//                    PostgresFleetStatistics::Create(dsn, absl::Seconds(5)));
//   absl::StatusOr<FleetStatistics> now = fleet->Read(absl::Now() - absl::Seconds(90));
//
// Every count uses an index that the store keeps anyway (waiting requests, READY and
// LEASED jobs); the cost grows with the backlog, not with the history of requests.
//
// Thread-safety: Read may be called concurrently (calls are serialised).
#ifndef CERTBRIDGE_BROKER_STORE_POSTGRES_POSTGRES_FLEET_STATISTICS_H_
#define CERTBRIDGE_BROKER_STORE_POSTGRES_POSTGRES_FLEET_STATISTICS_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/store/fleet_statistics.h"

namespace certbridge::broker {

namespace pg {
class Connection;
}  // namespace pg

class PostgresFleetStatistics final : public FleetStatisticsSource {
 public:
  // Does not connect: the first Read does, and a Read after a failure connects again.
  // INVALID_ARGUMENT for an empty dsn.
  static absl::StatusOr<std::unique_ptr<PostgresFleetStatistics>> Create(
      const std::string& dsn, absl::Duration connect_timeout);
  ~PostgresFleetStatistics() override;

  absl::StatusOr<FleetStatistics> Read(absl::Time live_after) override;

 private:
  PostgresFleetStatistics(std::string dsn, absl::Duration connect_timeout);

  const std::string dsn_;
  const absl::Duration connect_timeout_;
  absl::Mutex mu_;
  std::unique_ptr<pg::Connection> conn_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_POSTGRES_POSTGRES_FLEET_STATISTICS_H_
