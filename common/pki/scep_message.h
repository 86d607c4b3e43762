// SCEP (RFC 8894) pkiMessages over OpenSSL 3's CMS: what the broker's SCEP front end reads
// from a device and what it answers, and the client side of the same messages (for tests and
// certbridge-bench).
//
//   // RA side (broker/scep): open the device's PKIOperation, answer it.
//   ASSIGN_OR_RETURN(ScepRequest request, OpenScepRequest(body, ra));
//   if (!request.content_status.ok()) reply = FAILURE badMessageCheck;
//   ... ParseCsr(request.csr_der) / the profile's policy / the CA ...
//   ASSIGN_OR_RETURN(std::string der, BuildScepCertRep(ScepCertRepParams{...}, ra));
//
// A pkiMessage is a CMS SignedData signed by the device (its self-signed or existing
// certificate travels in the message), whose signed attributes carry the SCEP fields
// (2.16.840.1.113733.1.9.x) and whose content is an EnvelopedData for the RA: a PKCS#10 for
// PKCSReq/RenewalReq, an IssuerAndSubject for CertPoll. Content encryption AES-128/192/256-CBC
// or 3DES-CBC (RFC 8894 section 3.5.2 lets old clients use 3DES), RSA key transport. Single
// DES-CBC is also opened (never written), in a library context of its own with OpenSSL's
// legacy provider: micromdm's scepclient 2.1.0 (Debian's `scep`) sends nothing else.
//
// Errors: INVALID_ARGUMENT for input that is not a SCEP message of a supported kind (too
// large, not DER, missing attribute, unsupported type) naming what is wrong; INTERNAL for an
// OpenSSL failure building a reply. Thread-safe: no shared state.
#ifndef CERTBRIDGE_COMMON_PKI_SCEP_MESSAGE_H_
#define CERTBRIDGE_COMMON_PKI_SCEP_MESSAGE_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace certbridge::pki {

// A pkiMessage (request or CertRep) larger than this is refused before any parsing. A PKCSReq
// with a 4096-bit key, its signer certificate and a few SANs is about 5 KiB.
inline constexpr size_t kMaxScepMessageBytes = 64 * 1024;

// RFC 8894 section 3.2.1.2 messageType values this code reads or writes.
enum class ScepMessageType { kCertRep = 3, kRenewalReq = 17, kPkcsReq = 19, kCertPoll = 20 };

// RFC 8894 section 3.2.1.3 pkiStatus.
enum class ScepPkiStatus { kSuccess = 0, kFailure = 2, kPending = 3 };

// RFC 8894 section 3.2.1.4 failInfo.
enum class ScepFailInfo {
  kBadAlg = 0,
  kBadMessageCheck = 1,
  kBadRequest = 2,
  kBadTime = 3,
  kBadCertId = 4
};

// The RA: decrypts the device's envelope and signs CertRep. PEM; the key unencrypted (the
// caller holds it in memory only).
struct ScepRaCredentials {
  std::string certificate_pem;
  std::string private_key_pem;
};

// A device's PKIOperation, opened by the RA.
struct ScepRequest {
  ScepMessageType message_type = ScepMessageType::kPkcsReq;
  std::string transaction_id;          // printable, at most 128 characters
  std::string sender_nonce;            // raw bytes (16 from every client seen)
  std::string signer_certificate_der;  // the certificate whose key signed the message
  // OK when the signature verified with signer_certificate_der and the envelope was decrypted
  // with the RA key; otherwise why not (INVALID_ARGUMENT or UNAUTHENTICATED). The fields
  // above are still set, so the RA can answer CertRep FAILURE badMessageCheck
  // (RFC 8894 section 3.3.2.2); the fields below are then empty.
  absl::Status content_status;
  // With content_status not OK: the failInfo to answer with (kBadAlg for a cipher or digest
  // not accepted, kBadRequest for a PKCS#10 that does not parse or verify, kBadMessageCheck
  // otherwise).
  ScepFailInfo content_fail_info = ScepFailInfo::kBadMessageCheck;
  // The envelope's content cipher as OpenSSL names it ("AES-128-CBC", "DES-EDE3-CBC",
  // "DES-CBC").
  std::string content_cipher;
  // PKCSReq / RenewalReq: the PKCS#10, its signature verified (ParseCsr's rules), and its
  // challengePassword attribute ("" when absent).
  std::string csr_der;
  std::string challenge_password;
  // CertPoll: the IssuerAndSubject content (DER Names).
  std::string poll_issuer_name_der;
  std::string poll_subject_name_der;
};

