#include "common/pki/opaque_ids.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <cstring>
#include <memory>

#include "absl/strings/escaping.h"
#include "common/pki/openssl_handles.h"

namespace certbridge::pki {
namespace {

using CipherCtxPtr = internal::OpenSslPtr<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
constexpr size_t kBlock = 16;
constexpr absl::string_view kKeyLabel = "certbridge opaque ids v1";

std::array<unsigned char, 8> ScopeTag(absl::string_view scope) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(scope.data()), scope.size(), digest);
  std::array<unsigned char, 8> tag;
  std::memcpy(tag.data(), digest, tag.size());
  return tag;
}

// One AES-128 block, without padding; false on an OpenSSL failure.
bool CryptBlock(const std::array<unsigned char, 16>& key, bool encrypt,
                const unsigned char in[kBlock], unsigned char out[kBlock]) {
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int written = 0;
  return ctx != nullptr &&
         EVP_CipherInit_ex(ctx.get(), EVP_aes_128_ecb(), nullptr, key.data(), nullptr,
                           encrypt ? 1 : 0) == 1 &&
         EVP_CIPHER_CTX_set_padding(ctx.get(), 0) == 1 &&
         EVP_CipherUpdate(ctx.get(), out, &written, in, kBlock) == 1 &&
         written == static_cast<int>(kBlock);
}

}  // namespace

absl::StatusOr<OpaqueIdCodec> OpaqueIdCodec::Create(absl::string_view secret) {
  if (secret.empty()) return absl::InvalidArgumentError("opaque ids: empty secret");
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_length = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(kKeyLabel.data()), kKeyLabel.size(), mac,
           &mac_length) == nullptr ||
      mac_length < 16) {
    return internal::OpenSslInternalError("opaque ids: key derivation");
  }
  std::array<unsigned char, 16> key;
  std::memcpy(key.data(), mac, key.size());
  return OpaqueIdCodec(key);
}

std::string OpaqueIdCodec::Encode(absl::string_view scope, uint64_t number) const {
  unsigned char plain[kBlock];
  const std::array<unsigned char, 8> tag = ScopeTag(scope);
  std::memcpy(plain, tag.data(), tag.size());
  for (int i = 0; i < 8; ++i) plain[8 + i] = static_cast<unsigned char>(number >> (56 - 8 * i));
  unsigned char sealed[kBlock];
  // AES-ECB of one block cannot fail with a valid key; an empty id is refused by Decode.
  if (!CryptBlock(key_, /*encrypt=*/true, plain, sealed)) return "";
  std::string id;
  absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(sealed), sizeof sealed), &id);
  return id;
}

absl::StatusOr<uint64_t> OpaqueIdCodec::Decode(absl::string_view scope,
                                               absl::string_view id) const {
  const absl::Status not_ours = absl::InvalidArgumentError("not an id or token this API returned");
  // 16 bytes are 22 base64url characters without padding; checked before decoding.
  if (id.size() != 22) return not_ours;
  std::string sealed;
  if (!absl::WebSafeBase64Unescape(id, &sealed) || sealed.size() != kBlock) return not_ours;
  unsigned char plain[kBlock];
  if (!CryptBlock(key_, /*encrypt=*/false, reinterpret_cast<const unsigned char*>(sealed.data()),
                  plain)) {
    return not_ours;
  }
  const std::array<unsigned char, 8> tag = ScopeTag(scope);
  if (std::memcmp(plain, tag.data(), tag.size()) != 0) return not_ours;
  uint64_t number = 0;
  for (int i = 0; i < 8; ++i) number = (number << 8) | plain[8 + i];
  return number;
}

}  // namespace certbridge::pki
