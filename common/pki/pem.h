// PEM armour (RFC 7468) for DER that arrives without it, e.g. the PKCS#10 request inside a
// SCEP message, which the request pipeline carries as PEM text.
#ifndef CERTBRIDGE_COMMON_PKI_PEM_H_
#define CERTBRIDGE_COMMON_PKI_PEM_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace certbridge::pki {

// "-----BEGIN <label>-----\n", base64 in 64-character lines, "-----END <label>-----\n".
// `label` e.g. "CERTIFICATE REQUEST". The DER is not checked.
std::string PemEncode(absl::string_view label, absl::string_view der);

// Whether `text` holds a PEM private key of any kind ("PRIVATE KEY", "RSA PRIVATE KEY",
// "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"): a certificate upload that also carries its
// key is refused before anything parses it, so the key is never stored or logged.
bool PemHoldsPrivateKey(absl::string_view text);

// The DER inside each PEM block labelled `label` (e.g. "CERTIFICATE") in `text`, in order;
// blocks with other labels are skipped, and none found gives an empty list.
// INVALID_ARGUMENT for a block without its END line or whose base64 does not decode.
// The DER is NOT parsed: use this only on text that was parsed when it came in (a stored
// certificate or chain), where a full X.509 parse would cost ~0.1 ms of OpenSSL 3's key
// decoders per certificate for nothing (docs/benchmarks.md, broker CPU per certificate).
absl::StatusOr<std::vector<std::string>> PemBlocksDer(absl::string_view text,
                                                      absl::string_view label);

}  // namespace certbridge::pki

#endif  // CERTBRIDGE_COMMON_PKI_PEM_H_
