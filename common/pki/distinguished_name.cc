#include "common/pki/distinguished_name.h"

#include <algorithm>
#include <vector>

#include <openssl/objects.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace certbridge::pki::internal {
namespace {

struct AttributeName {
  const char* name;
  int nid;
};

constexpr size_t kMaxOidText = 64;

// The attribute types certbridge accepts by name. OpenSSL prints NID_userId as "UID",
// NID_serialNumber as "serialNumber" and NID_pkcs9_emailAddress as "emailAddress"; all
// of those parse back.
constexpr AttributeName kAttributeNames[] = {
    {"CN", NID_commonName},
    {"O", NID_organizationName},
    {"OU", NID_organizationalUnitName},
    {"L", NID_localityName},
    {"ST", NID_stateOrProvinceName},
    {"C", NID_countryName},
    {"DC", NID_domainComponent},
    {"E", NID_pkcs9_emailAddress},
    {"EMAILADDRESS", NID_pkcs9_emailAddress},
    {"SERIALNUMBER", NID_serialNumber},
    {"UID", NID_userId},
};

struct Attribute {
  std::string type_text;
  Asn1ObjectPtr type;
  std::string value;
  bool ber = false;  // value is the BER encoding given as #hex
};

bool IsHexDigit(char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a' + 10;
}

bool IsDottedOid(absl::string_view s) {
  if (s.empty()) return false;
  for (absl::string_view arc : absl::StrSplit(s, '.')) {
    if (arc.empty()) return false;
    for (char c : arc) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
    }
  }
  return true;
}

class Parser {
 public:
  Parser(absl::string_view text, absl::string_view what) : text_(text), what_(what) {}

  absl::StatusOr<std::vector<std::vector<Attribute>>> Parse() {
    std::vector<std::vector<Attribute>> rdns;
    SkipSpaces();
    if (AtEnd()) return rdns;
    rdns.emplace_back();
    while (true) {
      absl::StatusOr<Attribute> attribute = ParseAttribute();
      if (!attribute.ok()) return attribute.status();
      rdns.back().push_back(*std::move(attribute));
      if (AtEnd()) break;
      char separator = text_[pos_++];
      if (separator == ',') rdns.emplace_back();
      SkipSpaces();
      if (AtEnd()) {
        return Error(absl::StrCat("missing attribute after '", std::string(1, separator),
                                  "' at position ", pos_ - 1));
      }
    }
    return rdns;
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  void SkipSpaces() {
    while (!AtEnd() && text_[pos_] == ' ') ++pos_;
  }
  absl::Status Error(absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(what_, ": ", message));
  }

  absl::StatusOr<Attribute> ParseAttribute() {
    Attribute attribute;
    size_t start = pos_;
    while (!AtEnd() && text_[pos_] != '=' && text_[pos_] != ',' && text_[pos_] != '+') ++pos_;
    std::string type(absl::StripTrailingAsciiWhitespace(text_.substr(start, pos_ - start)));
    if (AtEnd() || text_[pos_] != '=') {
      if (type.empty()) return Error(absl::StrCat("missing attribute type at position ", start));
      return Error(absl::StrCat("expected '=' after attribute type \"", type,
                                "\" at position ", pos_));
    }
    if (type.empty()) return Error(absl::StrCat("missing attribute type at position ", start));
    ++pos_;  // '='
    absl::StatusOr<Asn1ObjectPtr> object = ResolveType(type);
    if (!object.ok()) return object.status();
    attribute.type_text = type;
    attribute.type = *std::move(object);

    SkipSpaces();
    if (!AtEnd() && text_[pos_] == '#') {
      absl::Status status = ParseHexValue(attribute);
      if (!status.ok()) return status;
    } else {
      absl::Status status = ParseStringValue(attribute);
      if (!status.ok()) return status;
    }
    return attribute;
  }

