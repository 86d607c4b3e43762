// X.509 and key handling for certbridge, over OpenSSL 3. This folder is the only one that
// includes OpenSSL headers; everything here speaks PEM/DER strings and opaque handles.
//
//   ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
//   ASSIGN_OR_RETURN(std::string csr, CreateCsrPem(key, {.subject = "CN=agent"}));
//   ASSIGN_OR_RETURN(CsrInfo info, ParseCsr(csr));          // verifies the signature
//   ASSIGN_OR_RETURN(IssuedCertificate cert, ca.Issue(params));
//
// Errors: INVALID_ARGUMENT for malformed or policy-violating input (the message names the
// problem and what is expected); INTERNAL for OpenSSL failures that are not the caller's
// fault. All functions are thread-safe; PrivateKey and SigningCa are immutable after
// creation and may be shared between threads.
#ifndef CERTBRIDGE_COMMON_PKI_PKI_H_
#define CERTBRIDGE_COMMON_PKI_PKI_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace certbridge::pki {

enum class KeyType { kRsa2048, kRsa3072, kRsa4096, kEcP256, kEcP384 };

// "RSA-2048", "EC-P256", ...
absl::string_view KeyTypeName(KeyType type);
// Accepts the names above, case-insensitively.
absl::StatusOr<KeyType> ParseKeyType(absl::string_view name);

class PrivateKey {
 public:
  // RSA-2048 takes ~0.2 s; call it off latency-sensitive threads.
  static absl::StatusOr<PrivateKey> Generate(KeyType type);
  // PKCS#8 or traditional PEM, unencrypted.
  static absl::StatusOr<PrivateKey> FromPem(absl::string_view pem);

  // ToEncryptedPem's output read back: INVALID_ARGUMENT when `pem` is not an encrypted key
  // or `passphrase` does not decrypt it.
  static absl::StatusOr<PrivateKey> FromEncryptedPem(absl::string_view pem,
                                                     absl::string_view passphrase);

  PrivateKey(PrivateKey&&) noexcept;
  PrivateKey& operator=(PrivateKey&&) noexcept;
  ~PrivateKey();

  // Unencrypted PKCS#8 PEM. Handle with care: callers store it 0600 or encrypt it.
  std::string ToPem() const;
  // PKCS#8 PEM encrypted under `passphrase` (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC), as
  // `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes it. INTERNAL if OpenSSL fails.
  absl::StatusOr<std::string> ToEncryptedPem(absl::string_view passphrase) const;
  std::string PublicKeyPem() const;
  KeyType type() const { return type_; }

  // Opaque OpenSSL handle (EVP_PKEY*) for other files in common/pki.
  void* native() const { return pkey_; }

 private:
  PrivateKey(void* pkey, KeyType type) : pkey_(pkey), type_(type) {}
  void* pkey_ = nullptr;
  KeyType type_ = KeyType::kEcP256;
};

struct SubjectAltName {
  enum class Type { kDns, kEmail, kUri, kIp, kUpn };
  Type type;
  std::string value;
  bool operator==(const SubjectAltName& o) const { return type == o.type && value == o.value; }
};

// "dns", "email", "uri", "ip", "upn".
absl::string_view SanTypeName(SubjectAltName::Type type);

// Members have default initializers so that designated initializers
// ({.subject = "CN=x"}) compile cleanly under -Wextra.
struct CsrParams {
  // RFC 4514 string, e.g. "CN=device 42,O=Example\, Inc.". Empty gives an empty subject.
  std::string subject = {};
  std::vector<SubjectAltName> sans = {};
  // PKCS#9 challengePassword attribute (a SCEP device's enrollment secret); empty: none.
  std::string challenge_password = {};
};

// PKCS#10 PEM signed with `key` (SHA-256).
absl::StatusOr<std::string> CreateCsrPem(const PrivateKey& key, const CsrParams& params);

struct CsrInfo {
  std::string der;
  // RFC 4514, most specific attribute first as OpenSSL prints it with XN_FLAG_RFC2253.
  std::string subject;
  KeyType key_type = KeyType::kEcP256;
  int key_bits = 0;
  std::vector<SubjectAltName> sans;
  // SubjectPublicKeyInfo, DER, as the request encodes it. Compare keys with SamePublicKey,
  // not with ==: an equivalent key may be encoded differently by a CA.
  std::string public_key_der;
};

// Parses a PEM or DER PKCS#10 request and verifies its self-signature. Refuses keys other
// than RSA 2048/3072/4096 and EC P-256/P-384 (INVALID_ARGUMENT naming the key found).
// Inputs over 64 KiB are refused (INVALID_ARGUMENT).
absl::StatusOr<CsrInfo> ParseCsr(absl::string_view pem_or_der);

// Whether `spki_der` (a SubjectPublicKeyInfo, DER) is the public key of the PKCS#10 request
// `csr_pem_or_der`, a request ParseCsr accepted when it came in: its signature and key
// policy are not checked again. The request's SubjectPublicKeyInfo is found without
// decoding the key, so the usual case (the CA copied it verbatim) costs no OpenSSL key
// decoder; otherwise the keys are compared as SamePublicKey does. False for a request
// that does not parse.
bool CsrHasPublicKey(absl::string_view csr_pem_or_der, absl::string_view spki_der);

