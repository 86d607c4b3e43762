#include "common/adcs/request_attributes.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace certbridge::adcs {

std::string NormalizeAttributeName(absl::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (c == '-' || absl::ascii_isspace(static_cast<unsigned char>(c))) continue;
    out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::optional<std::string> RequestAttributes::Get(absl::string_view name) const {
  const std::string key = NormalizeAttributeName(name);
  std::optional<std::string> found;
  for (const auto& [n, v] : entries) {
    if (n == key) found = v;
  }
  return found;
}

RequestAttributes ParseRequestAttributes(absl::string_view attributes) {
  RequestAttributes out;
  for (absl::string_view line : absl::StrSplit(attributes, '\n')) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    std::string name = NormalizeAttributeName(line.substr(0, colon));
    if (name.empty()) continue;
    out.entries.emplace_back(std::move(name),
                             std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return out;
}

absl::StatusOr<std::vector<SanAttributeEntry>> ParseSanAttribute(absl::string_view value) {
  std::vector<SanAttributeEntry> out;
  for (absl::string_view part : absl::StrSplit(value, '&', absl::SkipWhitespace())) {
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("SAN attribute entry \"", part, "\" has no '=': expected type=value"));
    }
    std::string type = absl::AsciiStrToLower(absl::StripAsciiWhitespace(part.substr(0, eq)));
    std::string v(absl::StripAsciiWhitespace(part.substr(eq + 1)));
    if (type.empty() || v.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("SAN attribute entry \"", part, "\" has an empty type or value"));
    }
    out.push_back({std::move(type), std::move(v)});
  }
  return out;
}

namespace {

// A character that would end the attribute line, hide text in a log, or (for SAN values)
// start another SAN entry. The format has no escaping, so such values are refused.
bool HasControlCharacter(absl::string_view s) {
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::string> FormatRequestAttributes(absl::string_view template_cn,
                                                    const std::vector<SanAttributeEntry>& sans) {
  if (HasControlCharacter(template_cn)) {
    return absl::InvalidArgumentError(
        "template name contains a line break or another control character");
  }
  std::string out;
  if (!template_cn.empty()) absl::StrAppend(&out, "CertificateTemplate:", template_cn);
  if (!sans.empty()) {
    if (!out.empty()) out.push_back('\n');
    out.append("SAN:");
    bool first = true;
    for (const SanAttributeEntry& s : sans) {
      // ParseRequestAttributes trims: "upn= a " would arrive as "a",
      // and "upn=  " as an empty value. Such values are refused, not silently changed.
      if (s.type.empty() || s.value.empty() || absl::StripAsciiWhitespace(s.type) != s.type ||
          absl::StripAsciiWhitespace(s.value) != s.value || HasControlCharacter(s.type) ||
          HasControlCharacter(s.value) || s.value.find('&') != std::string::npos ||
          s.type.find_first_of("&=") != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            "SAN ", absl::CHexEscape(s.type), " value \"", absl::CHexEscape(s.value),
            "\" is empty, starts or ends with a space, or contains '&', a line break or "
            "another control character, which "
            "the CA's SAN attribute cannot carry"));
      }
      if (!first) out.push_back('&');
      first = false;
      absl::StrAppend(&out, s.type, "=", s.value);
    }
  }
  return out;
}

}  // namespace certbridge::adcs
