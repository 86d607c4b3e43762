#include "broker/scep/ra_key_vault.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/pki/key_derivation.h"

namespace certbridge::broker::scep {
namespace {

absl::StatusOr<std::string> Passphrase(absl::string_view secret, absl::string_view profile_id) {
  absl::StatusOr<std::string> key = pki::HkdfSha256(secret, "certbridge scep ra key v1", profile_id, 32);
  if (!key.ok()) return key.status();
  return absl::BytesToHexString(*key);
}

absl::StatusOr<std::string> CheckedSecret(absl::string_view secret, absl::string_view which) {
  secret = absl::StripTrailingAsciiWhitespace(secret);
  if (secret.size() < 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ", which, " has ", secret.size(), " bytes; at least 32 are needed (generate one "
        "with `openssl rand -hex 32 > FILE`; docs/scep.md)"));
  }
  return std::string(secret);
}

}  // namespace

absl::StatusOr<RaKeyVault> RaKeyVault::Create(absl::string_view secret,
                                              const std::vector<std::string>& previous_secrets) {
  std::vector<std::string> secrets;
  absl::StatusOr<std::string> current =
      CheckedSecret(secret, "SCEP RA secret (--scep_ra_secret_file)");
  if (!current.ok()) return current.status();
  secrets.push_back(*std::move(current));
  for (const std::string& previous : previous_secrets) {
    absl::StatusOr<std::string> checked =
        CheckedSecret(previous, "previous SCEP RA secret (--scep_ra_previous_secret_file)");
    if (!checked.ok()) return checked.status();
    if (*checked == secrets.front()) {
      return absl::InvalidArgumentError(
          "--scep_ra_previous_secret_file holds the same secret as --scep_ra_secret_file; "
          "rotating means a new current secret and the old one as previous (docs/scep.md)");
    }
    secrets.push_back(*std::move(checked));
  }
  return RaKeyVault(std::move(secrets));
}

absl::StatusOr<std::string> RaKeyVault::Seal(const pki::PrivateKey& key,
                                             absl::string_view profile_id) const {
  absl::StatusOr<std::string> passphrase = Passphrase(secrets_.front(), profile_id);
  if (!passphrase.ok()) return passphrase.status();
  return key.ToEncryptedPem(*passphrase);
}

absl::StatusOr<std::optional<pki::PrivateKey>> RaKeyVault::OpenWith(
    size_t index, absl::string_view sealed, absl::string_view profile_id) const {
  absl::StatusOr<std::string> passphrase = Passphrase(secrets_[index], profile_id);
  if (!passphrase.ok()) return passphrase.status();
  absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::FromEncryptedPem(sealed, *passphrase);
  if (!key.ok()) return std::nullopt;
  return std::optional<pki::PrivateKey>(*std::move(key));
}

absl::StatusOr<pki::PrivateKey> RaKeyVault::Open(absl::string_view sealed,
                                                 absl::string_view profile_id) const {
  for (size_t i = 0; i < secrets_.size(); ++i) {
    absl::StatusOr<std::optional<pki::PrivateKey>> key = OpenWith(i, sealed, profile_id);
    if (!key.ok()) return key.status();
    if (key->has_value()) return **std::move(key);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "SCEP profile \"", profile_id, "\": the RA key does not open with this "
      "--scep_ra_secret_file", secrets_.size() > 1 ? " nor --scep_ra_previous_secret_file" : "",
      "; every replica needs the secret the key was sealed with"));
}

absl::StatusOr<std::optional<std::string>> RaKeyVault::Reseal(absl::string_view sealed,
                                                              absl::string_view profile_id) const {
  for (size_t i = 0; i < secrets_.size(); ++i) {
    absl::StatusOr<std::optional<pki::PrivateKey>> key = OpenWith(i, sealed, profile_id);
    if (!key.ok()) return key.status();
    if (!key->has_value()) continue;
    if (i == 0) return std::optional<std::string>();
    absl::StatusOr<std::string> resealed = Seal(**key, profile_id);
    if (!resealed.ok()) return resealed.status();
    return std::optional<std::string>(*std::move(resealed));
  }
  return Open(sealed, profile_id).status();  // the error naming what is missing
}

}  // namespace certbridge::broker::scep