// One extension to add verbatim.
struct RawExtension {
  std::string oid = {};  // dotted
  bool critical = false;
  std::string value_der = {};  // the extnValue contents (DER of the extension's own type)
};

struct IssueParams {
  // The request: its public key is certified. Its subject and SANs are used unless
  // overridden below.
  std::string csr_der = {};
  // When set, replaces the CSR's subject (RFC 4514).
  bool override_subject = false;
  std::string subject = {};
  // When set, replaces the CSR's SANs.
  bool override_sans = false;
  std::vector<SubjectAltName> sans = {};
  absl::Time not_before = {};  // typically now - 5 minutes for clock skew
  absl::Time not_after = {};
  // Dotted OIDs, e.g. "1.3.6.1.5.5.7.3.2" (client auth).
  std::vector<std::string> extended_key_usages = {};
  bool is_ca = false;
  // Empty: a random 128-bit positive serial is chosen.
  std::string serial_hex = {};
  std::vector<RawExtension> extra_extensions = {};
};

struct CertificateInfo {
  std::string der;
  std::string pem;
  std::string subject;  // RFC 4514
  std::string issuer;   // RFC 4514
  std::string serial_hex;  // upper-case hex, no leading zeros
  absl::Time not_before;
  absl::Time not_after;
  std::string public_key_der;  // SubjectPublicKeyInfo as the certificate encodes it
  std::vector<SubjectAltName> sans;
  std::vector<std::string> extended_key_usages;
  bool is_ca = false;
};

// A CA that signs: its key and certificate. Immutable, thread-safe.
class SigningCa {
 public:
  // Loads a PEM certificate (first in the chain) and its PEM private key; checks they match.
  static absl::StatusOr<std::unique_ptr<SigningCa>> Load(absl::string_view cert_pem,
                                                         absl::string_view key_pem);
  // A new self-signed root with basicConstraints CA:TRUE, keyUsage keyCertSign|cRLSign.
  static absl::StatusOr<std::unique_ptr<SigningCa>> CreateSelfSigned(absl::string_view subject,
                                                                     KeyType key_type,
                                                                     absl::Time not_before,
                                                                     absl::Time not_after);
  ~SigningCa();

  // Verifies the CSR as ParseCsr does, then signs with SHA-256. Adds
  // subjectKeyIdentifier, authorityKeyIdentifier, basicConstraints (critical), keyUsage
  // (critical: keyCertSign|cRLSign for CAs; digitalSignature|keyEncipherment for RSA
  // leaves, digitalSignature for EC leaves), extendedKeyUsage, subjectAltName (critical
  // when the subject is empty), then extra_extensions. Other CSR extensions are not
  // copied. INVALID_ARGUMENT for a bad CSR, subject, SAN, OID, serial, validity
  // (not_after <= not_before), an extra extension that duplicates one already present,
  // or neither subject nor SAN.
  absl::StatusOr<CertificateInfo> Issue(const IssueParams& params) const;

  const CertificateInfo& certificate() const { return cert_; }
  std::string KeyPem() const;
  // Opaque OpenSSL handles (X509*, EVP_PKEY*) for other files in common/pki.
  void* native_cert() const { return x509_; }
  void* native_key() const { return key_.native(); }

 private:
  SigningCa(void* x509, PrivateKey key, CertificateInfo cert)
      : x509_(x509), key_(std::move(key)), cert_(std::move(cert)) {}
  void* x509_;
  PrivateKey key_;
  CertificateInfo cert_;
};

// Parses one PEM or DER certificate.
absl::StatusOr<CertificateInfo> ParseCertificate(absl::string_view pem_or_der);

// Splits concatenated PEM certificates into single PEM blocks, in order. INVALID_ARGUMENT
// if there is none or one is malformed.
absl::StatusOr<std::vector<std::string>> SplitPemChain(absl::string_view pem);

// Verifies that the first certificate of `chain_pem` chains to `trusted_root_pem` at `now`
// (intermediates may follow the leaf in chain_pem). Returns the leaf. Errors:
// UNAUTHENTICATED with OpenSSL's reason in words ("certificate has expired",
// "unable to get local issuer certificate", ...).
absl::StatusOr<CertificateInfo> VerifyChain(absl::string_view chain_pem,
                                            absl::string_view trusted_root_pem, absl::Time now);

// True if two SubjectPublicKeyInfo DER encodings hold the same key: byte-equal, or both
// decode and OpenSSL finds them equal (e.g. RSA parameters absent in one, NULL in the other).
bool SamePublicKey(absl::string_view spki_der_a, absl::string_view spki_der_b);

// True if `key` is the private key of `certificate_pem`.
bool KeyMatchesCertificate(const PrivateKey& key, absl::string_view certificate_pem);

// Cryptographically random bytes (RAND_bytes).
std::string RandomBytes(size_t n);
// Random string of `n` characters from an unambiguous upper-case alphabet
// (no 0/O, 1/I/L), e.g. for registration codes a person types.
std::string RandomCode(size_t n);
// Random URL-safe token with `bytes` bytes of entropy (base64url, no padding).
std::string RandomToken(size_t bytes);
// Lower-case hex SHA-256.
std::string Sha256Hex(absl::string_view data);
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace certbridge::pki

#endif  // CERTBRIDGE_COMMON_PKI_PKI_H_
