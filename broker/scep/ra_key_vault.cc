#include "broker/scep/ra_key_vault.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/pki/key_derivation.h"

namespace certbridge::broker::scep {

absl::StatusOr<RaKeyVault> RaKeyVault::Create(absl::string_view secret) {
  secret = absl::StripTrailingAsciiWhitespace(secret);
  if (secret.size() < 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the SCEP RA secret has ", secret.size(), " bytes; at least 32 are needed (generate one "
        "with `openssl rand -hex 32 > FILE` and give --scep_ra_secret_file=FILE on every replica)"));
  }
  return RaKeyVault(std::string(secret));
}

absl::StatusOr<std::string> RaKeyVault::Passphrase(absl::string_view profile_id) const {
  absl::StatusOr<std::string> key =
      pki::HkdfSha256(secret_, "certbridge scep ra key v1", profile_id, 32);
  if (!key.ok()) return key.status();
  return absl::BytesToHexString(*key);
}

absl::StatusOr<std::string> RaKeyVault::Seal(const pki::PrivateKey& key,
                                             absl::string_view profile_id) const {
  absl::StatusOr<std::string> passphrase = Passphrase(profile_id);
  if (!passphrase.ok()) return passphrase.status();
  return key.ToEncryptedPem(*passphrase);
}

absl::StatusOr<pki::PrivateKey> RaKeyVault::Open(absl::string_view sealed,
                                                 absl::string_view profile_id) const {
  absl::StatusOr<std::string> passphrase = Passphrase(profile_id);
  if (!passphrase.ok()) return passphrase.status();
  absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::FromEncryptedPem(sealed, *passphrase);
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SCEP profile \"", profile_id, "\": the RA key does not open with this "
        "--scep_ra_secret_file; every replica needs the secret the key was sealed with"));
  }
  return key;
}

}  // namespace certbridge::broker::scep
