// Certificate revocation lists (X.509 v2 CRL, RFC 5280) signed by a SigningCa.
//
//   ASSIGN_OR_RETURN(std::string pem, CreateCrlPem(ca, {.crl_number = 7, ...}));
//   // `openssl crl -inform PEM -text` reads it.
//
// Thread-safe (SigningCa is immutable).
#ifndef CERTBRIDGE_COMMON_PKI_CRL_H_
#define CERTBRIDGE_COMMON_PKI_CRL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pki/pki.h"

namespace certbridge::pki {

// RFC 5280 CRLReason values (the numbers ICertAdmin::RevokeCertificate takes).
enum class CrlReason : int {
  kUnspecified = 0,
  kKeyCompromise = 1,
  kCaCompromise = 2,
  kAffiliationChanged = 3,
  kSuperseded = 4,
  kCessationOfOperation = 5,
  kCertificateHold = 6,
  kRemoveFromCrl = 8,
};

// True for 0..6 and 8.
bool IsValidCrlReason(int reason);

struct RevokedCertificate {
  std::string serial_hex;  // any case, leading zeros allowed
  absl::Time revoked_at;
  // kUnspecified is left out of the entry, as RFC 5280 5.3.1 recommends.
  CrlReason reason = CrlReason::kUnspecified;
};

struct CrlParams {
  std::vector<RevokedCertificate> revoked;
  int64_t crl_number = 1;  // cRLNumber extension; callers increase it per CRL
  absl::Time this_update;
  absl::Time next_update;
};

// A CRL signed with SHA-256 by `ca`, with authorityKeyIdentifier and cRLNumber, as PEM.
// INVALID_ARGUMENT for a bad serial or reason; INTERNAL for OpenSSL failures.
absl::StatusOr<std::string> CreateCrlPem(const SigningCa& ca, const CrlParams& params);

}  // namespace certbridge::pki

#endif  // CERTBRIDGE_COMMON_PKI_CRL_H_
