#include "common/pki/name_pattern.h"

#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/pki/names.h"

namespace certbridge::pki {
namespace {

constexpr SubjectAltName::Type kSanTypes[] = {
    SubjectAltName::Type::kDns, SubjectAltName::Type::kEmail, SubjectAltName::Type::kUri,
    SubjectAltName::Type::kIp, SubjectAltName::Type::kUpn};

std::optional<SubjectAltName::Type> SanTypeFromName(absl::string_view name) {
  for (SubjectAltName::Type type : kSanTypes) {
    if (absl::EqualsIgnoreCase(name, SanTypeName(type))) return type;
  }
  return std::nullopt;
}

bool SameLetter(char a, char b) {
  return absl::ascii_tolower(static_cast<unsigned char>(a)) ==
         absl::ascii_tolower(static_cast<unsigned char>(b));
}

absl::Status ValidatePatternText(absl::string_view pattern, absl::string_view what) {
  if (pattern.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": a pattern is empty"));
  if (pattern.size() > kMaxNamePatternBytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": a pattern is ", pattern.size(),
                                                   " bytes; at most ", kMaxNamePatternBytes));
  }
  for (char c : pattern) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " \"", absl::CHexEscape(pattern), "\": contains a control character"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

// The classic two-pointer glob match: on a mismatch after a `*`, the star takes one more
// character and matching resumes. Each step advances the text or the last star's
// position, so it never takes more than |pattern| * |text| steps.
bool MatchesNamePattern(absl::string_view pattern, absl::string_view text) {
  if (pattern.size() > kMaxNamePatternBytes || text.size() > kMaxMatchedNameBytes) return false;
  size_t p = 0, t = 0;
  size_t star = absl::string_view::npos, star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (p < pattern.size() && SameLetter(pattern[p], text[t])) {
      ++p;
      ++t;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

absl::Status ValidateSubjectPattern(absl::string_view pattern, absl::string_view what) {
  return ValidatePatternText(pattern, what);
}

absl::Status ValidateSanPattern(absl::string_view pattern, absl::string_view what) {
  if (absl::Status s = ValidatePatternText(pattern, what); !s.ok()) return s;
  const size_t colon = pattern.find(':');
  if (colon == absl::string_view::npos || !SanTypeFromName(pattern.substr(0, colon)) ||
      colon + 1 == pattern.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " \"", absl::CHexEscape(pattern),
        "\": expected <type>:<pattern> with type dns, email, uri, ip or upn, e.g. "
        "dns:*.corp.example"));
  }
  return absl::OkStatus();
}

bool SanMatchesAnyPattern(const SubjectAltName& san, const std::vector<std::string>& san_patterns) {
  for (const std::string& pattern : san_patterns) {
    const size_t colon = pattern.find(':');
    if (colon == std::string::npos) continue;
    std::optional<SubjectAltName::Type> type = SanTypeFromName(absl::string_view(pattern).substr(0, colon));
    if (!type || *type != san.type) continue;
    if (MatchesNamePattern(absl::string_view(pattern).substr(colon + 1), san.value)) return true;
  }
  return false;
}

bool SubjectMatchesAnyPattern(absl::string_view subject,
                              const std::vector<std::string>& subject_patterns) {
  for (const std::string& pattern : subject_patterns) {
    if (MatchesNamePattern(pattern, subject)) return true;
  }
  return false;
}

std::string SanText(const SubjectAltName& san) {
  return absl::StrCat(SanTypeName(san.type), ":", san.value);
}

absl::StatusOr<SubjectAltName> ParseSanText(absl::string_view text) {
  if (text.size() > kMaxMatchedNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("SAN is ", text.size(), " bytes; at most ", kMaxMatchedNameBytes));
  }
  const size_t colon = text.find(':');
  std::optional<SubjectAltName::Type> type;
  if (colon != absl::string_view::npos) type = SanTypeFromName(text.substr(0, colon));
  if (!type) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SAN \"", absl::CHexEscape(text),
        "\": expected <type>:<value> with type dns, email, uri, ip or upn, e.g. dns:host.corp.example"));
  }
  SubjectAltName san{*type, std::string(text.substr(colon + 1))};
  if (absl::Status s = ValidateSubjectAltNames({san}); !s.ok()) return s;
  return san;
}

}  // namespace certbridge::pki
