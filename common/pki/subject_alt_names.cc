#include "common/pki/subject_alt_names.h"

#include <arpa/inet.h>

#include <openssl/objects.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace certbridge::pki {

absl::string_view SanTypeName(SubjectAltName::Type type) {
  switch (type) {
    case SubjectAltName::Type::kDns:
      return "dns";
    case SubjectAltName::Type::kEmail:
      return "email";
    case SubjectAltName::Type::kUri:
      return "uri";
    case SubjectAltName::Type::kIp:
      return "ip";
    case SubjectAltName::Type::kUpn:
      return "upn";
  }
  return "unknown";
}

namespace internal {
namespace {

constexpr char kUpnOid[] = "1.3.6.1.4.1.311.20.2.3";

absl::Status SanError(const SubjectAltName& san, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("SAN ", SanTypeName(san.type), " \"",
                                                 absl::CHexEscape(san.value), "\": ", problem));
}

bool IsPlainAscii(absl::string_view s) {
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
  }
  return true;
}

absl::StatusOr<GeneralNamePtr> EncodeOne(const SubjectAltName& san) {
  if (san.value.empty()) return SanError(san, "empty value");
  GeneralNamePtr name(GENERAL_NAME_new());
  if (name == nullptr) return OpenSslInternalError("GENERAL_NAME_new");
  switch (san.type) {
    case SubjectAltName::Type::kDns:
    case SubjectAltName::Type::kEmail:
    case SubjectAltName::Type::kUri: {
      if (!IsPlainAscii(san.value)) {
        return SanError(san, "must be ASCII without spaces or control characters");
      }
      if (san.type == SubjectAltName::Type::kEmail && !absl::StrContains(san.value, '@')) {
        return SanError(san, "expected user@domain");
      }
      if (san.type == SubjectAltName::Type::kUri && !absl::StrContains(san.value, ':')) {
        return SanError(san, "expected an absolute URI (scheme:...)");
      }
      Asn1StringPtr ia5(ASN1_IA5STRING_new());
      if (ia5 == nullptr ||
          !ASN1_STRING_set(ia5.get(), san.value.data(), static_cast<int>(san.value.size()))) {
        return OpenSslInternalError("SAN IA5String");
      }
      int gen_type = san.type == SubjectAltName::Type::kDns     ? GEN_DNS
                     : san.type == SubjectAltName::Type::kEmail ? GEN_EMAIL
                                                                : GEN_URI;
      GENERAL_NAME_set0_value(name.get(), gen_type, ia5.release());
      return name;
    }
    case SubjectAltName::Type::kIp: {
      Asn1OctetStringPtr ip(a2i_IPADDRESS(san.value.c_str()));
      if (ip == nullptr) {
        TakeOpenSslError();
        return SanError(san, "not an IPv4 or IPv6 address");
      }
      GENERAL_NAME_set0_value(name.get(), GEN_IPADD, ip.release());
      return name;
    }
    case SubjectAltName::Type::kUpn: {
      for (char c : san.value) {
        const unsigned char u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) return SanError(san, "contains a control character");
      }
      Asn1StringPtr utf8(ASN1_UTF8STRING_new());
      Asn1TypePtr value(ASN1_TYPE_new());
      Asn1ObjectPtr oid(OBJ_txt2obj(kUpnOid, 1));
      if (utf8 == nullptr || value == nullptr || oid == nullptr) {
        return OpenSslInternalError("SAN upn");
      }
      ASN1_STRING* checked = nullptr;
      if (ASN1_mbstring_copy(&checked, reinterpret_cast<const unsigned char*>(san.value.data()),
                             static_cast<int>(san.value.size()), MBSTRING_UTF8,
                             B_ASN1_UTF8STRING) < 0) {
        TakeOpenSslError();
        return SanError(san, "not valid UTF-8");
      }
      utf8.reset(checked);
      ASN1_TYPE_set(value.get(), V_ASN1_UTF8STRING, utf8.release());
      if (!GENERAL_NAME_set0_othername(name.get(), oid.get(), value.get())) {
        return OpenSslInternalError("SAN upn");
      }
      oid.release();
      value.release();
      return name;
    }
  }
  return SanError(san, "unknown SAN type");
}

std::string IpToText(const ASN1_OCTET_STRING* ip) {
  const unsigned char* data = ASN1_STRING_get0_data(ip);
  int len = ASN1_STRING_length(ip);
  char buf[INET6_ADDRSTRLEN] = {0};
  if (len == 4 && inet_ntop(AF_INET, data, buf, sizeof(buf)) != nullptr) return buf;
  if (len == 16 && inet_ntop(AF_INET6, data, buf, sizeof(buf)) != nullptr) return buf;
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(data), static_cast<size_t>(len)));
}

std::string StringOf(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

}  // namespace

absl::StatusOr<GeneralNamesPtr> EncodeSubjectAltNames(const std::vector<SubjectAltName>& sans) {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  if (names == nullptr) return OpenSslInternalError("GENERAL_NAMES_new");
  for (const SubjectAltName& san : sans) {
    absl::StatusOr<GeneralNamePtr> one = EncodeOne(san);
    if (!one.ok()) return one.status();
    if (!sk_GENERAL_NAME_push(names.get(), one->get())) {
      return OpenSslInternalError("GENERAL_NAMES push");
    }
    one->release();
  }
  return names;
}

std::vector<SubjectAltName> DecodeSubjectAltNames(const GENERAL_NAMES* names) {
  std::vector<SubjectAltName> out;
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    switch (name->type) {
      case GEN_DNS:
        out.push_back({SubjectAltName::Type::kDns, StringOf(name->d.dNSName)});
        break;
      case GEN_EMAIL:
        out.push_back({SubjectAltName::Type::kEmail, StringOf(name->d.rfc822Name)});
        break;
      case GEN_URI:
        out.push_back({SubjectAltName::Type::kUri, StringOf(name->d.uniformResourceIdentifier)});
        break;
      case GEN_IPADD:
        out.push_back({SubjectAltName::Type::kIp, IpToText(name->d.iPAddress)});
        break;
      case GEN_OTHERNAME: {
        const OTHERNAME* other = name->d.otherName;
        if (OBJ_obj2nid(other->type_id) == NID_ms_upn && other->value != nullptr &&
            other->value->type == V_ASN1_UTF8STRING) {
          out.push_back({SubjectAltName::Type::kUpn, StringOf(other->value->value.utf8string)});
        }
        break;
      }
      default:
        break;
    }
  }
  return out;
}

}  // namespace internal
}  // namespace certbridge::pki