  absl::StatusOr<Asn1ObjectPtr> ResolveType(absl::string_view type) const {
    for (const AttributeName& known : kAttributeNames) {
      if (absl::EqualsIgnoreCase(type, known.name)) {
        return Asn1ObjectPtr(OBJ_nid2obj(known.nid));
      }
    }
    absl::string_view oid = type;
    if (absl::StartsWithIgnoreCase(oid, "OID.")) oid.remove_prefix(4);
    if (IsDottedOid(oid)) {
      // OpenSSL prints at most 79 characters of a type (X509_NAME_print_ex), so a longer
      // OID could not be read back from the canonical form (found by the subject fuzzer).
      if (oid.size() > kMaxOidText) {
        return Error(absl::StrCat("attribute type OID is longer than ", kMaxOidText,
                                  " characters"));
      }
      Asn1ObjectPtr object(OBJ_txt2obj(std::string(oid).c_str(), /*no_name=*/1));
      if (object != nullptr) return object;
      TakeOpenSslError();
      return Error(absl::StrCat("attribute type \"", type, "\" is not a valid OID"));
    }
    return Error(absl::StrCat("attribute type \"", type,
                              "\" unknown (use CN, O, OU, L, ST, C, DC, E, SERIALNUMBER, "
                              "UID or a dotted OID)"));
  }

  absl::Status ParseHexValue(Attribute& attribute) {
    size_t start = pos_++;
    size_t hex_start = pos_;
    while (!AtEnd() && IsHexDigit(text_[pos_])) ++pos_;
    absl::string_view hex = text_.substr(hex_start, pos_ - hex_start);
    SkipSpaces();
    if (!AtEnd() && text_[pos_] != ',' && text_[pos_] != '+') {
      return Error(absl::StrCat("invalid character '", std::string(1, text_[pos_]),
                                "' in #hex value of ", attribute.type_text, " at position ",
                                pos_));
    }
    if (hex.empty() || hex.size() % 2 != 0) {
      return Error(absl::StrCat("#hex value of ", attribute.type_text, " at position ", start,
                                " needs an even, non-zero number of hex digits"));
    }
    attribute.value = absl::HexStringToBytes(hex);
    attribute.ber = true;
    return absl::OkStatus();
  }

  absl::Status ParseStringValue(Attribute& attribute) {
    std::string& value = attribute.value;
    // Unescaped trailing spaces are not part of the value; escaped ones are.
    size_t significant = 0;
    while (!AtEnd()) {
      char c = text_[pos_];
      if (c == ',' || c == '+') break;
      if (c == '\\') {
        size_t escape_at = pos_;
        if (pos_ + 1 >= text_.size()) {
          return Error(absl::StrCat("unterminated escape at position ", escape_at));
        }
        char next = text_[pos_ + 1];
        if (IsHexDigit(next)) {
          if (pos_ + 2 >= text_.size() || !IsHexDigit(text_[pos_ + 2])) {
            return Error(absl::StrCat("escape at position ", escape_at,
                                      " needs two hex digits (\\XX)"));
          }
          value.push_back(static_cast<char>(HexValue(next) * 16 + HexValue(text_[pos_ + 2])));
          pos_ += 3;
        } else if (absl::string_view(" \"#+,;<=>\\").find(next) != absl::string_view::npos) {
          value.push_back(next);
          pos_ += 2;
        } else {
          return Error(absl::StrCat("invalid escape \"\\", std::string(1, next),
                                    "\" at position ", escape_at,
                                    " (escape one of: space \" # + , ; < = > \\ or a hex pair)"));
        }
        significant = value.size();
        continue;
      }
      if (c == '"' || c == ';' || c == '<' || c == '>' || c == '\0') {
        std::string shown = c == '\0' ? "NUL" : std::string(1, c);
        return Error(absl::StrCat("character '", shown, "' at position ", pos_,
                                  " must be escaped (write \\", c == '\0' ? "00" : shown, ")"));
      }
      value.push_back(c);
      ++pos_;
      if (c != ' ') significant = value.size();
    }
    value.resize(significant);
    if (value.empty()) {
      return Error(absl::StrCat("attribute ", attribute.type_text, " has an empty value"));
    }
    return absl::OkStatus();
  }

  absl::string_view text_;
  absl::string_view what_;
  size_t pos_ = 0;
};

