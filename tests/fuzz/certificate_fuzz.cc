// pki::ParseCertificate on arbitrary bytes (PEM or DER). Properties: a certificate that
// parses parses again from its own DER and PEM to the same fields; its serial is already in
// the one normal form (adcs::NormalizeSerialNumber leaves it unchanged).
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/adcs/serial_number.h"
#include "common/pki/pki.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

bool SameCertificate(const certbridge::pki::CertificateInfo& a,
                     const certbridge::pki::CertificateInfo& b) {
  return a.der == b.der && a.subject == b.subject && a.issuer == b.issuer &&
         a.serial_hex == b.serial_hex && a.not_before == b.not_before &&
         a.not_after == b.not_after && a.sans == b.sans &&
         a.extended_key_usages == b.extended_key_usages && a.is_ca == b.is_ca;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using certbridge::pki::CertificateInfo;
  const std::string input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<CertificateInfo> cert = certbridge::pki::ParseCertificate(input);
  if (!cert.ok()) return 0;
  FUZZ_CHECK(!cert->der.empty());
  absl::StatusOr<CertificateInfo> from_der = certbridge::pki::ParseCertificate(cert->der);
  FUZZ_CHECK(from_der.ok());
  FUZZ_CHECK(SameCertificate(*cert, *from_der));
  absl::StatusOr<CertificateInfo> from_pem = certbridge::pki::ParseCertificate(cert->pem);
  FUZZ_CHECK(from_pem.ok());
  FUZZ_CHECK(SameCertificate(*cert, *from_pem));
  absl::StatusOr<std::string> serial = certbridge::adcs::NormalizeSerialNumber(cert->serial_hex);
  if (serial.ok()) FUZZ_CHECK(*serial == cert->serial_hex);
  return 0;
}
