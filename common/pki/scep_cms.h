// Internal to common/pki: the CMS pieces both sides of SCEP (scep_message.cc for the RA,
// scep_client_message.cc for a device) share — the SCEP signed attributes (RFC 8894 section
// 3.2.1), reading a bounded DER ContentInfo, enveloping and signing.
#ifndef CERTBRIDGE_COMMON_PKI_SCEP_CMS_H_
#define CERTBRIDGE_COMMON_PKI_SCEP_CMS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/openssl_handles.h"
#include "common/pki/scep_message.h"

namespace certbridge::pki::internal {

// Dotted OIDs of the SCEP attributes (id-attributes 2.16.840.1.113733.1.9.x).
inline constexpr char kScepMessageTypeOid[] = "2.16.840.1.113733.1.9.2";
inline constexpr char kScepPkiStatusOid[] = "2.16.840.1.113733.1.9.3";
inline constexpr char kScepFailInfoOid[] = "2.16.840.1.113733.1.9.4";
inline constexpr char kScepSenderNonceOid[] = "2.16.840.1.113733.1.9.5";
inline constexpr char kScepRecipientNonceOid[] = "2.16.840.1.113733.1.9.6";
inline constexpr char kScepTransactionIdOid[] = "2.16.840.1.113733.1.9.7";

// Longest transactionID accepted (clients use a hex or base64 hash, 28-64 characters).
inline constexpr size_t kMaxTransactionIdChars = 128;
// Longest nonce accepted (RFC 8894: 16 bytes).
inline constexpr size_t kMaxNonceBytes = 64;

// A memory BIO reading `data` (not copied); for empty input an empty one that reports end
// of data (never a NULL buffer).
BioPtr ContentBio(absl::string_view data);

// A DER ContentInfo of at most kMaxScepMessageBytes with no trailing bytes.
// INVALID_ARGUMENT "<what>: ..." otherwise.
absl::StatusOr<CmsPtr> ReadCmsDer(absl::string_view der, absl::string_view what);
std::string CmsToDer(CMS_ContentInfo* cms);

// The one value of a signed attribute. INVALID_ARGUMENT when absent, repeated, multi-valued or
// of the wrong type. String attributes accept PrintableString, UTF8String and
// IA5String (clients differ); nonces must be OCTET STRINGs.
absl::StatusOr<std::string> SignedStringAttribute(CMS_SignerInfo* signer, const char* oid,
                                                  absl::string_view name);
absl::StatusOr<std::string> SignedOctetAttribute(CMS_SignerInfo* signer, const char* oid,
                                                 absl::string_view name);
// A decimal attribute (messageType, pkiStatus, failInfo).
absl::StatusOr<int> SignedNumberAttribute(CMS_SignerInfo* signer, const char* oid,
                                          absl::string_view name);

// A SCEP attribute to sign: PrintableString unless `octets`.
struct ScepAttribute {
  const char* oid;
  std::string value;
  bool octets = false;
};

// A SignedData over `content` (absent when `content` is empty, as RFC 8894 section 3.3.2
// has it for PENDING and FAILURE), signed by `signer_cert`/`signer_key` with SHA-256 and
// `attributes` beside contentType, signingTime and messageDigest; the signer certificate
// travels in the message. DER.
absl::StatusOr<std::string> SignScepMessage(absl::string_view content, X509* signer_cert,
                                            EVP_PKEY* signer_key,
                                            const std::vector<ScepAttribute>& attributes);

// An EnvelopedData of `content` for `recipient` (RSA key transport), DER. `cipher_name`
// as OpenSSL names it; INVALID_ARGUMENT for one outside AES-128/192/256-CBC and 3DES-CBC.
absl::StatusOr<std::string> EnvelopeFor(absl::string_view content, X509* recipient,
                                        absl::string_view cipher_name);

// The content of an EnvelopedData (DER) decrypted with `key` for `cert`. On success sets
// `cipher_name` to the content cipher; INVALID_ARGUMENT for one outside the accepted set
// (`*bad_algorithm` set), or when the envelope is malformed or not for `cert`.
absl::StatusOr<std::string> OpenEnvelope(absl::string_view envelope_der, X509* cert,
                                         EVP_PKEY* key, std::string* cipher_name,
                                         bool* bad_algorithm);

// A degenerate certs-only PKCS#7 SignedData of `certs`, DER.
absl::StatusOr<std::string> DegenerateCertificates(const std::vector<X509*>& certs);

}  // namespace certbridge::pki::internal

#endif  // CERTBRIDGE_COMMON_PKI_SCEP_CMS_H_
