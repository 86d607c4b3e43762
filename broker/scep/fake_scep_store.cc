#include "broker/scep/fake_scep_store.h"

#include "absl/strings/str_cat.h"

namespace certbridge::broker::scep {
namespace {

absl::Status ProfileNotFound(const std::string& profile_id) {
  return absl::NotFoundError(absl::StrCat("SCEP profile \"", profile_id, "\" not found"));
}

}  // namespace

void FakeScepStore::FailNextCalls(absl::Status status, int n) {
  absl::MutexLock lock(&mu_);
  failure_ = std::move(status);
  failures_left_ = n;
}

absl::Status FakeScepStore::TakeFailure() {
  if (failures_left_ <= 0) return absl::OkStatus();
  --failures_left_;
  return failure_;
}

absl::Status FakeScepStore::CreateScepProfile(const ScepProfileRecord& profile) {
  if (profile.profile_id.empty() || profile.tenant_id.empty()) {
    return absl::InvalidArgumentError("SCEP profile: profile_id and tenant_id are required");
  }
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = TakeFailure(); !s.ok()) return s;
  }
  // Outside the lock: the tenant store has its own.
  if (tenants_ != nullptr) {
    absl::StatusOr<Tenant> tenant = tenants_->GetTenant(profile.tenant_id);
    if (!tenant.ok()) return tenant.status();
  }
  absl::MutexLock lock(&mu_);
  if (profiles_.count(profile.profile_id) != 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("SCEP profile \"", profile.profile_id, "\" already exists"));
  }
  profiles_[profile.profile_id] = profile;
  return absl::OkStatus();
}

absl::StatusOr<ScepProfileRecord> FakeScepStore::GetScepProfile(const std::string& tenant_id,
                                                                const std::string& profile_id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = TakeFailure(); !s.ok()) return s;
  auto it = profiles_.find(profile_id);
  if (it == profiles_.end() || it->second.tenant_id != tenant_id) return ProfileNotFound(profile_id);
  return it->second;
}

absl::StatusOr<ScepProfileRecord> FakeScepStore::GetScepProfileById(const std::string& profile_id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = TakeFailure(); !s.ok()) return s;
  auto it = profiles_.find(profile_id);
  if (it == profiles_.end()) return ProfileNotFound(profile_id);
  return it->second;
}

absl::StatusOr<std::vector<ScepProfileRecord>> FakeScepStore::ListScepProfiles(
    const std::string& tenant_id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = TakeFailure(); !s.ok()) return s;
  std::vector<ScepProfileRecord> out;
  for (const auto& [id, profile] : profiles_) {
    if (profile.tenant_id == tenant_id) out.push_back(profile);
  }
  return out;
}

absl::StatusOr<std::vector<ScepProfileRecord>> FakeScepStore::ListActiveScepProfiles() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = TakeFailure(); !s.ok()) return s;
  std::vector<ScepProfileRecord> out;
  for (const auto& [id, profile] : profiles_) {
    if (!profile.disabled) out.push_back(profile);
  }
  return out;
}

absl::StatusOr<ScepProfileRecord> FakeScepStore::DisableScepProfile(const std::string& tenant_id,
                                                                    const std::string& profile_id,
                                                                    absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = TakeFailure(); !s.ok()) return s;
  auto it = profiles_.find(profile_id);
  if (it == profiles_.end() || it->second.tenant_id != tenant_id) return ProfileNotFound(profile_id);
  if (!it->second.disabled) {
    it->second.disabled = true;
    it->second.update_time = now;
  }
  return it->second;
}

