// Packaging a generated key for a device in key-generation mode (docs/architecture.md §4.4):
// the agent builds a password-protected PKCS#12 and envelopes the password (CMS) to the
// tenant's delivery certificate, so the broker only ever relays ciphertext.
//
//   ASSIGN_OR_RETURN(std::string p12, CreatePkcs12(key, chain_pem, password, "device 42",
//                                                  Pkcs12Profile::kModern));
//   ASSIGN_OR_RETURN(std::string envelope, EnvelopeForRecipient(password, delivery_cert_pem));
//
// Thread-safe.
#ifndef CERTBRIDGE_COMMON_PKI_DELIVERY_H_
#define CERTBRIDGE_COMMON_PKI_DELIVERY_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/pki.h"

namespace certbridge::pki {

enum class Pkcs12Profile {
  // Key and certificates: PBES2 (PBKDF2-HMAC-SHA256, 2048 iterations) with AES-256-CBC;
  // MAC HMAC-SHA256. Current macOS/iOS, Windows 10 1709+, Android.
  kModern,
  // Key and certificates: pbeWithSHA1And3-KeyTripleDES-CBC; MAC HMAC-SHA1. Old Apple and
  // Windows clients that cannot read PBES2.
  kLegacy,
};

// "modern", "legacy".
absl::string_view Pkcs12ProfileName(Pkcs12Profile profile);

// DER PKCS#12 holding `key`, the first certificate of `chain_pem` (which must belong to
// `key`) and the rest of the chain as CA certificates. `friendly_name` may be empty.
// Errors: INVALID_ARGUMENT (empty password, malformed chain, key does not match the
// certificate); FAILED_PRECONDITION when the legacy profile's algorithms are unavailable
// in this OpenSSL (names the missing provider); INTERNAL otherwise.
absl::StatusOr<std::string> CreatePkcs12(const PrivateKey& key, absl::string_view chain_pem,
                                         absl::string_view password,
                                         absl::string_view friendly_name, Pkcs12Profile profile);

// DER CMS EnvelopedData of `plaintext` for the holder of the first certificate in
// `recipient_certificate_pem`: AES-256-CBC content encryption; RSA recipients by key
// transport with RSAES-OAEP (SHA-256, MGF1-SHA-256), EC recipients by ECDH key agreement.
// Readable by `openssl cms -decrypt -inform DER -recip cert.pem -inkey key.pem`.
// Errors: INVALID_ARGUMENT (malformed certificate, key type other than RSA or EC);
// INTERNAL otherwise.
absl::StatusOr<std::string> EnvelopeForRecipient(absl::string_view plaintext,
                                                 absl::string_view recipient_certificate_pem);

// The fingerprint a delivery certificate is known by — pinned by the agent, shown to the
// admin at connector approval, compared with what the MDM vendor publishes: SHA-256 of the
// DER of the first certificate in `certificate_pem`, 64 lower-case hex digits.
// INVALID_ARGUMENT when the PEM does not parse.
absl::StatusOr<std::string> DeliveryCertificateSha256(absl::string_view certificate_pem);

// "AB:CD:…" (upper case, colons), as certutil and browsers show a fingerprint, from the hex
// DeliveryCertificateSha256 returns.
std::string FormatSha256Fingerprint(absl::string_view hex);

}  // namespace certbridge::pki

#endif  // CERTBRIDGE_COMMON_PKI_DELIVERY_H_
