#include "common/pki/sid_extension.h"

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/adcs/sid.h"

namespace certbridge::pki {
namespace {

// DER of OID 1.3.6.1.4.1.311.25.2.1 (tag and length included).
constexpr char kOtherNameOidDer[] = "\x06\x0a\x2b\x06\x01\x04\x01\x82\x37\x19\x02\x01";
constexpr size_t kOtherNameOidDerLen = sizeof(kOtherNameOidDer) - 1;

std::string Tlv(uint8_t tag, absl::string_view content) {
  std::string out(1, static_cast<char>(tag));
  const size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<char>(n));
  } else if (n <= 0xff) {
    out.push_back('\x81');
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back('\x82');
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xff));
  }
  out.append(content.data(), content.size());
  return out;
}

// Reads one TLV with the expected tag from `in`, leaving the rest in `in`.
bool ReadTlv(absl::string_view& in, uint8_t tag, absl::string_view* content) {
  if (in.size() < 2 || static_cast<uint8_t>(in[0]) != tag) return false;
  size_t len = static_cast<uint8_t>(in[1]);
  size_t header = 2;
  if (len == 0x81) {
    if (in.size() < 3) return false;
    len = static_cast<uint8_t>(in[2]);
    header = 3;
  } else if (len == 0x82) {
    if (in.size() < 4) return false;
    len = (static_cast<size_t>(static_cast<uint8_t>(in[2])) << 8) | static_cast<uint8_t>(in[3]);
    header = 4;
  } else if (len >= 0x80) {
    return false;
  }
  if (in.size() - header < len) return false;
  *content = in.substr(header, len);
  in.remove_prefix(header + len);
  return true;
}

}  // namespace

absl::StatusOr<std::string> EncodeSidExtension(absl::string_view sid) {
  if (!adcs::IsValidSid(sid)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", sid, "\" is not a SID: expected S-1-<authority>-<sub-authorities>"));
  }
  const std::string value = Tlv(0xa0, Tlv(0x04, sid));
  const std::string other_name =
      Tlv(0xa0, absl::StrCat(absl::string_view(kOtherNameOidDer, kOtherNameOidDerLen), value));
  return Tlv(0x30, other_name);
}

absl::StatusOr<std::string> DecodeSidExtension(absl::string_view der) {
  const absl::Status bad = absl::InvalidArgumentError(
      "SID extension is not GeneralNames{otherName 1.3.6.1.4.1.311.25.2.1 [0] OCTET STRING}");
  absl::string_view in = der, names, other, value, sid;
  if (!ReadTlv(in, 0x30, &names) || !in.empty()) return bad;
  if (!ReadTlv(names, 0xa0, &other) || !names.empty()) return bad;
  if (other.substr(0, kOtherNameOidDerLen) !=
      absl::string_view(kOtherNameOidDer, kOtherNameOidDerLen)) {
    return bad;
  }
  other.remove_prefix(kOtherNameOidDerLen);
  if (!ReadTlv(other, 0xa0, &value) || !other.empty()) return bad;
  if (!ReadTlv(value, 0x04, &sid) || !value.empty()) return bad;
  if (!adcs::IsValidSid(sid)) return bad;
  return std::string(sid);
}

}  // namespace certbridge::pki
