// The CA request attribute string built from certbridge's SAN type: the bridge between
// pki::SubjectAltName and the AD CS attribute vocabulary of common/adcs.
//
//   ASSIGN_OR_RETURN(std::string attributes,
//                    BuildCaRequestAttributes("WebServer", {{SubjectAltName::Type::kUpn,
//                                                            "device42@corp.example"}}));
//   // "CertificateTemplate:WebServer\nSAN:upn=device42@corp.example"
//
// Pure functions, thread-safe.
#ifndef CERTBRIDGE_COMMON_PKI_CA_REQUEST_ATTRIBUTES_H_
#define CERTBRIDGE_COMMON_PKI_CA_REQUEST_ATTRIBUTES_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/pki.h"

namespace certbridge::pki {

// The type word of the CA's SAN attribute: "dns", "email", "url", "ipaddress", "upn".
absl::string_view SanAttributeType(SubjectAltName::Type type);

// The inverse, also accepting the spellings AD CS accepts ("uri", "ip"); nullopt for
// types certbridge does not issue ("guid", ...). `type` is lower-case.
std::optional<SubjectAltName::Type> SanTypeFromAttributeType(absl::string_view type);

// Checks every SAN with the rules issuance uses (ValidateSubjectAltNames), then writes
// the attribute string with adcs::FormatRequestAttributes, which refuses what the string
// cannot carry. INVALID_ARGUMENT naming the SAN or template at fault.
absl::StatusOr<std::string> BuildCaRequestAttributes(absl::string_view template_cn,
                                                     const std::vector<SubjectAltName>& sans);

}  // namespace certbridge::pki

#endif  // CERTBRIDGE_COMMON_PKI_CA_REQUEST_ATTRIBUTES_H_
