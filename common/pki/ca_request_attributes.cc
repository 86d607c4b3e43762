#include "common/pki/ca_request_attributes.h"

#include "common/adcs/request_attributes.h"
#include "common/pki/names.h"
#include "common/status_macros.h"

namespace certbridge::pki {

absl::string_view SanAttributeType(SubjectAltName::Type type) {
  switch (type) {
    case SubjectAltName::Type::kDns:
      return "dns";
    case SubjectAltName::Type::kEmail:
      return "email";
    case SubjectAltName::Type::kUri:
      return "url";
    case SubjectAltName::Type::kIp:
      return "ipaddress";
    case SubjectAltName::Type::kUpn:
      return "upn";
  }
  return "";
}

std::optional<SubjectAltName::Type> SanTypeFromAttributeType(absl::string_view type) {
  if (type == "upn") return SubjectAltName::Type::kUpn;
  if (type == "dns") return SubjectAltName::Type::kDns;
  if (type == "email") return SubjectAltName::Type::kEmail;
  if (type == "url" || type == "uri") return SubjectAltName::Type::kUri;
  if (type == "ipaddress" || type == "ip") return SubjectAltName::Type::kIp;
  return std::nullopt;
}

absl::StatusOr<std::string> BuildCaRequestAttributes(absl::string_view template_cn,
                                                     const std::vector<SubjectAltName>& sans) {
  RETURN_IF_ERROR(ValidateSubjectAltNames(sans));
  std::vector<adcs::SanAttributeEntry> entries;
  entries.reserve(sans.size());
  for (const SubjectAltName& san : sans) {
    entries.push_back({std::string(SanAttributeType(san.type)), san.value});
  }
  return adcs::FormatRequestAttributes(template_cn, entries);
}

}  // namespace certbridge::pki
