// The RA private keys of SCEP profiles, encrypted at rest (docs/scep.md, "The RA
// certificate"). Each key is stored as PKCS#8 encrypted under a passphrase derived with
// HKDF-SHA-256 from the operator's secret (the broker's --scep_ra_secret_file, the same on
// every replica; never a command-line value) with the profile id as HKDF info, so a blob
// moved to another profile's row does not open. A database dump alone reveals no RA key.
//
//   ASSIGN_OR_RETURN(RaKeyVault vault, RaKeyVault::Create(secret_file_contents));
//   ASSIGN_OR_RETURN(std::string sealed, vault.Seal(key, "p-1"));
//   ASSIGN_OR_RETURN(pki::PrivateKey opened, vault.Open(sealed, "p-1"));
//
// Thread-safe (immutable after Create).
#ifndef CERTBRIDGE_BROKER_SCEP_RA_KEY_VAULT_H_
#define CERTBRIDGE_BROKER_SCEP_RA_KEY_VAULT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/pki.h"

namespace certbridge::broker::scep {

class RaKeyVault {
 public:
  // INVALID_ARGUMENT when the secret has fewer than 32 bytes (after trailing whitespace
  // is trimmed): generate one with `openssl rand -hex 32`.
  static absl::StatusOr<RaKeyVault> Create(absl::string_view secret);

  // INTERNAL if OpenSSL fails.
  absl::StatusOr<std::string> Seal(const pki::PrivateKey& key, absl::string_view profile_id) const;
  // INVALID_ARGUMENT: not sealed for this profile under this secret (wrong
  // --scep_ra_secret_file, or a blob of another profile).
  absl::StatusOr<pki::PrivateKey> Open(absl::string_view sealed, absl::string_view profile_id) const;

 private:
  explicit RaKeyVault(std::string secret) : secret_(std::move(secret)) {}
  absl::StatusOr<std::string> Passphrase(absl::string_view profile_id) const;
  std::string secret_;
};

}  // namespace certbridge::broker::scep

#endif  // CERTBRIDGE_BROKER_SCEP_RA_KEY_VAULT_H_
