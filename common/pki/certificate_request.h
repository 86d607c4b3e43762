// Internal to common/pki: a parsed, verified PKCS#10 request with its OpenSSL handle, so
// that issuance checks a CSR exactly as ParseCsr does.
#ifndef CERTBRIDGE_COMMON_PKI_CERTIFICATE_REQUEST_H_
#define CERTBRIDGE_COMMON_PKI_CERTIFICATE_REQUEST_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/openssl_handles.h"
#include "common/pki/pki.h"

namespace certbridge::pki::internal {

struct VerifiedCsr {
  X509ReqPtr request;
  CsrInfo info;
};

// ParseCsr, keeping the X509_REQ.
absl::StatusOr<VerifiedCsr> ParseAndVerifyCsr(absl::string_view pem_or_der);

// The SubjectPublicKeyInfo of a DER PKCS#10 request, as encoded, found by walking the
// headers CertificationRequest > CertificationRequestInfo > version, subject, SPKI
// (RFC 2986 section 4) without decoding anything; empty when the request is not shaped so.
// May leave errors on the OpenSSL error queue.
std::string RawCsrPublicKeyInfo(absl::string_view der);

}  // namespace certbridge::pki::internal

#endif  // CERTBRIDGE_COMMON_PKI_CERTIFICATE_REQUEST_H_
