#include "common/pki/pem.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace certbridge::pki {

std::string PemEncode(absl::string_view label, absl::string_view der) {
  const std::string base64 = absl::Base64Escape(der);
  std::string out = absl::StrCat("-----BEGIN ", label, "-----\n");
  for (size_t i = 0; i < base64.size(); i += 64) {
    absl::StrAppend(&out, absl::string_view(base64).substr(i, 64), "\n");
  }
  absl::StrAppend(&out, "-----END ", label, "-----\n");
  return out;
}

bool PemHoldsPrivateKey(absl::string_view text) {
  return absl::StrContains(text, "PRIVATE KEY-----");
}

absl::StatusOr<std::vector<std::string>> PemBlocksDer(absl::string_view text,
                                                      absl::string_view label) {
  const std::string begin = absl::StrCat("-----BEGIN ", label, "-----");
  const std::string end = absl::StrCat("-----END ", label, "-----");
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = text.find(begin, pos)) != absl::string_view::npos) {
    const size_t body = pos + begin.size();
    const size_t body_end = text.find(end, body);
    if (body_end == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("PEM ", label, " block ", out.size() + 1, " has no END line"));
    }
    std::string base64;
    base64.reserve(body_end - body);
    for (char c : text.substr(body, body_end - body)) {
      if (!absl::ascii_isspace(static_cast<unsigned char>(c))) base64.push_back(c);
    }
    std::string der;
    if (!absl::Base64Unescape(base64, &der) || der.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("PEM ", label, " block ", out.size() + 1, " is not valid base64"));
    }
    out.push_back(std::move(der));
    pos = body_end + end.size();
  }
  return out;
}

}  // namespace certbridge::pki
