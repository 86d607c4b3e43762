// adcs::IsValidSid against a plain restatement of its documented rule: "S-1-", an
// authority of 1 to 15 digits, then 1 to 15 sub-authorities of 1 to 10 digits, dash
// separated. (The documented bit widths, 48 and 32, are checked as digit counts only.)
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "common/adcs/sid.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

bool AllDigits(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Looser than the real rule on purpose where the rule is numeric (ranges): a SID the
// parser accepts must pass this; one it rejects may pass.
bool ShapeOk(absl::string_view sid) {
  std::vector<absl::string_view> parts = absl::StrSplit(sid, '-');
  if (parts.size() < 4 || parts.size() > 18) return false;
  if (parts[0] != "S" || parts[1] != "1") return false;
  if (parts[2].empty() || parts[2].size() > 15 || !AllDigits(parts[2])) return false;
  for (size_t i = 3; i < parts.size(); ++i) {
    if (parts[i].empty() || parts[i].size() > 10 || !AllDigits(parts[i])) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  if (certbridge::adcs::IsValidSid(input)) {
    FUZZ_CHECK(input.size() <= certbridge::adcs::kMaxSidLength);
    FUZZ_CHECK(ShapeOk(input));
  }
  return 0;
}
