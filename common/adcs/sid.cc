#include "common/adcs/sid.h"

#include <cstdint>

#include "absl/strings/ascii.h"

namespace certbridge::adcs {
namespace {

// A run of 1..max_digits decimal digits at the front of `s` whose value fits in `limit`;
// consumes it.
bool ConsumeNumber(absl::string_view& s, size_t max_digits, uint64_t limit) {
  size_t n = 0;
  uint64_t value = 0;
  while (n < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[n]))) {
    if (++n > max_digits) return false;
    value = value * 10 + static_cast<uint64_t>(s[n - 1] - '0');
  }
  if (n == 0 || value > limit) return false;
  s.remove_prefix(n);
  return true;
}

}  // namespace

bool IsValidSid(absl::string_view sid) {
  if (sid.size() > kMaxSidLength) return false;
  if (sid.substr(0, 4) != "S-1-") return false;
  sid.remove_prefix(4);
  if (!ConsumeNumber(sid, 15, (uint64_t{1} << 48) - 1)) return false;
  int sub_authorities = 0;
  while (!sid.empty()) {
    if (sid.front() != '-') return false;
    sid.remove_prefix(1);
    if (!ConsumeNumber(sid, 10, 0xffffffffu)) return false;
    if (++sub_authorities > 15) return false;
  }
  return sub_authorities >= 1;
}

}  // namespace certbridge::adcs
