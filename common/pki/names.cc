#include "common/pki/names.h"

#include <openssl/x509.h>

#include "common/pki/distinguished_name.h"
#include "common/pki/openssl_handles.h"
#include "common/pki/subject_alt_names.h"

namespace certbridge::pki {

absl::StatusOr<std::string> CanonicalSubject(absl::string_view rfc4514) {
  absl::StatusOr<internal::X509NamePtr> name = internal::ParseDistinguishedName(rfc4514, "subject");
  if (!name.ok()) return name.status();
  // X509_NAME_dup goes through DER, which orders the attributes of a multi-valued RDN
  // ("CN=a+UID=b"): the result is what a CSR or certificate with this subject prints, and
  // canonicalising it again changes nothing. Printed directly, the parser's order flipped
  // on every round ("UID=b+CN=a", then "CN=a+UID=b").
  internal::X509NamePtr encoded(X509_NAME_dup(name->get()));
  if (encoded == nullptr) return internal::OpenSslInternalError("subject: X509_NAME_dup");
  return internal::FormatDistinguishedName(encoded.get());
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
