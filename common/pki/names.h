// Checking and writing names without building a certificate: what the broker needs to
// refuse a bad subject or SAN when a request arrives, not minutes later at the agent.
#ifndef CERTBRIDGE_COMMON_PKI_NAMES_H_
#define CERTBRIDGE_COMMON_PKI_NAMES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/pki.h"

namespace certbridge::pki {

// Parses an RFC 4514 subject with the same parser CSR creation uses and returns it in
// canonical RFC 4514 form. INVALID_ARGUMENT naming the offending part.
absl::StatusOr<std::string> CanonicalSubject(absl::string_view rfc4514);

// One RDN value escaped for RFC 4514: `, + ; = \ " < > #` (leading), leading/trailing
// spaces; UTF-8 kept as is.
std::string EscapeRdnValue(absl::string_view value);

// Checks SANs with the same rules issuance uses. INVALID_ARGUMENT
// "SAN <type> \"<value>\": <problem>".
absl::Status ValidateSubjectAltNames(const std::vector<SubjectAltName>& sans);

}  // namespace certbridge::pki

#endif  // CERTBRIDGE_COMMON_PKI_NAMES_H_
