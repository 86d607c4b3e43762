// HKDF-SHA-256 (RFC 5869) for keys derived from an operator secret, e.g. the passphrase
// that encrypts a SCEP profile's RA private key at rest (broker/scep/ra_key_vault.h).
#ifndef CERTBRIDGE_COMMON_PKI_KEY_DERIVATION_H_
#define CERTBRIDGE_COMMON_PKI_KEY_DERIVATION_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace certbridge::pki {

// `length` bytes of HKDF-SHA-256(secret, salt, info). INVALID_ARGUMENT for an empty secret
// or a length of 0 or over 255 * 32; INTERNAL if OpenSSL fails.
absl::StatusOr<std::string> HkdfSha256(absl::string_view secret, absl::string_view salt,
                                       absl::string_view info, size_t length);

}  // namespace certbridge::pki

#endif  // CERTBRIDGE_COMMON_PKI_KEY_DERIVATION_H_
