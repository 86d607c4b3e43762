// SCEP profiles and dynamic challenges, apart from gRPC wiring (docs/scep.md): what
// AdminService's ScepProfile RPCs and CertificateService.CreateScepChallenge do. Blocking
// (store): call it on the worker pool.
//
// Tenant isolation: the tenant comes from the caller's API key; another tenant's profile is
// NOT_FOUND exactly as a missing one. Profile changes and minted challenges are audited.
//
// Errors: PERMISSION_DENIED without the scope (admin for profiles, certificates for
// challenges); INVALID_ARGUMENT naming the field; NOT_FOUND (profile, CA);
// FAILED_PRECONDITION (a challenge for a disabled profile or one not in DYNAMIC mode).
#ifndef CERTBRIDGE_BROKER_SCEP_SCEP_PROFILE_API_H_
#define CERTBRIDGE_BROKER_SCEP_SCEP_PROFILE_API_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "broker/scep/scep_store.h"
#include "broker/service/api_key_auth.h"
#include "broker/service/audit_throttle.h"
#include "broker/store/store.h"
#include "common/clock.h"

namespace certbridge::broker::scep {

struct ScepProfileSpec {
  std::string display_name;
  std::string ca_id;
  std::string template_name;
  std::string ra_template_name;
  ScepPolicy policy;
  ScepChallengeMode challenge_mode = ScepChallengeMode::kDynamic;
  std::string static_challenge;  // kStatic: 16..256 bytes; stored only as its SHA-256
  absl::Duration challenge_ttl = absl::Hours(1);
};

struct ScepChallengeSpec {
  std::string profile_id;
  std::string device_id;
  std::string subject;                         // RFC 4514; "" = any the policy admits
  std::vector<std::string> subject_alt_names;  // "dns:host.corp.example", ...
  std::string sid;
  absl::Duration ttl = absl::ZeroDuration();   // 0: the profile's challenge_ttl
};

struct MintedScepChallenge {
  std::string challenge;  // shown once; only its hash is stored
  absl::Time expire_time;
};

struct ScepProfileApiOptions {
  absl::Duration max_challenge_ttl = absl::Hours(24 * 7);
  // Minting is audited (scep_challenge.create: who, profile, binding; never the challenge).
  // Mints by one caller for the same profile and binding within this interval after the
  // one written are counted into the next row instead (AuditThrottle). Default 1 min.
  absl::Duration challenge_audit_interval = absl::Minutes(1);
};

class ScepProfileApi {
 public:
  // Nothing is owned; all must outlive this.
  ScepProfileApi(Store* store, ScepStore* scep_store, const Clock* clock,
                 ScepProfileApiOptions options = {});

  // A new profile with a broker-chosen profile_id. Its RA certificate is requested by the
  // RA task (scep_ra_certificates.h) on its next round.
  absl::StatusOr<ScepProfileRecord> CreateProfile(const Caller& caller, const ScepProfileSpec& spec);
  absl::StatusOr<ScepProfileRecord> GetProfile(const Caller& caller, const std::string& profile_id);
  absl::StatusOr<std::vector<ScepProfileRecord>> ListProfiles(const Caller& caller);
  // Idempotent. A disabled profile's URL answers 404 and its challenges no longer enroll.
  absl::StatusOr<ScepProfileRecord> DisableProfile(const Caller& caller, const std::string& profile_id);

  // The binding is checked against the profile's policy now, so an MDM learns at once
  // that it asked for a name the profile would refuse.
  absl::StatusOr<MintedScepChallenge> CreateChallenge(const Caller& caller,
                                                      const ScepChallengeSpec& spec);

 private:
  void Audit(const Caller& caller, absl::string_view action, absl::string_view object_id,
             std::string details);
  void AuditMint(const Caller& caller, const ScepChallengeRecord& challenge);

  Store* store_;
  ScepStore* scep_store_;
  const Clock* clock_;
  ScepProfileApiOptions options_;
  AuditThrottle mint_audit_;
};

}  // namespace certbridge::broker::scep

#endif  // CERTBRIDGE_BROKER_SCEP_SCEP_PROFILE_API_H_
