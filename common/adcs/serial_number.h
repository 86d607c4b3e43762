// Certificate serial numbers as text. certbridge stores and compares them in one form:
// upper-case hexadecimal without leading zeros ("3A0F…"); people and tools write them in
// others (openssl prints whole bytes with a leading zero, certutil and browsers use
// spaces or colons between bytes).
//
// The one home of the serial rule, used by the broker's revoke-by-serial, the emulator,
// the fake CA and the PKI code that reads serials out of certificates.
//
// Pure functions, thread-safe.
#ifndef CERTBRIDGE_COMMON_ADCS_SERIAL_NUMBER_H_
#define CERTBRIDGE_COMMON_ADCS_SERIAL_NUMBER_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace certbridge::adcs {

// RFC 5280 caps serials at 20 octets; with a separator between every byte that is 59
// characters. Longer input is refused before it is scanned.
inline constexpr size_t kMaxSerialNumberText = 64;

// "0a:1b:2c", "0A 1B 2C", "0a1b2c" -> "A1B2C"; "00" -> "0". INVALID_ARGUMENT naming the
// problem for empty text, a character that is not a hex digit, ':' or ' ', more than 20
// octets, or text longer than kMaxSerialNumberText.
absl::StatusOr<std::string> NormalizeSerialNumber(absl::string_view text);

}  // namespace certbridge::adcs

#endif  // CERTBRIDGE_COMMON_ADCS_SERIAL_NUMBER_H_
