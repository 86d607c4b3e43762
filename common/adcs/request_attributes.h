// The request attribute string of ICertRequest::Submit: "Name:Value" lines separated by
// '\n' (or "\r\n"), split at the first colon; attribute names ignore case, spaces and
// hyphens ("Certificate-Template" == "certificatetemplate"). The ones certbridge uses:
//
//   CertificateTemplate:WebServer
//   SAN:upn=device42@corp.example&dns=device42.corp.example
//
//   RequestAttributes a = ParseRequestAttributes("CertificateTemplate:WebServer");
//   a.Get("certificate template");  // "WebServer"
//
// Pure functions, thread-safe.
#ifndef CERTBRIDGE_COMMON_ADCS_REQUEST_ATTRIBUTES_H_
#define CERTBRIDGE_COMMON_ADCS_REQUEST_ATTRIBUTES_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace certbridge::adcs {

// "Certificate-Template " -> "certificatetemplate".
std::string NormalizeAttributeName(absl::string_view name);

struct RequestAttributes {
  // In request order: (normalized name, value with surrounding whitespace removed).
  std::vector<std::pair<std::string, std::string>> entries;

  // The last value of `name` (any spelling), as AD CS keeps the last one.
  std::optional<std::string> Get(absl::string_view name) const;
  std::optional<std::string> CertificateTemplate() const { return Get("CertificateTemplate"); }
};

// Never fails: lines without a colon and empty names are ignored, as the CA ignores them.
RequestAttributes ParseRequestAttributes(absl::string_view attributes);

// One SAN:... entry. `type` is lower-case as written ("upn", "dns", "email", "url",
// "ipaddress", "guid").
struct SanAttributeEntry {
  std::string type;
  std::string value;
  bool operator==(const SanAttributeEntry& o) const {
    return type == o.type && value == o.value;
  }
};

// Parses the value of a SAN attribute: "upn=a@b&dns=h.example". INVALID_ARGUMENT for an
// entry without '=' or with an empty value, naming the entry.
absl::StatusOr<std::vector<SanAttributeEntry>> ParseSanAttribute(absl::string_view value);

// Builds an attribute string for Submit: the one place that writes it, so every value that
// reaches the CA is checked here. INVALID_ARGUMENT when the template or a SAN type or value
// contains a line break or another control character (it would start a new attribute),
// a SAN value contains '&' or is empty (the format has no escaping).
absl::StatusOr<std::string> FormatRequestAttributes(absl::string_view template_cn,
                                                    const std::vector<SanAttributeEntry>& sans);

}  // namespace certbridge::adcs

#endif  // CERTBRIDGE_COMMON_ADCS_REQUEST_ATTRIBUTES_H_
