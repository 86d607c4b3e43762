// FakeScepStore: the in-memory ScepStore for unit tests, honest to the same contract suite
// as PostgresScepStore (tests/broker/scep/scep_store_contract_test.cc).
//
//   FakeStore store;                  // tenants live there
//   FakeScepStore scep(&store);
//   scep.FailNextCalls(absl::UnavailableError("db down"), 1);
//
// Thread-safety: all methods may be called concurrently.
#ifndef CERTBRIDGE_BROKER_SCEP_FAKE_SCEP_STORE_H_
#define CERTBRIDGE_BROKER_SCEP_FAKE_SCEP_STORE_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "broker/scep/scep_store.h"
#include "broker/store/store.h"

namespace certbridge::broker::scep {

class FakeScepStore final : public ScepStore {
 public:
  // `tenants` (not owned, must outlive this) answers whether a tenant exists, as the
  // database's foreign key does.
  explicit FakeScepStore(Store* tenants) : tenants_(tenants) {}

  // The next `n` calls return `status` without touching the data. REQUIRES: !status.ok().
  void FailNextCalls(absl::Status status, int n);

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
  absl::Status TakeFailure() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Store* const tenants_;
  absl::Mutex mu_;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  int failures_left_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, ScepProfileRecord> profiles_ ABSL_GUARDED_BY(mu_);  // by profile_id
  // (profile_id, challenge_hash) -> challenge
  std::map<std::pair<std::string, std::string>, ScepChallengeRecord> challenges_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace certbridge::broker::scep

#endif  // CERTBRIDGE_BROKER_SCEP_FAKE_SCEP_STORE_H_
