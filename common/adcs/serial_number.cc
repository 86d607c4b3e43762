#include "common/adcs/serial_number.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace certbridge::adcs {

absl::StatusOr<std::string> NormalizeSerialNumber(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.size() > kMaxSerialNumberText) {
    return absl::InvalidArgumentError(absl::StrCat("serial number is ", text.size(),
                                                   " characters; at most ",
                                                   kMaxSerialNumberText));
  }
  std::string hex;
  hex.reserve(text.size());
  for (char c : text) {
    if (c == ':' || c == ' ') continue;
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          "serial number must be hexadecimal (e.g. 3A0F1B or 3a:0f:1b)");
    }
    if (hex.empty() && c == '0') continue;  // leading zero
    hex.push_back(absl::ascii_toupper(static_cast<unsigned char>(c)));
  }
  if (hex.empty()) {
    if (text.find('0') == absl::string_view::npos) {
      return absl::InvalidArgumentError("serial number is empty");
    }
    return std::string("0");
  }
  if (hex.size() > 40) {
    return absl::InvalidArgumentError("serial number is longer than 20 octets (RFC 5280)");
  }
  return hex;
}

}  // namespace certbridge::adcs
