#include "broker/service/ids.h"

#include "absl/strings/escaping.h"
#include "common/pki/pki.h"

namespace certbridge::broker {

std::string NewObjectId() {
  std::string b = pki::RandomBytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string hex = absl::BytesToHexString(b);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

}  // namespace certbridge::broker
