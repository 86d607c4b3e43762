// The RA side of SCEP (RFC 8894): opening a device's pkiMessage, CertRep, GetCACert.
#include "common/pki/scep_message.h"

#include <openssl/pkcs7.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/pki/certificate_request.h"
#include "common/pki/pki.h"
#include "common/pki/scep_cms.h"

namespace certbridge::pki {

using internal::BioPtr;
using internal::CmsPtr;
using internal::X509Ptr;
using internal::X509StackPtr;

namespace {

// Longest challengePassword read (PKCS#9 ub-challengePassword is 255).
constexpr int kMaxChallengePasswordChars = 255;

struct LoadedRa {
  X509Ptr certificate;
  PrivateKey key;
};

absl::StatusOr<LoadedRa> LoadRa(const ScepRaCredentials& ra) {
  absl::StatusOr<X509Ptr> cert = internal::LoadCertificate(ra.certificate_pem, "RA certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(ra.private_key_pem);
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("RA key: ", key.status().message()));
  }
  if (X509_check_private_key(cert->get(), static_cast<EVP_PKEY*>(key->native())) != 1) {
    internal::TakeOpenSslError();
    return absl::InvalidArgumentError("RA key does not belong to the RA certificate");
  }
  return LoadedRa{std::move(*cert), std::move(*key)};
}

// The challengePassword attribute of a PKCS#10 as UTF-8, "" when absent.
absl::StatusOr<std::string> ChallengePasswordOf(X509_REQ* request) {
  const int index = X509_REQ_get_attr_by_NID(request, NID_pkcs9_challengePassword, -1);
  if (index < 0) return std::string();
  if (X509_REQ_get_attr_by_NID(request, NID_pkcs9_challengePassword, index) >= 0) {
    return absl::InvalidArgumentError("CSR has the challengePassword attribute more than once");
  }
  X509_ATTRIBUTE* attribute = X509_REQ_get_attr(request, index);
  const ASN1_TYPE* value =
      X509_ATTRIBUTE_count(attribute) == 1 ? X509_ATTRIBUTE_get0_type(attribute, 0) : nullptr;
  if (value == nullptr || value->type == V_ASN1_SEQUENCE || value->type == V_ASN1_SET ||
      value->type == V_ASN1_OCTET_STRING || value->value.asn1_string == nullptr ||
      ASN1_STRING_length(value->value.asn1_string) > kMaxChallengePasswordChars) {
    return absl::InvalidArgumentError(
        "CSR's challengePassword must be one DirectoryString of at most 255 characters");
  }
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, value->value.asn1_string);
  if (len < 0) {
    internal::TakeOpenSslError();
    return absl::InvalidArgumentError("CSR's challengePassword is not a character string");
  }
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

// IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name } (RFC 8894 section 3.3.3).
absl::Status ReadIssuerAndSubject(absl::string_view der, ScepRequest& request) {
  const auto* begin = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = begin;
  long len = 0;
  int tag = 0;
  int xclass = 0;
  const int flags = ASN1_get_object(&p, &len, &tag, &xclass, static_cast<long>(der.size()));
  if ((flags & 0x80) != 0 || flags != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE ||
      xclass != V_ASN1_UNIVERSAL || p + len != begin + der.size()) {
    internal::TakeOpenSslError();
    return absl::InvalidArgumentError("CertPoll content is not a DER IssuerAndSubject");
  }
  const unsigned char* end = p + len;
  const unsigned char* issuer_start = p;
  internal::X509NamePtr issuer(d2i_X509_NAME(nullptr, &p, end - p));
  const unsigned char* subject_start = p;
  internal::X509NamePtr subject(issuer == nullptr ? nullptr
                                                  : d2i_X509_NAME(nullptr, &p, end - p));
  if (subject == nullptr || p != end) {
    internal::TakeOpenSslError();
    return absl::InvalidArgumentError("CertPoll content's issuer or subject is not a Name");
  }
  request.poll_issuer_name_der.assign(reinterpret_cast<const char*>(issuer_start),
                                      static_cast<size_t>(subject_start - issuer_start));
  request.poll_subject_name_der.assign(reinterpret_cast<const char*>(subject_start),
                                       static_cast<size_t>(end - subject_start));
  return absl::OkStatus();
}

// Verifies the signature and decrypts the envelope; fills the content fields or
// content_status/content_fail_info.
void OpenContent(CMS_ContentInfo* cms, const LoadedRa& ra,
                 ScepRequest& request) {
  BioPtr signed_content(BIO_new(BIO_s_mem()));
  // The signer's certificate is self-signed or a previous enrollment's: its chain is the
  // enrollment policy's business (ScepEnrollment), not the message check's.
  if (signed_content == nullptr ||
      CMS_verify(cms, nullptr, nullptr, nullptr, signed_content.get(),
                 CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
    request.content_status = absl::UnauthenticatedError(
        absl::StrCat("SCEP message's signature does not verify with its signer certificate: ",
                     internal::TakeOpenSslError()));
    return;
  }
  bool bad_algorithm = false;
  absl::StatusOr<std::string> content = internal::OpenEnvelope(
      internal::BioContents(signed_content.get()), ra.certificate.get(),
      static_cast<EVP_PKEY*>(ra.key.native()), &request.content_cipher, &bad_algorithm);
  if (!content.ok()) {
    request.content_status = content.status();
    request.content_fail_info =
        bad_algorithm ? ScepFailInfo::kBadAlg : ScepFailInfo::kBadMessageCheck;
    return;
  }
  if (request.message_type == ScepMessageType::kCertPoll) {
    request.content_status = ReadIssuerAndSubject(*content, request);
    return;
  }
  absl::StatusOr<internal::VerifiedCsr> csr = internal::ParseAndVerifyCsr(*content);
  if (!csr.ok()) {
    request.content_status = absl::InvalidArgumentError(
        absl::StrCat("SCEP message's PKCS#10: ", csr.status().message()));
    request.content_fail_info = ScepFailInfo::kBadRequest;
    return;
  }
  absl::StatusOr<std::string> challenge = ChallengePasswordOf(csr->request.get());
  if (!challenge.ok()) {
    request.content_status = challenge.status();
    request.content_fail_info = ScepFailInfo::kBadRequest;
    return;
  }
  request.csr_der = std::move(csr->info.der);
  request.challenge_password = std::move(*challenge);
}

}  // namespace

absl::StatusOr<ScepRequest> OpenScepRequest(absl::string_view der, const ScepRaCredentials& ra) {
  absl::StatusOr<CmsPtr> cms = internal::ReadCmsDer(der, "SCEP message");
  if (!cms.ok()) return cms.status();
  absl::StatusOr<LoadedRa> loaded = LoadRa(ra);
  if (!loaded.ok()) return loaded.status();
  if (OBJ_obj2nid(CMS_get0_type(cms->get())) != NID_pkcs7_signed) {
    return absl::InvalidArgumentError("SCEP message is not a CMS SignedData");
  }
  STACK_OF(CMS_SignerInfo)* signers = CMS_get0_SignerInfos(cms->get());
  if (signers == nullptr || sk_CMS_SignerInfo_num(signers) != 1) {
    return absl::InvalidArgumentError("SCEP message must have exactly one signer");
  }
  CMS_SignerInfo* signer = sk_CMS_SignerInfo_value(signers, 0);

  ScepRequest request;
  absl::StatusOr<int> type =
      internal::SignedNumberAttribute(signer, internal::kScepMessageTypeOid, "messageType");
  if (!type.ok()) return type.status();
  switch (*type) {
    case static_cast<int>(ScepMessageType::kPkcsReq):
    case static_cast<int>(ScepMessageType::kRenewalReq):
    case static_cast<int>(ScepMessageType::kCertPoll):
      request.message_type = static_cast<ScepMessageType>(*type);
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "SCEP messageType ", *type,
          " is not supported here (PKCSReq 19, RenewalReq 17, CertPoll 20)"));
  }
  absl::StatusOr<std::string> transaction_id = internal::SignedStringAttribute(
      signer, internal::kScepTransactionIdOid, "transactionID");
  if (!transaction_id.ok()) return transaction_id.status();
  request.transaction_id = std::move(*transaction_id);
  absl::StatusOr<std::string> nonce =
      internal::SignedOctetAttribute(signer, internal::kScepSenderNonceOid, "senderNonce");
  if (!nonce.ok()) return nonce.status();
  request.sender_nonce = std::move(*nonce);

  X509StackPtr certs(CMS_get1_certs(cms->get()));
  for (int i = 0; certs != nullptr && i < sk_X509_num(certs.get()); ++i) {
    X509* cert = sk_X509_value(certs.get(), i);
    if (CMS_SignerInfo_cert_cmp(signer, cert) == 0) {
      request.signer_certificate_der = internal::ToDer(cert);
      break;
    }
  }
  if (request.signer_certificate_der.empty()) {
    request.content_status = absl::InvalidArgumentError(
        "SCEP message does not carry its signer's certificate (RFC 8894 section 3.3.1)");
    return request;
  }
  OpenContent(cms->get(), *loaded, request);
  return request;
}

