// The CMS shared by both sides of SCEP: bounded reading, SCEP attributes, signing,
// enveloping and degenerate certificate bags.
#include "common/pki/scep_cms.h"

#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>

#include <cstring>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace certbridge::pki::internal {
namespace {

// A stack that does not own its certificates (the caller's handles outlive it).
struct BorrowedX509StackFree {
  void operator()(STACK_OF(X509)* s) const { sk_X509_free(s); }
};
using BorrowedX509Stack = std::unique_ptr<STACK_OF(X509), BorrowedX509StackFree>;
using Pkcs7Ptr = OpenSslPtr<PKCS7, PKCS7_free>;

// RFC 8894 section 3.5.2: AES-128-CBC is mandatory; 3DES-CBC is what pre-AES clients
// (and NDES) speak. RC2, GCM and the rest are refused (failInfo badAlg). Single DES is read
// but never written: see ReadsLegacyDes.
const EVP_CIPHER* AcceptedCipher(int nid) {
  switch (nid) {
    case NID_aes_128_cbc:
      return EVP_aes_128_cbc();
    case NID_aes_192_cbc:
      return EVP_aes_192_cbc();
    case NID_aes_256_cbc:
      return EVP_aes_256_cbc();
    case NID_des_ede3_cbc:
      return EVP_des_ede3_cbc();
    default:
      return nullptr;
  }
}

// Single DES-CBC is what micromdm's scepclient 2.1.0 (Debian's `scep`, much of the Apple
// MDM tooling) envelopes with, whatever GetCACaps says. OpenSSL 3 keeps DES in its legacy
// provider; it is loaded into a library context of its own, used only to open such an
// envelope, so nothing else in the process can pick DES by accident. The envelope carries
// the CSR (public) and the challenge (single use); replies always use AES.
bool ReadsLegacyDes(int nid) { return nid == NID_des_cbc; }

OSSL_LIB_CTX* LegacyDesContext() {
  static OSSL_LIB_CTX* const context = [] {
    OSSL_LIB_CTX* created = OSSL_LIB_CTX_new();
    if (created != nullptr && (OSSL_PROVIDER_load(created, "default") == nullptr ||
                               OSSL_PROVIDER_load(created, "legacy") == nullptr)) {
      OSSL_LIB_CTX_free(created);
      created = nullptr;
    }
    ERR_clear_error();
    return created;
  }();
  return context;
}

}  // namespace

BioPtr ContentBio(absl::string_view data) {
  if (!data.empty()) return ReadBio(data);
  BioPtr empty(BIO_new(BIO_s_mem()));
  // An empty memory BIO reports "retry later" by default; CMS must see end of data.
  if (empty != nullptr) BIO_set_mem_eof_return(empty.get(), 0);
  return empty;
}

namespace {

absl::StatusOr<const ASN1_TYPE*> OneSignedAttribute(CMS_SignerInfo* signer, const char* oid,
                                                    absl::string_view name) {
  Asn1ObjectPtr object(OBJ_txt2obj(oid, 1));
  if (object == nullptr) return OpenSslInternalError(absl::StrCat("OID of ", name));
  const int index = CMS_signed_get_attr_by_OBJ(signer, object.get(), -1);
  if (index < 0) {
    return absl::InvalidArgumentError(absl::StrCat("SCEP message has no ", name, " attribute"));
  }
  if (CMS_signed_get_attr_by_OBJ(signer, object.get(), index) >= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("SCEP message has the ", name, " attribute more than once"));
  }
  X509_ATTRIBUTE* attribute = CMS_signed_get_attr(signer, index);
  if (attribute == nullptr || X509_ATTRIBUTE_count(attribute) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("SCEP message's ", name, " attribute must have exactly one value"));
  }
  const ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(attribute, 0);
  if (value == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("SCEP message's ", name, " has no value"));
  }
  return value;
}

}  // namespace

absl::StatusOr<CmsPtr> ReadCmsDer(absl::string_view der, absl::string_view what) {
  if (der.size() > kMaxScepMessageBytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is ", der.size(),
                                                   " bytes; at most ", kMaxScepMessageBytes,
                                                   " are accepted"));
  }
  if (der.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
  if (cms == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is not a DER CMS/PKCS#7 ContentInfo: ", TakeOpenSslError()));
  }
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has bytes after its ContentInfo"));
  }
  return cms;
}

std::string CmsToDer(CMS_ContentInfo* cms) {
  unsigned char* buf = nullptr;
  const int len = i2d_CMS_ContentInfo(cms, &buf);
  if (len <= 0) return "";
  std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
  OPENSSL_free(buf);
  return out;
}

