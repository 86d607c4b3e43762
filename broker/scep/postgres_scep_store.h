// PostgresScepStore: the ScepStore on PostgreSQL 15 (tables scep_profile and
// scep_challenge, migration 0006_scep.sql; run MigrateDatabase first). It keeps a small
// pool of its own connections through the store's libpq wrapper (pg_connection.h), so the
// SCEP tables live beside the broker's without touching PostgresStore.
//
// Blocking: call it from worker threads. A broken connection is replaced on next use;
// after UNAVAILABLE the caller retries. Thread-safety: all methods may be called
// concurrently.
#ifndef CERTBRIDGE_BROKER_SCEP_POSTGRES_SCEP_STORE_H_
#define CERTBRIDGE_BROKER_SCEP_POSTGRES_SCEP_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/scep/scep_store.h"

namespace certbridge::broker {
namespace pg {
class Connection;
}  // namespace pg
}  // namespace certbridge::broker

namespace certbridge::broker::scep {

struct PostgresScepStoreOptions {
  // libpq connection string. Required. Never logged nor put in an error message.
  std::string dsn;
  int pool_size = 2;  // SCEP traffic is light next to the API's
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration acquire_timeout = absl::Seconds(10);
};

class PostgresScepStore final : public ScepStore {
 public:
  // INVALID_ARGUMENT empty dsn or pool_size < 1; UNAVAILABLE cannot connect.
  static absl::StatusOr<std::unique_ptr<PostgresScepStore>> Create(
      const PostgresScepStoreOptions& options);
  ~PostgresScepStore() override;

  absl::Status CreateScepProfile(const ScepProfileRecord& profile) override;
  absl::StatusOr<ScepProfileRecord> GetScepProfile(const std::string& tenant_id,
                                                   const std::string& profile_id) override;
  absl::StatusOr<ScepProfileRecord> GetScepProfileById(const std::string& profile_id) override;
  absl::StatusOr<std::vector<ScepProfileRecord>> ListScepProfiles(
      const std::string& tenant_id) override;
  absl::StatusOr<std::vector<ScepProfileRecord>> ListActiveScepProfiles() override;
  absl::StatusOr<ScepProfileRecord> DisableScepProfile(const std::string& tenant_id,
                                                       const std::string& profile_id,
                                                       absl::Time now) override;
  absl::StatusOr<ScepProfileRecord> UpdateScepRa(const std::string& tenant_id,
                                                 const std::string& profile_id,
                                                 const std::string& expected_pending_request_name,
                                                 const ScepProfileRecord& ra,
                                                 absl::Time now) override;
  absl::StatusOr<ScepProfileRecord> ResealScepRaKeys(const std::string& tenant_id,
                                                     const std::string& profile_id,
                                                     const ScepSealedRaKeys& expected,
                                                     const ScepSealedRaKeys& resealed,
                                                     absl::Time now) override;
  absl::Status CreateScepChallenge(const ScepChallengeRecord& challenge) override;
  absl::StatusOr<ScepChallengeRecord> GetScepChallenge(const std::string& profile_id,
                                                       const std::string& challenge_hash) override;
  absl::StatusOr<ScepChallengeRecord> ConsumeScepChallenge(const std::string& profile_id,
                                                           const std::string& challenge_hash,
                                                           const std::string& consumer,
                                                           absl::Time now) override;
  absl::StatusOr<int> DeleteExpiredScepChallenges(absl::Time before) override;

 private:
  class Lease;
  explicit PostgresScepStore(PostgresScepStoreOptions options);
  absl::StatusOr<Lease> Acquire();
  void Release(std::unique_ptr<pg::Connection> conn);

  const PostgresScepStoreOptions options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<pg::Connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace certbridge::broker::scep

#endif  // CERTBRIDGE_BROKER_SCEP_POSTGRES_SCEP_STORE_H_
