// The SCEP back end's persistent state: profiles (with the RA certificate and its
// encrypted key) and dynamic challenges. PostgresScepStore is the real one, FakeScepStore
// the in-memory twin; one contract suite (tests/broker/scep/scep_store_contract_test.cc)
// runs against both. See docs/scep.md and docs/architecture.md (SCEP).
//
// SCEP transactions need no table of their own: the certificate request created for one
// has the request_id ScepRequestId(profile, transactionID) (scep_enrollment_service.h), so
// the request store's unique (tenant, request_id) is the idempotency key.
//
// Errors and tenant isolation are as in broker/store/store.h: another tenant's profile is
// NOT_FOUND exactly as a missing one; ALREADY_EXISTS for a taken profile id; UNAVAILABLE /
// ABORTED: retry. Profile ids are unique across tenants (they are the URL's <profile>).
//
// Thread-safety: all methods may be called concurrently.
#ifndef CERTBRIDGE_BROKER_SCEP_SCEP_STORE_H_
#define CERTBRIDGE_BROKER_SCEP_SCEP_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace certbridge::broker::scep {

// How a device proves it may enroll (docs/scep.md, "Challenges").
enum class ScepChallengeMode {
  kDynamic,  // single-use challenges minted per device (CertificateService.CreateScepChallenge)
  kStatic,   // one shared secret per profile (Jamf's "static challenge")
  kIntune,   // Microsoft Intune's third-party SCEP validation API (intune_validation.h)
};
absl::string_view ScepChallengeModeName(ScepChallengeMode mode);  // "DYNAMIC", ...
std::optional<ScepChallengeMode> ScepChallengeModeFromName(absl::string_view name);

// What a CSR must look like. An empty pattern list does not restrict that part.
struct ScepPolicy {
  std::vector<std::string> subject_patterns;  // common/pki/name_pattern.h
  std::vector<std::string> san_patterns;      // "dns:*.corp.example"
  bool allow_rsa = true;
  int min_rsa_bits = 2048;
  bool allow_ec = true;
  int min_ec_bits = 256;
};

struct ScepProfileRecord {
  std::string profile_id;  // the URL's <profile>: [a-z0-9-], unique across tenants
  std::string tenant_id;
  std::string display_name;
  std::string ca_id;
  std::string template_name;     // what devices get
  std::string ra_template_name;  // the RA certificate's template (docs/scep.md, "The RA")
  ScepPolicy policy;
  ScepChallengeMode challenge_mode = ScepChallengeMode::kDynamic;
  std::string static_challenge_hash;  // SHA-256 hex; kStatic only
  absl::Duration challenge_ttl = absl::Hours(1);
  bool disabled = false;
  absl::Time create_time;
  absl::Time update_time;

  // The RA certificate (written by UpdateScepRa). Empty until the CA has issued it.
  std::string ra_certificate_pem;
  std::string ra_chain_pem;          // the issuing CA chain, issuing CA first
  std::string ra_key_encrypted_pem;  // PKCS#8, encrypted (ra_key_vault.h)
  absl::Time ra_not_after = absl::InfinitePast();
  // The certificate request that will carry the next RA certificate ("" when none is in
  // flight), and the key it was made for (encrypted like the current one).
  std::string ra_pending_request_name;
  std::string ra_pending_key_encrypted_pem;
};

// A profile's RA private keys as stored, sealed (ra_key_vault.h).
struct ScepSealedRaKeys {
  std::string key;          // ra_key_encrypted_pem
  std::string pending_key;  // ra_pending_key_encrypted_pem ("" when none is in flight)
};

// A dynamic challenge. The challenge itself is never stored, only its hash.
struct ScepChallengeRecord {
  std::string challenge_hash;  // SHA-256 hex
  std::string tenant_id;
  std::string profile_id;
  std::string device_id;
  // The binding: the CSR must carry exactly this subject (canonical RFC 4514; "" = any
  // the policy admits) and exactly these SANs ("dns:..." text, sorted; empty = any).
  std::string subject;
  std::vector<std::string> subject_alt_names;
  std::string sid;  // sent to the CA as the strong-mapping SAN URL; "" = none
  std::string created_by;
  absl::Time create_time;
  absl::Time expire_time;
  // Set once by ConsumeScepChallenge.
  std::optional<absl::Time> consume_time;
  std::string consumed_by;  // the scep request id it was consumed for
};

