// Internal to common/pki: SubjectAltName <-> GENERAL_NAMES, shared by CSR creation,
// CSR parsing and issuance.
#ifndef CERTBRIDGE_COMMON_PKI_SUBJECT_ALT_NAMES_H_
#define CERTBRIDGE_COMMON_PKI_SUBJECT_ALT_NAMES_H_

#include <vector>

#include "absl/status/statusor.h"
#include "common/pki/openssl_handles.h"
#include "common/pki/pki.h"

namespace certbridge::pki::internal {

// Validates and encodes. dns/email/uri must be ASCII without spaces or control
// characters; ip is IPv4 or IPv6 text; upn is UTF-8 (otherName 1.3.6.1.4.1.311.20.2.3).
// INVALID_ARGUMENT "SAN <type> \"<value>\": <problem>".
absl::StatusOr<GeneralNamesPtr> EncodeSubjectAltNames(const std::vector<SubjectAltName>& sans);

// Decodes the names certbridge knows; others (directoryName, other otherNames, ...) are
// skipped. IP addresses come back in canonical text (IPv6 lower-case, compressed).
std::vector<SubjectAltName> DecodeSubjectAltNames(const GENERAL_NAMES* names);

}  // namespace certbridge::pki::internal

#endif  // CERTBRIDGE_COMMON_PKI_SUBJECT_ALT_NAMES_H_
