// pki::ValidateSubjectAltNames and pki::BuildCaRequestAttributes on arbitrary SANs: pieces
// separated by '\0', each a type byte (mod 5) then the value. Properties: Build refuses
// whatever Validate refuses; when Validate accepts, Build refuses only values the attribute
// string cannot carry ('&', a control character, a leading or trailing space); what Build
// writes parses back (ParseRequestAttributes, ParseSanAttribute, SanTypeFromAttributeType)
// to the same SANs.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "common/adcs/request_attributes.h"
#include "common/pki/ca_request_attributes.h"
#include "common/pki/names.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using certbridge::pki::SubjectAltName;

bool AttributeCannotCarry(absl::string_view value) {
  if (absl::StripAsciiWhitespace(value) != value) return true;  // the parser would trim it
  for (char c : value) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '&' || u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<SubjectAltName> sans;
  for (absl::string_view piece : absl::StrSplit(input, '\0', absl::SkipEmpty())) {
    const auto type = static_cast<SubjectAltName::Type>(static_cast<unsigned char>(piece[0]) % 5);
    sans.push_back({type, std::string(piece.substr(1))});
  }
  const absl::Status valid = certbridge::pki::ValidateSubjectAltNames(sans);
  absl::StatusOr<std::string> attributes =
      certbridge::pki::BuildCaRequestAttributes("WebServer", sans);
  if (!valid.ok()) {
    FUZZ_CHECK(!attributes.ok());
    return 0;
  }
  if (!attributes.ok()) {
    bool explained = false;
    for (const SubjectAltName& s : sans) explained = explained || AttributeCannotCarry(s.value);
    FUZZ_CHECK(explained);
    return 0;
  }
  const certbridge::adcs::RequestAttributes parsed =
      certbridge::adcs::ParseRequestAttributes(*attributes);
  FUZZ_CHECK(parsed.CertificateTemplate() == std::string("WebServer"));
  if (sans.empty()) {
    FUZZ_CHECK(!parsed.Get("SAN").has_value());
    return 0;
  }
  std::optional<std::string> san = parsed.Get("SAN");
  FUZZ_CHECK(san.has_value());
  absl::StatusOr<std::vector<certbridge::adcs::SanAttributeEntry>> entries =
      certbridge::adcs::ParseSanAttribute(*san);
  FUZZ_CHECK(entries.ok());
  FUZZ_CHECK(entries->size() == sans.size());
  for (size_t i = 0; i < sans.size(); ++i) {
    FUZZ_CHECK(certbridge::pki::SanTypeFromAttributeType((*entries)[i].type) == sans[i].type);
    FUZZ_CHECK((*entries)[i].value == sans[i].value);
  }
  return 0;
}
