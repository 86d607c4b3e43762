#include "common/pki/names.h"

#include "common/pki/distinguished_name.h"
#include "common/pki/subject_alt_names.h"

namespace certbridge::pki {

absl::StatusOr<std::string> CanonicalSubject(absl::string_view rfc4514) {
  absl::StatusOr<internal::X509NamePtr> name = internal::ParseDistinguishedName(rfc4514, "subject");
  if (!name.ok()) return name.status();
  return internal::FormatDistinguishedName(name->get());
}

std::string EscapeRdnValue(absl::string_view value) {
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    const bool edge_space = c == ' ' && (i == 0 || i + 1 == value.size());
    const bool leading_hash = c == '#' && i == 0;
    if (edge_space || leading_hash || c == ',' || c == '+' || c == ';' || c == '=' ||
        c == '\\' || c == '"' || c == '<' || c == '>') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out;
}

absl::Status ValidateSubjectAltNames(const std::vector<SubjectAltName>& sans) {
  if (sans.empty()) return absl::OkStatus();
  return internal::EncodeSubjectAltNames(sans).status();
}

}  // namespace certbridge::pki