class ScepStore {
 public:
  virtual ~ScepStore() = default;

  // NOT_FOUND if the tenant does not exist; ALREADY_EXISTS for a taken profile_id.
  virtual absl::Status CreateScepProfile(const ScepProfileRecord& profile) = 0;
  virtual absl::StatusOr<ScepProfileRecord> GetScepProfile(const std::string& tenant_id,
                                                           const std::string& profile_id) = 0;
  // By id alone, for the unauthenticated SCEP endpoint whose URL names the profile; the
  // caller uses the record's tenant_id from then on.
  virtual absl::StatusOr<ScepProfileRecord> GetScepProfileById(const std::string& profile_id) = 0;
  virtual absl::StatusOr<std::vector<ScepProfileRecord>> ListScepProfiles(
      const std::string& tenant_id) = 0;
  // Every profile of every tenant that is not disabled (the RA renewal task).
  virtual absl::StatusOr<std::vector<ScepProfileRecord>> ListActiveScepProfiles() = 0;
  // Sets disabled (idempotent). NOT_FOUND for an unknown profile of the tenant.
  virtual absl::StatusOr<ScepProfileRecord> DisableScepProfile(const std::string& tenant_id,
                                                               const std::string& profile_id,
                                                               absl::Time now) = 0;
  // Writes the ra_* fields of `ra` (the rest is ignored) if the profile's
  // ra_pending_request_name is still `expected_pending_request_name`; otherwise
  // ABORTED and nothing is written (another replica moved first: re-read).
  virtual absl::StatusOr<ScepProfileRecord> UpdateScepRa(
      const std::string& tenant_id, const std::string& profile_id,
      const std::string& expected_pending_request_name, const ScepProfileRecord& ra,
      absl::Time now) = 0;

  // Replaces the sealed RA keys of a profile (current and pending: ra_key_encrypted_pem,
  // ra_pending_key_encrypted_pem) with `resealed` if both are still `expected` — a
  // compare-and-set on the ciphertexts, which never repeat, so a key renewed or installed
  // meanwhile is never overwritten. Otherwise ABORTED and nothing is written. The RA round
  // uses it after the operator rotated --scep_ra_secret_file (ra_key_vault.h).
  virtual absl::StatusOr<ScepProfileRecord> ResealScepRaKeys(const std::string& tenant_id,
                                                             const std::string& profile_id,
                                                             const ScepSealedRaKeys& expected,
                                                             const ScepSealedRaKeys& resealed,
                                                             absl::Time now) = 0;

  // ALREADY_EXISTS for a hash already stored (a collision of 256-bit random values: never).
  // NOT_FOUND if the profile does not exist in the tenant.
  virtual absl::Status CreateScepChallenge(const ScepChallengeRecord& challenge) = 0;
  // NOT_FOUND unless the profile has a challenge with this hash.
  virtual absl::StatusOr<ScepChallengeRecord> GetScepChallenge(const std::string& profile_id,
                                                               const std::string& challenge_hash) = 0;
  // Atomically marks the challenge used by `consumer`, if it is unused and unexpired at
  // `now` — or was already consumed by the same `consumer` (a device retrying the same
  // transaction). Errors: NOT_FOUND unknown; FAILED_PRECONDITION "already used" (by
  // another consumer) or "expired".
  virtual absl::StatusOr<ScepChallengeRecord> ConsumeScepChallenge(const std::string& profile_id,
                                                                   const std::string& challenge_hash,
                                                                   const std::string& consumer,
                                                                   absl::Time now) = 0;
  // Deletes challenges that expired before `before`. Returns how many.
  virtual absl::StatusOr<int> DeleteExpiredScepChallenges(absl::Time before) = 0;
};

}  // namespace certbridge::broker::scep

#endif  // CERTBRIDGE_BROKER_SCEP_SCEP_STORE_H_
