// The RA private keys of SCEP profiles, encrypted at rest (docs/scep.md, "The RA
// certificate"). Each key is stored as PKCS#8 encrypted under a passphrase derived with
// HKDF-SHA-256 from the operator's secret (the broker's --scep_ra_secret_file, the same on
// every replica; never a command-line value) with the profile id as HKDF info, so a blob
// moved to another profile's row does not open. A database dump alone reveals no RA key.
//
// Rotation (docs/scep.md, "Rotating the RA secret"): the vault holds the current secret,
// which seals and opens, and any previous secrets (--scep_ra_previous_secret_file), which
// only open. The RA round (scep_ra_certificates.h) re-seals every key that opens only with
// a previous secret under the current one; once it has, the previous secret can go.
//
//   ASSIGN_OR_RETURN(RaKeyVault vault, RaKeyVault::Create(current_file_contents, {old}));
//   ASSIGN_OR_RETURN(std::string sealed, vault.Seal(key, "p-1"));
//   ASSIGN_OR_RETURN(pki::PrivateKey opened, vault.Open(sealed, "p-1"));
//   ASSIGN_OR_RETURN(std::optional<std::string> resealed, vault.Reseal(sealed, "p-1"));
//
// Thread-safe (immutable after Create).
#ifndef CERTBRIDGE_BROKER_SCEP_RA_KEY_VAULT_H_
#define CERTBRIDGE_BROKER_SCEP_RA_KEY_VAULT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/pki.h"

namespace certbridge::broker::scep {

class RaKeyVault {
 public:
  // INVALID_ARGUMENT when a secret has fewer than 32 bytes (after trailing whitespace is
  // trimmed; the message names which: generate one with `openssl rand -hex 32`), or when a
  // previous secret equals the current one (a rotation that changes nothing).
  static absl::StatusOr<RaKeyVault> Create(absl::string_view secret,
                                           const std::vector<std::string>& previous_secrets = {});

  // With the current secret. INTERNAL if OpenSSL fails.
  absl::StatusOr<std::string> Seal(const pki::PrivateKey& key, absl::string_view profile_id) const;
  // With the current secret, else each previous one. INVALID_ARGUMENT: not sealed for this
  // profile under any of them (a secret missing on this replica, or a blob of another
  // profile).
  absl::StatusOr<pki::PrivateKey> Open(absl::string_view sealed, absl::string_view profile_id) const;
  // nullopt when `sealed` opens with the current secret (nothing to do); otherwise the key
  // sealed again with the current secret. Errors as Open and Seal.
  absl::StatusOr<std::optional<std::string>> Reseal(absl::string_view sealed,
                                                    absl::string_view profile_id) const;

 private:
  explicit RaKeyVault(std::vector<std::string> secrets) : secrets_(std::move(secrets)) {}
  // The key of secrets_[index]; nullopt when it does not open `sealed`.
  absl::StatusOr<std::optional<pki::PrivateKey>> OpenWith(size_t index, absl::string_view sealed,
                                                          absl::string_view profile_id) const;
  // The current secret first, then the previous ones in the order given.
  std::vector<std::string> secrets_;
};

}  // namespace certbridge::broker::scep

#endif  // CERTBRIDGE_BROKER_SCEP_RA_KEY_VAULT_H_