// Parses `der` as a pkiMessage from a device: INVALID_ARGUMENT when it is over
// kMaxScepMessageBytes, not a SignedData, has no single signer, lacks messageType,
// transactionID or senderNonce, or has a messageType other than PKCSReq, RenewalReq or
// CertPoll. Signature and envelope problems are reported in content_status, not here.
// INVALID_ARGUMENT (as the returned status) when `ra` does not load.
absl::StatusOr<ScepRequest> OpenScepRequest(absl::string_view der, const ScepRaCredentials& ra);

// A CertRep as the RA sends it. Members have default initializers so designated
// initializers compile under -Wextra.
struct ScepCertRepParams {
  ScepPkiStatus status = ScepPkiStatus::kFailure;
  std::string transaction_id = {};   // echoed from the request
  std::string recipient_nonce = {};  // the request's senderNonce
  ScepFailInfo fail_info = ScepFailInfo::kBadRequest;  // kFailure only
  // kSuccess only: the issued certificate, sent as a degenerate certs-only PKCS#7 enveloped
  // to recipient_certificate_der (the request's signer certificate) with content_cipher
  // ("" or anything but 3DES: AES-128-CBC).
  std::string issued_certificate_der = {};
  std::string recipient_certificate_der = {};
  std::string content_cipher = {};
};

// The DER CertRep, signed by the RA (SHA-256) with a fresh senderNonce; the RA certificate
// travels in it. INVALID_ARGUMENT for a missing field or a certificate or key that does not
// load.
absl::StatusOr<std::string> BuildScepCertRep(const ScepCertRepParams& params,
                                             const ScepRaCredentials& ra);

// The GetCACert answer when an RA is used (application/x-x509-ca-ra-cert): a degenerate
// certs-only PKCS#7 SignedData of the RA certificate then the CA chain (issuing CA first).
absl::StatusOr<std::string> BuildScepCaCertificates(absl::string_view ra_certificate_pem,
                                                    const std::vector<std::string>& ca_chain_pem);

// The certificates of a degenerate PKCS#7 (as BuildScepCaCertificates writes), DER, in order.
absl::StatusOr<std::vector<std::string>> ReadDegeneratePkcs7(absl::string_view der);

// --- The client side, as a device speaks it (tests, certbridge-bench). ---

// A PKCSReq/RenewalReq/CertPoll from a device. For PKCSReq the signer is usually a
// self-signed certificate for the CSR's key.
struct ScepClientRequestParams {
  ScepMessageType message_type = ScepMessageType::kPkcsReq;
  std::string transaction_id;
  std::string sender_nonce;  // "" picks 16 random bytes
  // PKCSReq/RenewalReq: the PKCS#10 (PEM or DER). CertPoll: issuer and subject names
  // (RFC 4514) of the IssuerAndSubject content.
  std::string csr;
  std::string poll_issuer;
  std::string poll_subject;
  std::string signer_certificate_pem;
  std::string signer_private_key_pem;
  std::string recipient_certificate_pem;  // the RA certificate from GetCACert
  std::string content_cipher = "AES-128-CBC";
};

absl::StatusOr<std::string> BuildScepClientRequest(const ScepClientRequestParams& params);

// A CertRep as the device reads it: signature checked against ra_certificate_pem, the
// attributes, and for SUCCESS the issued certificate decrypted with the device's key.
struct ScepCertRep {
  ScepPkiStatus status = ScepPkiStatus::kFailure;
  std::string transaction_id;
  std::string sender_nonce;
  std::string recipient_nonce;
  ScepFailInfo fail_info = ScepFailInfo::kBadRequest;
  std::string issued_certificate_der;
};

// INVALID_ARGUMENT for a malformed CertRep, UNAUTHENTICATED when it is not signed by the RA.
absl::StatusOr<ScepCertRep> ReadScepCertRep(absl::string_view der,
                                            absl::string_view ra_certificate_pem,
                                            absl::string_view device_certificate_pem,
                                            absl::string_view device_private_key_pem);

// A self-signed certificate for `key_pem` with subject `subject` (RFC 4514), valid for a day:
// what a device signs its first PKCSReq with (RFC 8894 section 2.3).
absl::StatusOr<std::string> SelfSignedScepSignerPem(absl::string_view key_pem,
                                                    absl::string_view subject);

}  // namespace certbridge::pki

#endif  // CERTBRIDGE_COMMON_PKI_SCEP_MESSAGE_H_