absl::StatusOr<std::string> SignedStringAttribute(CMS_SignerInfo* signer, const char* oid,
                                                  absl::string_view name) {
  absl::StatusOr<const ASN1_TYPE*> value = OneSignedAttribute(signer, oid, name);
  if (!value.ok()) return value.status();
  const int type = ASN1_TYPE_get(*value);
  if (type != V_ASN1_PRINTABLESTRING && type != V_ASN1_UTF8STRING &&
      type != V_ASN1_IA5STRING) {
    return absl::InvalidArgumentError(
        absl::StrCat("SCEP message's ", name, " must be a PrintableString"));
  }
  const ASN1_STRING* s = (*value)->value.asn1_string;
  const size_t len = static_cast<size_t>(ASN1_STRING_length(s));
  if (len == 0 || len > kMaxTransactionIdChars) {
    return absl::InvalidArgumentError(absl::StrCat("SCEP message's ", name, " is ", len,
                                                   " characters; 1 to ",
                                                   kMaxTransactionIdChars, " are accepted"));
  }
  std::string out(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), len);
  for (char c : out) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrCat("SCEP message's ", name, " holds a non-printable character"));
    }
  }
  return out;
}

absl::StatusOr<std::string> SignedOctetAttribute(CMS_SignerInfo* signer, const char* oid,
                                                 absl::string_view name) {
  absl::StatusOr<const ASN1_TYPE*> value = OneSignedAttribute(signer, oid, name);
  if (!value.ok()) return value.status();
  if (ASN1_TYPE_get(*value) != V_ASN1_OCTET_STRING) {
    return absl::InvalidArgumentError(
        absl::StrCat("SCEP message's ", name, " must be an OCTET STRING"));
  }
  const ASN1_STRING* s = (*value)->value.octet_string;
  const size_t len = static_cast<size_t>(ASN1_STRING_length(s));
  if (len == 0 || len > kMaxNonceBytes) {
    return absl::InvalidArgumentError(absl::StrCat("SCEP message's ", name, " is ", len,
                                                   " bytes; 1 to ", kMaxNonceBytes,
                                                   " are accepted"));
  }
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), len);
}

absl::StatusOr<int> SignedNumberAttribute(CMS_SignerInfo* signer, const char* oid,
                                          absl::string_view name) {
  absl::StatusOr<std::string> text = SignedStringAttribute(signer, oid, name);
  if (!text.ok()) return text.status();
  int value = 0;
  if (text->size() > 3 || !absl::SimpleAtoi(*text, &value) || value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("SCEP message's ", name, " \"", *text, "\" is not a small number"));
  }
  return value;
}

absl::StatusOr<std::string> SignScepMessage(absl::string_view content, X509* signer_cert,
                                            EVP_PKEY* signer_key,
                                            const std::vector<ScepAttribute>& attributes) {
  // A CertRep without pkcsPKIEnvelope (PENDING, FAILURE) still carries its eContent, empty,
  // rather than being a detached signature: certmonger's scep-submit verifies with
  // PKCS7_verify and no detached data, and refuses a CertRep without content ("PKCS7
  // routines::no content"); tests/broker/scep/scep_certmonger_front_end_test shows it.
  const unsigned int flags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
  CmsPtr cms(CMS_sign(nullptr, nullptr, nullptr, nullptr, flags));
  if (cms == nullptr) return OpenSslInternalError("SCEP SignedData");
  CMS_SignerInfo* signer =
      CMS_add1_signer(cms.get(), signer_cert, signer_key, EVP_sha256(), flags);
  if (signer == nullptr) return OpenSslInternalError("SCEP signer");
  for (const ScepAttribute& attribute : attributes) {
    Asn1ObjectPtr object(OBJ_txt2obj(attribute.oid, 1));
    if (object == nullptr ||
        !CMS_signed_add1_attr_by_OBJ(
            signer, object.get(),
            attribute.octets ? V_ASN1_OCTET_STRING : V_ASN1_PRINTABLESTRING,
            attribute.value.data(), static_cast<int>(attribute.value.size()))) {
      return OpenSslInternalError(absl::StrCat("SCEP attribute ", attribute.oid));
    }
  }
  BioPtr in = ContentBio(content);
  if (in == nullptr || !CMS_final(cms.get(), in.get(), nullptr, flags)) {
    return OpenSslInternalError("signing SCEP message");
  }
  std::string der = CmsToDer(cms.get());
  if (der.empty()) return OpenSslInternalError("encoding SCEP message");
  return der;
}

absl::StatusOr<std::string> EnvelopeFor(absl::string_view content, X509* recipient,
                                        absl::string_view cipher_name) {
  const EVP_CIPHER* cipher = nullptr;
  {
    const std::string name(cipher_name);
    const EVP_CIPHER* named = EVP_get_cipherbyname(name.c_str());
    if (named != nullptr) cipher = AcceptedCipher(EVP_CIPHER_get_nid(named));
  }
  if (cipher == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("content cipher \"", cipher_name,
                     "\" is not accepted (AES-128-CBC, AES-192-CBC, AES-256-CBC, DES-EDE3-CBC)"));
  }
  BorrowedX509Stack recipients(sk_X509_new_null());
  if (recipients == nullptr || !sk_X509_push(recipients.get(), recipient)) {
    return OpenSslInternalError("SCEP recipients");
  }
  BioPtr in = ContentBio(content);
  CmsPtr cms(CMS_encrypt(recipients.get(), in.get(), cipher, CMS_BINARY));
  if (cms == nullptr) return OpenSslInternalError("enveloping SCEP content");
  std::string der = CmsToDer(cms.get());
  if (der.empty()) return OpenSslInternalError("encoding SCEP envelope");
  return der;
}

