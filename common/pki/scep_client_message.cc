// The device side of SCEP (RFC 8894): what tests and certbridge-bench send to the broker's
// SCEP endpoint, and how they read its CertRep. The broker itself never calls these.
#include <openssl/pem.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/pki/certificate_request.h"
#include "common/pki/distinguished_name.h"
#include "common/pki/pki.h"
#include "common/pki/scep_cms.h"
#include "common/pki/scep_message.h"

namespace certbridge::pki {

using internal::BioPtr;
using internal::CmsPtr;
using internal::X509Ptr;

namespace {

std::string NameDer(X509_NAME* name) {
  unsigned char* buf = nullptr;
  const int len = i2d_X509_NAME(name, &buf);
  if (len <= 0) return "";
  std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
  OPENSSL_free(buf);
  return out;
}

absl::StatusOr<std::string> IssuerAndSubjectDer(absl::string_view issuer,
                                                absl::string_view subject) {
  absl::StatusOr<internal::X509NamePtr> issuer_name =
      internal::ParseDistinguishedName(issuer, "CertPoll issuer");
  if (!issuer_name.ok()) return issuer_name.status();
  absl::StatusOr<internal::X509NamePtr> subject_name =
      internal::ParseDistinguishedName(subject, "CertPoll subject");
  if (!subject_name.ok()) return subject_name.status();
  const std::string body = NameDer(issuer_name->get()) + NameDer(subject_name->get());
  const int total = ASN1_object_size(1, static_cast<int>(body.size()), V_ASN1_SEQUENCE);
  std::string out(static_cast<size_t>(total), '\0');
  unsigned char* p = reinterpret_cast<unsigned char*>(out.data());
  ASN1_put_object(&p, 1, static_cast<int>(body.size()), V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
  const size_t header = static_cast<size_t>(p - reinterpret_cast<unsigned char*>(out.data()));
  out.replace(header, body.size(), body);
  return out;
}

}  // namespace

absl::StatusOr<std::string> BuildScepClientRequest(const ScepClientRequestParams& params) {
  if (params.transaction_id.empty()) return absl::InvalidArgumentError("transactionID is empty");
  absl::StatusOr<X509Ptr> signer =
      internal::LoadCertificate(params.signer_certificate_pem, "signer certificate");
  if (!signer.ok()) return signer.status();
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(params.signer_private_key_pem);
  if (!key.ok()) return key.status();
  absl::StatusOr<X509Ptr> recipient =
      internal::LoadCertificate(params.recipient_certificate_pem, "RA certificate");
  if (!recipient.ok()) return recipient.status();

  std::string content;
  if (params.message_type == ScepMessageType::kCertPoll) {
    absl::StatusOr<std::string> names =
        IssuerAndSubjectDer(params.poll_issuer, params.poll_subject);
    if (!names.ok()) return names.status();
    content = std::move(*names);
  } else if (params.message_type == ScepMessageType::kPkcsReq ||
             params.message_type == ScepMessageType::kRenewalReq) {
    absl::StatusOr<CsrInfo> csr = ParseCsr(params.csr);
    if (!csr.ok()) return csr.status();
    content = std::move(csr->der);
  } else {
    return absl::InvalidArgumentError("a device sends PKCSReq, RenewalReq or CertPoll");
  }
  absl::StatusOr<std::string> envelope =
      internal::EnvelopeFor(content, recipient->get(), params.content_cipher);
  if (!envelope.ok()) return envelope.status();
  return internal::SignScepMessage(
      *envelope, signer->get(), static_cast<EVP_PKEY*>(key->native()),
      {{internal::kScepMessageTypeOid, absl::StrCat(static_cast<int>(params.message_type))},
       {internal::kScepTransactionIdOid, params.transaction_id},
       {internal::kScepSenderNonceOid,
        params.sender_nonce.empty() ? RandomBytes(16) : params.sender_nonce, true}});
}

absl::StatusOr<ScepCertRep> ReadScepCertRep(absl::string_view der,
                                            absl::string_view ra_certificate_pem,
                                            absl::string_view device_certificate_pem,
                                            absl::string_view device_private_key_pem) {
  absl::StatusOr<X509Ptr> ra = internal::LoadCertificate(ra_certificate_pem, "RA certificate");
  if (!ra.ok()) return ra.status();
  absl::StatusOr<CmsPtr> cms = internal::ReadCmsDer(der, "CertRep");
  if (!cms.ok()) return cms.status();
  if (OBJ_obj2nid(CMS_get0_type(cms->get())) != NID_pkcs7_signed) {
    return absl::InvalidArgumentError("CertRep is not a CMS SignedData");
  }
  STACK_OF(CMS_SignerInfo)* signers = CMS_get0_SignerInfos(cms->get());
  if (signers == nullptr || sk_CMS_SignerInfo_num(signers) != 1) {
    return absl::InvalidArgumentError("CertRep must have exactly one signer");
  }
  CMS_SignerInfo* signer = sk_CMS_SignerInfo_value(signers, 0);
  if (CMS_SignerInfo_cert_cmp(signer, ra->get()) != 0) {
    return absl::UnauthenticatedError("CertRep is not signed by the RA certificate");
  }
  CMS_SignerInfo_set1_signer_cert(signer, ra->get());
  BioPtr out(BIO_new(BIO_s_mem()));
  BioPtr detached_content(CMS_is_detached(cms->get()) ? internal::ContentBio("") : nullptr);
  if (CMS_verify(cms->get(), nullptr, nullptr, detached_content.get(), out.get(),
                 CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
    return absl::UnauthenticatedError(absl::StrCat(
        "CertRep signature does not verify with the RA certificate: ",
        internal::TakeOpenSslError()));
  }

  ScepCertRep rep;
  absl::StatusOr<int> type =
      internal::SignedNumberAttribute(signer, internal::kScepMessageTypeOid, "messageType");
  if (!type.ok()) return type.status();
  if (*type != static_cast<int>(ScepMessageType::kCertRep)) {
    return absl::InvalidArgumentError(absl::StrCat("CertRep has messageType ", *type));
  }
  absl::StatusOr<int> status =
      internal::SignedNumberAttribute(signer, internal::kScepPkiStatusOid, "pkiStatus");
  if (!status.ok()) return status.status();
  if (*status != 0 && *status != 2 && *status != 3) {
    return absl::InvalidArgumentError(absl::StrCat("CertRep has pkiStatus ", *status));
  }
  rep.status = static_cast<ScepPkiStatus>(*status);
  absl::StatusOr<std::string> transaction_id = internal::SignedStringAttribute(
      signer, internal::kScepTransactionIdOid, "transactionID");
  if (!transaction_id.ok()) return transaction_id.status();
  rep.transaction_id = std::move(*transaction_id);
  absl::StatusOr<std::string> sender_nonce =
      internal::SignedOctetAttribute(signer, internal::kScepSenderNonceOid, "senderNonce");
  if (!sender_nonce.ok()) return sender_nonce.status();
  rep.sender_nonce = std::move(*sender_nonce);
  absl::StatusOr<std::string> recipient_nonce = internal::SignedOctetAttribute(
      signer, internal::kScepRecipientNonceOid, "recipientNonce");
  if (!recipient_nonce.ok()) return recipient_nonce.status();
  rep.recipient_nonce = std::move(*recipient_nonce);

  if (rep.status == ScepPkiStatus::kFailure) {
    absl::StatusOr<int> fail_info =
        internal::SignedNumberAttribute(signer, internal::kScepFailInfoOid, "failInfo");
    if (!fail_info.ok()) return fail_info.status();
    if (*fail_info > 4) {
      return absl::InvalidArgumentError(absl::StrCat("CertRep has failInfo ", *fail_info));
    }
    rep.fail_info = static_cast<ScepFailInfo>(*fail_info);
  }
  if (rep.status != ScepPkiStatus::kSuccess) return rep;

  absl::StatusOr<X509Ptr> device =
      internal::LoadCertificate(device_certificate_pem, "device certificate");
  if (!device.ok()) return device.status();
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(device_private_key_pem);
  if (!key.ok()) return key.status();
  std::string cipher;
  bool bad_algorithm = false;
  absl::StatusOr<std::string> certs =
      internal::OpenEnvelope(internal::BioContents(out.get()), device->get(),
                             static_cast<EVP_PKEY*>(key->native()), &cipher, &bad_algorithm);
  if (!certs.ok()) return certs.status();
  absl::StatusOr<std::vector<std::string>> issued = ReadDegeneratePkcs7(*certs);
  if (!issued.ok()) return issued.status();
  rep.issued_certificate_der = std::move(issued->front());
  return rep;
}

absl::StatusOr<std::string> SelfSignedScepSignerPem(absl::string_view key_pem,
                                                    absl::string_view subject) {
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(key_pem);
  if (!key.ok()) return key.status();
  absl::StatusOr<internal::X509NamePtr> name =
      internal::ParseDistinguishedName(subject, "signer subject");
  if (!name.ok()) return name.status();
  EVP_PKEY* pkey = static_cast<EVP_PKEY*>(key->native());
  X509Ptr cert(X509_new());
  const std::string serial_bytes = RandomBytes(8);
  internal::BignumPtr serial(BN_bin2bn(reinterpret_cast<const unsigned char*>(serial_bytes.data()),
                                       static_cast<int>(serial_bytes.size()), nullptr));
  internal::Asn1IntegerPtr serial_asn1(serial ? BN_to_ASN1_INTEGER(serial.get(), nullptr) : nullptr);
  const time_t now = time(nullptr);
  if (cert == nullptr || serial_asn1 == nullptr || !X509_set_version(cert.get(), X509_VERSION_3) ||
      !X509_set_serialNumber(cert.get(), serial_asn1.get()) ||
      !X509_set_subject_name(cert.get(), name->get()) ||
      !X509_set_issuer_name(cert.get(), name->get()) || !X509_set_pubkey(cert.get(), pkey) ||
      ASN1_TIME_set(X509_getm_notBefore(cert.get()), now - 3600) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), now + 24 * 3600) == nullptr ||
      X509_sign(cert.get(), pkey, EVP_sha256()) <= 0) {
    return internal::OpenSslInternalError("self-signed SCEP signer certificate");
  }
  return internal::ToPem(cert.get());
}

}  // namespace certbridge::pki