absl::Status AddAttribute(X509_NAME* name, const Attribute& attribute, bool join_previous,
                          absl::string_view what) {
  int set = join_previous ? -1 : 0;
  if (attribute.ber) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(attribute.value.data());
    Asn1TypePtr parsed(d2i_ASN1_TYPE(nullptr, &p, static_cast<long>(attribute.value.size())));
    bool complete =
        parsed != nullptr &&
        p == reinterpret_cast<const unsigned char*>(attribute.value.data()) + attribute.value.size();
    int type = parsed != nullptr ? parsed->type : -1;
    bool is_string = type == V_ASN1_UTF8STRING || type == V_ASN1_PRINTABLESTRING ||
                     type == V_ASN1_IA5STRING || type == V_ASN1_T61STRING ||
                     type == V_ASN1_BMPSTRING || type == V_ASN1_UNIVERSALSTRING;
    if (!complete || !is_string) {
      TakeOpenSslError();
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": #hex value of ", attribute.type_text, " is not a DER-encoded string"));
    }
    const ASN1_STRING* s = parsed->value.asn1_string;
    if (!X509_NAME_add_entry_by_OBJ(name, attribute.type.get(), type, ASN1_STRING_get0_data(s),
                                    ASN1_STRING_length(s), -1, set)) {
      return OpenSslInternalError(absl::StrCat(what, ": adding ", attribute.type_text));
    }
    return absl::OkStatus();
  }
  if (!X509_NAME_add_entry_by_OBJ(
          name, attribute.type.get(), MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(attribute.value.data()),
          static_cast<int>(attribute.value.size()), -1, set)) {
    std::string reason = TakeOpenSslError();
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": value \"", absl::CHexEscape(attribute.value), "\" is not valid for ",
        attribute.type_text, " (", reason,
        "; C takes a 2-letter country code, DC and E take ASCII, SERIALNUMBER takes "
        "letters, digits and ' ()+,-./:=?)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<X509NamePtr> ParseDistinguishedName(absl::string_view text,
                                                   absl::string_view what) {
  Parser parser(text, what);
  absl::StatusOr<std::vector<std::vector<Attribute>>> rdns = parser.Parse();
  if (!rdns.ok()) return rdns.status();
  X509NamePtr name(X509_NAME_new());
  if (name == nullptr) return OpenSslInternalError("X509_NAME_new");
  // RFC 4514 lists the most specific RDN first; the encoding starts at the root.
  for (auto rdn = rdns->rbegin(); rdn != rdns->rend(); ++rdn) {
    for (size_t i = 0; i < rdn->size(); ++i) {
      absl::Status status = AddAttribute(name.get(), (*rdn)[i], /*join_previous=*/i > 0, what);
      if (!status.ok()) return status;
    }
  }
  return name;
}

namespace {

// Makes OpenSSL's RFC 2253 text read back through our parser unchanged (found by
// tests/fuzz/subject_fuzz.cc):
// - a value that is a lone '#' is printed "O=#", which reads back as an (empty) hex value;
//   RFC 4514 requires "\\#" there. A dotted-OID type's "#hex" is OpenSSL's deliberate DER
//   dump and stays.
// - a type OpenSSL knows by a name we do not accept ("X500" for 2.5) is printed as its
//   dotted OID, which we do.
std::string MakeParseable(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 4);
  std::string type;
  bool in_type = true;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_type) {
      if (c != '=') {
        type.push_back(c);
        continue;
      }
      const bool numeric = !type.empty() && std::all_of(type.begin(), type.end(), [](char t) {
        return absl::ascii_isdigit(static_cast<unsigned char>(t)) || t == '.';
      });
      bool accepted = numeric;
      for (const AttributeName& known : kAttributeNames) {
        accepted = accepted || absl::EqualsIgnoreCase(type, known.name);
      }
      if (!accepted) {
        char oid[128];
        const ASN1_OBJECT* object = OBJ_nid2obj(OBJ_txt2nid(type.c_str()));
        if (object != nullptr && OBJ_obj2txt(oid, sizeof(oid), object, /*no_name=*/1) > 0) {
          type = oid;
        }
      }
      absl::StrAppend(&out, type, "=");
      if (i + 1 < text.size() && text[i + 1] == '#' && !numeric) out.push_back('\\');
      type.clear();
      in_type = false;
      continue;
    }
    if (c == '\\' && i + 1 < text.size()) {
      out.push_back(c);
      out.push_back(text[++i]);
      continue;
    }
    if (c == ',' || c == '+') in_type = true;
    out.push_back(c);
  }
  out.append(type);
  return out;
}

}  // namespace

std::string FormatDistinguishedName(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  // RFC 2253 flags minus ESC_MSB: UTF-8 stays UTF-8 instead of \C3\BC escapes.
  constexpr unsigned long kFlags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
  if (X509_NAME_print_ex(bio.get(), name, 0, kFlags) < 0) {
    TakeOpenSslError();
    return "";
  }
  return MakeParseable(BioContents(bio.get()));
}

}  // namespace certbridge::pki::internal