absl::StatusOr<std::string> OpenEnvelope(absl::string_view envelope_der, X509* cert,
                                         EVP_PKEY* key, std::string* cipher_name,
                                         bool* bad_algorithm) {
  *bad_algorithm = false;
  absl::StatusOr<CmsPtr> cms = ReadCmsDer(envelope_der, "SCEP envelope");
  if (!cms.ok()) return cms.status();
  if (OBJ_obj2nid(CMS_get0_type(cms->get())) != NID_pkcs7_enveloped) {
    return absl::InvalidArgumentError("SCEP message content is not an EnvelopedData");
  }
  // OpenSSL 3.0's CMS API has no getter for the content cipher; the PKCS#7 view of the
  // same bytes has it.
  const unsigned char* p = reinterpret_cast<const unsigned char*>(envelope_der.data());
  Pkcs7Ptr p7(d2i_PKCS7(nullptr, &p, static_cast<long>(envelope_der.size())));
  if (p7 == nullptr || !PKCS7_type_is_enveloped(p7.get()) || p7->d.enveloped == nullptr ||
      p7->d.enveloped->enc_data == nullptr || p7->d.enveloped->enc_data->algorithm == nullptr) {
    TakeOpenSslError();
    return absl::InvalidArgumentError("SCEP envelope has no content encryption algorithm");
  }
  const int nid = OBJ_obj2nid(p7->d.enveloped->enc_data->algorithm->algorithm);
  if (ReadsLegacyDes(nid) && LegacyDesContext() != nullptr) {
    // Re-read the envelope into the legacy context (d2i into an object made with _ex keeps
    // its library context).
    CMS_ContentInfo* in_legacy = CMS_ContentInfo_new_ex(LegacyDesContext(), nullptr);
    const unsigned char* q = reinterpret_cast<const unsigned char*>(envelope_der.data());
    if (in_legacy == nullptr ||
        d2i_CMS_ContentInfo(&in_legacy, &q, static_cast<long>(envelope_der.size())) == nullptr) {
      CMS_ContentInfo_free(in_legacy);
      return absl::InvalidArgumentError(
          absl::StrCat("SCEP envelope (DES-CBC) does not parse: ", TakeOpenSslError()));
    }
    cms->reset(in_legacy);
  } else if (AcceptedCipher(nid) == nullptr) {
    *bad_algorithm = true;
    char oid[80] = "";
    OBJ_obj2txt(oid, sizeof oid, p7->d.enveloped->enc_data->algorithm->algorithm, 0);
    return absl::InvalidArgumentError(absl::StrCat(
        "SCEP envelope uses content cipher ", oid,
        "; accepted: AES-128/192/256-CBC, DES-EDE3-CBC, DES-CBC (GetCACaps advertises AES)"));
  }
  BioPtr out(BIO_new(BIO_s_mem()));
  if (out == nullptr ||
      !CMS_decrypt(cms->get(), key, cert, nullptr, out.get(), CMS_BINARY)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SCEP envelope does not decrypt with the RA key (not enveloped to the RA certificate "
        "from GetCACert?): ",
        TakeOpenSslError()));
  }
  *cipher_name = OBJ_nid2sn(nid);
  return BioContents(out.get());
}

absl::StatusOr<std::string> DegenerateCertificates(const std::vector<X509*>& certs) {
  Pkcs7Ptr p7(PKCS7_new());
  if (p7 == nullptr || !PKCS7_set_type(p7.get(), NID_pkcs7_signed)) {
    return OpenSslInternalError("degenerate PKCS#7");
  }
  // As `openssl crl2pkcs7` writes it: content type id-data, content absent, no signers.
  ASN1_OBJECT_free(p7->d.sign->contents->type);
  p7->d.sign->contents->type = OBJ_nid2obj(NID_pkcs7_data);
  for (X509* cert : certs) {
    if (!PKCS7_add_certificate(p7.get(), cert)) {
      return OpenSslInternalError("degenerate PKCS#7 certificate");
    }
  }
  unsigned char* buf = nullptr;
  const int len = i2d_PKCS7(p7.get(), &buf);
  if (len <= 0) return OpenSslInternalError("encoding degenerate PKCS#7");
  std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
  OPENSSL_free(buf);
  return out;
}

}  // namespace certbridge::pki::internal
