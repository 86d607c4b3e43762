// The one home of SCEP profile name patterns: which subjects and SANs a profile admits
// (docs/scep.md, "Policy"). A pattern is literal text in which `*` stands for any run of
// characters, possibly empty; matching ignores ASCII case. No regular expressions: the
// names come from devices, the patterns from admins, and both are bounded here before
// anything scans them.
//
//   subject pattern   "CN=*.corp.example,O=Example"   matched against the CSR's subject in
//                                                     canonical RFC 4514 form
//   SAN pattern       "dns:*.corp.example"            <type>:<pattern>, type one of dns,
//                     "email:*@corp.example"          email, uri, ip, upn (pki::SanTypeName)
//
// Thread-safe (pure functions).
#ifndef CERTBRIDGE_COMMON_PKI_NAME_PATTERN_H_
#define CERTBRIDGE_COMMON_PKI_NAME_PATTERN_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/pki.h"

namespace certbridge::pki {

inline constexpr size_t kMaxNamePatternBytes = 256;
// Matching is refused (false) for names longer than this: no certificate name is.
inline constexpr size_t kMaxMatchedNameBytes = 4096;

// True if `text` matches `pattern` (`*` any run, ASCII case ignored). Linear in
// |pattern| * |text| at worst; false when either is over its bound.
bool MatchesNamePattern(absl::string_view pattern, absl::string_view text);

// INVALID_ARGUMENT "<what> \"...\": ..." for an empty pattern, one over
// kMaxNamePatternBytes, one with control characters, or (for a SAN pattern) one without a
// known "<type>:" prefix.
absl::Status ValidateSubjectPattern(absl::string_view pattern, absl::string_view what);
absl::Status ValidateSanPattern(absl::string_view pattern, absl::string_view what);

// True if `san` matches one of `san_patterns` ("dns:*.corp.example", ...): the type must be
// equal and the value match the rest.
bool SanMatchesAnyPattern(const SubjectAltName& san, const std::vector<std::string>& san_patterns);
// True if the subject (canonical RFC 4514) matches one of `subject_patterns`.
bool SubjectMatchesAnyPattern(absl::string_view subject,
                              const std::vector<std::string>& subject_patterns);

// "dns:host.example" for a SAN: the text form patterns and challenge bindings use.
std::string SanText(const SubjectAltName& san);
// The reverse: INVALID_ARGUMENT unless "<type>:<value>" with a known type and a value that
// passes ValidateSubjectAltNames.
absl::StatusOr<SubjectAltName> ParseSanText(absl::string_view text);

}  // namespace certbridge::pki

#endif  // CERTBRIDGE_COMMON_PKI_NAME_PATTERN_H_