absl::StatusOr<std::string> BuildScepCertRep(const ScepCertRepParams& params,
                                             const ScepRaCredentials& ra) {
  if (params.transaction_id.empty() || params.recipient_nonce.empty()) {
    return absl::InvalidArgumentError("CertRep needs the request's transactionID and senderNonce");
  }
  absl::StatusOr<LoadedRa> loaded = LoadRa(ra);
  if (!loaded.ok()) return loaded.status();
  std::vector<internal::ScepAttribute> attributes = {
      {internal::kScepTransactionIdOid, params.transaction_id},
      {internal::kScepMessageTypeOid,
       absl::StrCat(static_cast<int>(ScepMessageType::kCertRep))},
      {internal::kScepPkiStatusOid, absl::StrCat(static_cast<int>(params.status))},
      {internal::kScepSenderNonceOid, RandomBytes(16), true},
      {internal::kScepRecipientNonceOid, params.recipient_nonce, true},
  };
  std::string content;
  switch (params.status) {
    case ScepPkiStatus::kFailure:
      attributes.push_back(
          {internal::kScepFailInfoOid, absl::StrCat(static_cast<int>(params.fail_info))});
      break;
    case ScepPkiStatus::kPending:
      break;
    case ScepPkiStatus::kSuccess: {
      absl::StatusOr<X509Ptr> issued =
          internal::LoadCertificate(params.issued_certificate_der, "issued certificate");
      if (!issued.ok()) return issued.status();
      absl::StatusOr<X509Ptr> recipient = internal::LoadCertificate(
          params.recipient_certificate_der, "device's signer certificate");
      if (!recipient.ok()) return recipient.status();
      absl::StatusOr<std::string> certs = internal::DegenerateCertificates({issued->get()});
      if (!certs.ok()) return certs.status();
      // Answer a 3DES client in 3DES; everyone else gets the mandatory AES-128-CBC.
      const absl::string_view cipher =
          params.content_cipher == "DES-EDE3-CBC" ? "DES-EDE3-CBC" : "AES-128-CBC";
      absl::StatusOr<std::string> envelope =
          internal::EnvelopeFor(*certs, recipient->get(), cipher);
      if (!envelope.ok()) return envelope.status();
      content = std::move(*envelope);
      break;
    }
  }
  return internal::SignScepMessage(content, loaded->certificate.get(),
                                   static_cast<EVP_PKEY*>(loaded->key.native()), attributes);
}

