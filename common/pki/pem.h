// PEM armour (RFC 7468) for DER that arrives without it, e.g. the PKCS#10 request inside a
// SCEP message, which the request pipeline carries as PEM text.
#ifndef CERTBRIDGE_COMMON_PKI_PEM_H_
#define CERTBRIDGE_COMMON_PKI_PEM_H_

#include <string>

#include "absl/strings/string_view.h"

namespace certbridge::pki {

// "-----BEGIN <label>-----\n", base64 in 64-character lines, "-----END <label>-----\n".
// `label` e.g. "CERTIFICATE REQUEST". The DER is not checked.
std::string PemEncode(absl::string_view label, absl::string_view der);

// Whether `text` holds a PEM private key of any kind ("PRIVATE KEY", "RSA PRIVATE KEY",
// "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"): a certificate upload that also carries its
// key is refused before anything parses it, so the key is never stored or logged.
bool PemHoldsPrivateKey(absl::string_view text);

}  // namespace certbridge::pki

#endif  // CERTBRIDGE_COMMON_PKI_PEM_H_