absl::StatusOr<ScepProfileRecord> FakeScepStore::UpdateScepRa(
    const std::string& tenant_id, const std::string& profile_id,
    const std::string& expected_pending_request_name, const ScepProfileRecord& ra,
    absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = TakeFailure(); !s.ok()) return s;
  auto it = profiles_.find(profile_id);
  if (it == profiles_.end() || it->second.tenant_id != tenant_id) return ProfileNotFound(profile_id);
  ScepProfileRecord& p = it->second;
  if (p.ra_pending_request_name != expected_pending_request_name) {
    return absl::AbortedError(absl::StrCat("SCEP profile \"", profile_id,
                                           "\": the RA certificate changed meanwhile"));
  }
  p.ra_certificate_pem = ra.ra_certificate_pem;
  p.ra_chain_pem = ra.ra_chain_pem;
  p.ra_key_encrypted_pem = ra.ra_key_encrypted_pem;
  p.ra_not_after = ra.ra_not_after;
  p.ra_pending_request_name = ra.ra_pending_request_name;
  p.ra_pending_key_encrypted_pem = ra.ra_pending_key_encrypted_pem;
  p.update_time = now;
  return p;
}

absl::StatusOr<ScepProfileRecord> FakeScepStore::ResealScepRaKeys(
    const std::string& tenant_id, const std::string& profile_id, const ScepSealedRaKeys& expected,
    const ScepSealedRaKeys& resealed, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = TakeFailure(); !s.ok()) return s;
  auto it = profiles_.find(profile_id);
  if (it == profiles_.end() || it->second.tenant_id != tenant_id) return ProfileNotFound(profile_id);
  ScepProfileRecord& p = it->second;
  if (p.ra_key_encrypted_pem != expected.key ||
      p.ra_pending_key_encrypted_pem != expected.pending_key) {
    return absl::AbortedError(absl::StrCat("SCEP profile \"", profile_id,
                                           "\": the RA key changed meanwhile"));
  }
  p.ra_key_encrypted_pem = resealed.key;
  p.ra_pending_key_encrypted_pem = resealed.pending_key;
  p.update_time = now;
  return p;
}

absl::Status FakeScepStore::CreateScepChallenge(const ScepChallengeRecord& challenge) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = TakeFailure(); !s.ok()) return s;
  auto profile = profiles_.find(challenge.profile_id);
  if (profile == profiles_.end() || profile->second.tenant_id != challenge.tenant_id) {
    return ProfileNotFound(challenge.profile_id);
  }
  auto key = std::make_pair(challenge.profile_id, challenge.challenge_hash);
  if (challenges_.count(key) != 0) return absl::AlreadyExistsError("SCEP challenge already exists");
  challenges_[key] = challenge;
  return absl::OkStatus();
}

absl::StatusOr<ScepChallengeRecord> FakeScepStore::GetScepChallenge(
    const std::string& profile_id, const std::string& challenge_hash) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = TakeFailure(); !s.ok()) return s;
  auto it = challenges_.find({profile_id, challenge_hash});
  if (it == challenges_.end()) return absl::NotFoundError("SCEP challenge not found");
  return it->second;
}

absl::StatusOr<ScepChallengeRecord> FakeScepStore::ConsumeScepChallenge(
    const std::string& profile_id, const std::string& challenge_hash, const std::string& consumer,
    absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = TakeFailure(); !s.ok()) return s;
  auto it = challenges_.find({profile_id, challenge_hash});
  if (it == challenges_.end()) return absl::NotFoundError("SCEP challenge not found");
  ScepChallengeRecord& c = it->second;
  if (c.consume_time.has_value()) {
    if (c.consumed_by == consumer) return c;
    return absl::FailedPreconditionError("SCEP challenge already used");
  }
  if (c.expire_time <= now) return absl::FailedPreconditionError("SCEP challenge expired");
  c.consume_time = now;
  c.consumed_by = consumer;
  return c;
}

absl::StatusOr<int> FakeScepStore::DeleteExpiredScepChallenges(absl::Time before) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = TakeFailure(); !s.ok()) return s;
  int deleted = 0;
  for (auto it = challenges_.begin(); it != challenges_.end();) {
    if (it->second.expire_time < before) {
      it = challenges_.erase(it);
      ++deleted;
    } else {
      ++it;
    }
  }
  return deleted;
}

}  // namespace certbridge::broker::scep
