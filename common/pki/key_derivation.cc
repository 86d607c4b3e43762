#include "common/pki/key_derivation.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <memory>

#include "absl/status/status.h"

namespace certbridge::pki {

absl::StatusOr<std::string> HkdfSha256(absl::string_view secret, absl::string_view salt,
                                       absl::string_view info, size_t length) {
  if (secret.empty()) return absl::InvalidArgumentError("HKDF: the secret is empty");
  if (length == 0 || length > 255 * 32) {
    return absl::InvalidArgumentError("HKDF: length must be 1..8160 bytes");
  }
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr),
                                                        &EVP_KDF_free);
  if (kdf == nullptr) return absl::InternalError("HKDF: not available in OpenSSL");
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf.get()),
                                                                &EVP_KDF_CTX_free);
  if (ctx == nullptr) return absl::InternalError("HKDF: cannot create a context");
  std::string digest = "SHA256";
  std::string secret_copy(secret), salt_copy(salt), info_copy(info);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest.data(), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, secret_copy.data(), secret_copy.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt_copy.data(), salt_copy.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info_copy.data(), info_copy.size()),
      OSSL_PARAM_construct_end()};
  std::string out(length, '\0');
  if (EVP_KDF_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     params) != 1) {
    return absl::InternalError("HKDF: derivation failed");
  }
  return out;
}

}  // namespace certbridge::pki