absl::StatusOr<std::string> BuildScepCaCertificates(absl::string_view ra_certificate_pem,
                                                    const std::vector<std::string>& ca_chain_pem) {
  std::vector<X509Ptr> owned;
  absl::StatusOr<X509Ptr> ra = internal::LoadCertificate(ra_certificate_pem, "RA certificate");
  if (!ra.ok()) return ra.status();
  owned.push_back(std::move(*ra));
  for (size_t i = 0; i < ca_chain_pem.size(); ++i) {
    absl::StatusOr<X509Ptr> ca = internal::LoadCertificate(
        ca_chain_pem[i], absl::StrCat("CA chain certificate ", i + 1));
    if (!ca.ok()) return ca.status();
    owned.push_back(std::move(*ca));
  }
  std::vector<X509*> certs;
  for (const X509Ptr& cert : owned) certs.push_back(cert.get());
  return internal::DegenerateCertificates(certs);
}

absl::StatusOr<std::vector<std::string>> ReadDegeneratePkcs7(absl::string_view der) {
  if (der.size() > kMaxScepMessageBytes) {
    return absl::InvalidArgumentError(absl::StrCat("PKCS#7 certificate bag is ", der.size(),
                                                   " bytes; at most ", kMaxScepMessageBytes,
                                                   " are accepted"));
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  internal::OpenSslPtr<PKCS7, PKCS7_free> p7(d2i_PKCS7(nullptr, &p, static_cast<long>(der.size())));
  if (p7 == nullptr || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size() ||
      !PKCS7_type_is_signed(p7.get()) || p7->d.sign == nullptr) {
    internal::TakeOpenSslError();
    return absl::InvalidArgumentError("not a DER PKCS#7 SignedData certificate bag");
  }
  std::vector<std::string> out;
  STACK_OF(X509)* certs = p7->d.sign->cert;
  for (int i = 0; certs != nullptr && i < sk_X509_num(certs); ++i) {
    out.push_back(internal::ToDer(sk_X509_value(certs, i)));
  }
  if (out.empty()) return absl::InvalidArgumentError("PKCS#7 certificate bag holds no certificate");
  return out;
}

}  // namespace certbridge::pki
