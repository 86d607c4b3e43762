// Internal to common/pki: RFC 4514 distinguished names <-> X509_NAME. One parser for CSR
// creation and issuance, so that escaping rules cannot drift apart.
#ifndef CERTBRIDGE_COMMON_PKI_DISTINGUISHED_NAME_H_
#define CERTBRIDGE_COMMON_PKI_DISTINGUISHED_NAME_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/openssl_handles.h"

namespace certbridge::pki::internal {

// Parses an RFC 4514 string ("CN=a\, b+UID=7,O=Example") in RFC 4514 order (most
// specific RDN first; the last RDN becomes the first in the encoded name). Accepted
// attribute types (case-insensitive): CN, O, OU, L, ST, C, DC, E/emailAddress,
// SERIALNUMBER, UID, dotted OIDs (also "OID.1.2.3"). Values: RFC 4514 escapes (`\,` and
// friends, `\XX` hex pairs forming UTF-8), `#hex` BER encodings; unescaped spaces around
// separators are ignored. Empty input gives an empty name.
// INVALID_ARGUMENT "<what>: ..." naming the offending part and its position.
absl::StatusOr<X509NamePtr> ParseDistinguishedName(absl::string_view text,
                                                   absl::string_view what);

// RFC 4514 text, most specific RDN first, UTF-8 left unescaped.
std::string FormatDistinguishedName(const X509_NAME* name);

}  // namespace certbridge::pki::internal

#endif  // CERTBRIDGE_COMMON_PKI_DISTINGUISHED_NAME_H_
