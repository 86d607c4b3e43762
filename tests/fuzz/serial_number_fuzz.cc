// adcs::NormalizeSerialNumber on arbitrary text. Properties: the result is upper-case hex
// without leading zeros (or "0"), at most 40 digits, and normalising it again changes
// nothing.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/adcs/serial_number.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::string> serial = certbridge::adcs::NormalizeSerialNumber(input);
  if (!serial.ok()) return 0;
  FUZZ_CHECK(!serial->empty() && serial->size() <= 40);
  FUZZ_CHECK(*serial == "0" || (*serial)[0] != '0');
  for (char c : *serial) FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'));
  absl::StatusOr<std::string> again = certbridge::adcs::NormalizeSerialNumber(*serial);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *serial);
  return 0;
}
