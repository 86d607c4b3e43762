#include "common/pki/pem.h"

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

}  // namespace certbridge::pki
