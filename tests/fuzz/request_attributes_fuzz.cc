// The CA request attribute string (common/adcs/request_attributes.h), both ways.
// The first byte picks what the rest is:
//   even: an attribute string from the network or a journal -> ParseRequestAttributes and
//         ParseSanAttribute. Properties: names are normalised and values trimmed; what
//         parses and FormatRequestAttributes accepts parses back to the same template and
//         SAN entries.
//   odd:  pieces separated by '\0': a template, then SAN type/value pairs ->
//         FormatRequestAttributes. Property: an accepted string parses back to the template
//         and entries as the parser normalises them (type lower-cased, both trimmed), each
//         still non-empty, and to nothing else.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "common/adcs/request_attributes.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using certbridge::adcs::FormatRequestAttributes;
using certbridge::adcs::NormalizeAttributeName;
using certbridge::adcs::ParseRequestAttributes;
using certbridge::adcs::ParseSanAttribute;
using certbridge::adcs::RequestAttributes;
using certbridge::adcs::SanAttributeEntry;

// Parses `formatted` and checks it holds exactly `template_cn` (trimmed; none if empty)
// and `sans` (already in parsed form; none if empty).
void CheckParsesTo(const std::string& formatted, absl::string_view template_cn,
                   const std::vector<SanAttributeEntry>& sans) {
  const RequestAttributes parsed = ParseRequestAttributes(formatted);
  FUZZ_CHECK(parsed.entries.size() == (template_cn.empty() ? 0u : 1u) + (sans.empty() ? 0u : 1u));
  if (!template_cn.empty()) {
    FUZZ_CHECK(parsed.CertificateTemplate() == std::string(absl::StripAsciiWhitespace(template_cn)));
  }
  if (sans.empty()) return;
  std::optional<std::string> san = parsed.Get("SAN");
  FUZZ_CHECK(san.has_value());
  absl::StatusOr<std::vector<SanAttributeEntry>> entries = ParseSanAttribute(*san);
  FUZZ_CHECK(entries.ok());
  FUZZ_CHECK(*entries == sans);
}

void ParseThenFormat(absl::string_view input) {
  const RequestAttributes parsed = ParseRequestAttributes(input);
  for (const auto& [name, value] : parsed.entries) {
    FUZZ_CHECK(!name.empty() && NormalizeAttributeName(name) == name);
    FUZZ_CHECK(absl::StripAsciiWhitespace(value) == value);
  }
  std::optional<std::string> san = parsed.Get("SAN");
  std::vector<SanAttributeEntry> sans;
  if (san.has_value()) {
    absl::StatusOr<std::vector<SanAttributeEntry>> entries = ParseSanAttribute(*san);
    if (!entries.ok()) return;
    for (const SanAttributeEntry& e : *entries) {
      FUZZ_CHECK(!e.type.empty() && !e.value.empty());
      FUZZ_CHECK(absl::AsciiStrToLower(e.type) == e.type);
      FUZZ_CHECK(absl::StripAsciiWhitespace(e.type) == e.type);
      FUZZ_CHECK(absl::StripAsciiWhitespace(e.value) == e.value);
    }
    sans = *std::move(entries);
  }
  const std::string template_cn = parsed.CertificateTemplate().value_or("");
  absl::StatusOr<std::string> formatted = FormatRequestAttributes(template_cn, sans);
  if (!formatted.ok()) return;
  CheckParsesTo(*formatted, template_cn, sans);
}

void FormatThenParse(absl::string_view input) {
  std::vector<absl::string_view> pieces = absl::StrSplit(input, '\0');
  const absl::string_view template_cn = pieces[0];
  std::vector<SanAttributeEntry> sans;
  std::vector<SanAttributeEntry> expected;
  for (size_t i = 1; i + 1 < pieces.size(); i += 2) {
    sans.push_back({std::string(pieces[i]), std::string(pieces[i + 1])});
    expected.push_back({absl::AsciiStrToLower(absl::StripAsciiWhitespace(pieces[i])),
                        std::string(absl::StripAsciiWhitespace(pieces[i + 1]))});
  }
  absl::StatusOr<std::string> formatted = FormatRequestAttributes(template_cn, sans);
  if (!formatted.ok()) return;
  for (const SanAttributeEntry& e : expected) {
    // Accepted entries must survive the parser's trimming (it refuses empty ones).
    FUZZ_CHECK(!e.type.empty() && !e.value.empty());
  }
  CheckParsesTo(*formatted, template_cn, expected);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    ParseThenFormat(rest);
  } else {
    FormatThenParse(rest);
  }
  return 0;
}
