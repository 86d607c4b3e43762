// Opaque, tenant-scoped ids for numbers the store counts globally.
//
// The store numbers audit events and certificate requests with one sequence across all
// tenants. Shown as they are (an audit event id, a page token), they would tell any tenant
// how busy the others are, and a token of one tenant could be replayed in another. An
// OpaqueIdCodec turns (scope, number) into a 22-character URL-safe string that says nothing
// without the key, and reads it back only in the same scope:
//
//   id = base64url(AES-128(key, first 8 bytes of SHA-256(scope) || number as 8 bytes BE))
//
// One AES block over a unique input is a pseudorandom permutation: the same number in the
// same scope always gives the same id (an audit event keeps its id), and Decode checks the
// scope half after decrypting. The key is derived from a secret every broker replica holds
// (the broker uses its connector CA key), so an id made by one replica reads on any other.
//
// Thread-safe (immutable after Create).
#ifndef CERTBRIDGE_COMMON_PKI_OPAQUE_IDS_H_
#define CERTBRIDGE_COMMON_PKI_OPAQUE_IDS_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace certbridge::pki {

class OpaqueIdCodec {
 public:
  // `secret`: high-entropy bytes shared by every replica (e.g. a private key's PEM); the
  // AES key is HMAC-SHA-256(secret, "certbridge opaque ids v1"), truncated. INVALID_ARGUMENT
  // for an empty secret.
  static absl::StatusOr<OpaqueIdCodec> Create(absl::string_view secret);

  std::string Encode(absl::string_view scope, uint64_t number) const;
  // INVALID_ARGUMENT when `id` is not one Encode made for `scope` with this key (malformed,
  // another tenant's, another kind's).
  absl::StatusOr<uint64_t> Decode(absl::string_view scope, absl::string_view id) const;

 private:
  explicit OpaqueIdCodec(const std::array<unsigned char, 16>& key) : key_(key) {}
  std::array<unsigned char, 16> key_;
};

}  // namespace certbridge::pki

#endif  // CERTBRIDGE_COMMON_PKI_OPAQUE_IDS_H_
