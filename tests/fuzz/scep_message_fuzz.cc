// The SCEP message layer on arbitrary bytes: pki::OpenScepRequest (the RA opening what a
// device POSTs to /scep/<profile>/pkiclient.exe) and pki::ReadDegeneratePkcs7. The RA below
// is a throwaway test identity generated for this target (not a secret); the seeds in
// corpus/scep_message_fuzz/ are PKCSReq (AES-128, AES-256, 3DES), RenewalReq and CertPoll
// messages enveloped to it, a PKCSReq Debian's scepclient sent to it (single DES-CBC, the
// legacy-provider path), a CertRep and a GetCACert bag, so the fuzzer starts past the
// signature and the envelope. Properties: a message that opens says what it is; one whose
// content opened carries a PKCS#10 that ParseCsr accepts (PKCSReq/RenewalReq) or both names
// (CertPoll); nothing is returned for an input over the 64 KiB bound.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pki/pki.h"
#include "common/pki/scep_message.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

constexpr char kRaCertificatePem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIDNDCCAhygAwIBAgIUGbrO3pbQ7d/o/NSm+L8HmmgHehAwDQYJKoZIhvcNAQEL\n"
    "BQAwIjEgMB4GA1UEAwwXY2VydGJyaWRnZSBTQ0VQIGZ1enogUkEwIBcNMjYxMjAy\n"
    "MDczMjIzWhgPMjEyNjExMDgwNzMyMjNaMCIxIDAeBgNVBAMMF2NlcnRicmlkZ2Ug\n"
    "U0NFUCBmdXp6IFJBMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAzFLm\n"
    "QN9vYYrSkKItQ8QGtge6J3vqkfnuPWLIzaUDtV84F083mtA0mWp0e+lI5putFroj\n"
    "BjPhB6tVYv2B8E+K8ibHe0eEBwrdw6rBLg5oMLqVT9kCyy9WMa4m3EcAeOXUew8c\n"
    "0w2M+9yCLiDZwZ6/DNrqI4wgdJ1SB0yKlrTWAi2Z9jdt2AH73KNi5iYwbUr2+6ui\n"
    "pM/KSbHIG/JzPwkizIWyNLDeE1sheF4ZFYRFwSmTJ7m/F13kQPCVWgm4eoID5Gmk\n"
    "6pEj1jTs6ctYZSE8PG26429qv40U2vU5Fx8B/fqpeOHqXPLOXeechMHdIrFG41TT\n"
    "u2ILGUY2AaoLM8VpJwIDAQABo2AwXjAdBgNVHQ4EFgQUlS9itx7TWPHmAFOY261y\n"
    "MRVG+OIwHwYDVR0jBBgwFoAUlS9itx7TWPHmAFOY261yMRVG+OIwDwYDVR0TAQH/\n"
    "BAUwAwEB/zALBgNVHQ8EBAMCBaAwDQYJKoZIhvcNAQELBQADggEBAJpOLC4enmYu\n"
    "9gw9evUxJDoz1PXO3VzKFa9GCXAzKEkpGCMgelX0Qa4TY2kOShQ7/U3+ECefiJWm\n"
    "gWfWlyDshHp15sKrqxwmnf4A5nZB6HFDD30sb4yqHrLwWd8TNGLh3KhpiyAj1lk0\n"
    "SiVJy75t5DQ2IZ1r6lqCARzpHJBImPaGpC2MB8C1f1Bh842uI/Yh5SyY6UuxYuPZ\n"
    "C7paHzktCrpT/3PZzqG+KUQqZcWKHtxaCvZFPFNTRZSJH/X5LTQclkJ9+w58ayj9\n"
    "cUqqL3kdUqQKG7ZPvO17aAGZp/cOtjoPTE+jmjOn3OgN49UopNgjwQk3rL+javXw\n"
    "XKk1I+WdEdQ=\n"
    "-----END CERTIFICATE-----\n";
constexpr char kRaPrivateKeyPem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDMUuZA329hitKQ\n"
    "oi1DxAa2B7one+qR+e49YsjNpQO1XzgXTzea0DSZanR76Ujmm60WuiMGM+EHq1Vi\n"
    "/YHwT4ryJsd7R4QHCt3DqsEuDmgwupVP2QLLL1YxribcRwB45dR7DxzTDYz73IIu\n"
    "INnBnr8M2uojjCB0nVIHTIqWtNYCLZn2N23YAfvco2LmJjBtSvb7q6Kkz8pJscgb\n"
    "8nM/CSLMhbI0sN4TWyF4XhkVhEXBKZMnub8XXeRA8JVaCbh6ggPkaaTqkSPWNOzp\n"
    "y1hlITw8bbrjb2q/jRTa9TkXHwH9+ql44epc8s5d55yEwd0isUbjVNO7YgsZRjYB\n"
    "qgszxWknAgMBAAECggEAEm4h3dUpr1M91hUC3zt13YKJ7JjVWlCAiGH6Oe56DKin\n"
    "nxaireC89d+v3SN4U3DUZpnood0ZHb97JsA2Mc6C+n+7+6dCRf5ZbZZf8X8UL90M\n"
    "rdSl110QOc/7KmBvLviQN39v+qucvXUw+uc0rS3cDtVKTGWN4eb06LqjP5/VNAHu\n"
    "uTdtUP710Npt1LoT4wDByaK7isJJBEeMVS2T92xRyG/WZd7W4fkhjoa37Xu5y5G+\n"
    "qXN2ZhYLRP8MrZQEftUZMqtR6kPb1jimecdJ222gZKPhp/grZq2sEn3gli7mZu01\n"
    "56yn6q0WED6wt290qYRERJd6FTC4lxaaVBASRu3PPQKBgQDtPmYMytRg6/2IhLyE\n"
    "3Rr6sP7xXxZl2JRA/iim1c5RW6fvmG0NuRyxUXU1+umHCxewOQPuCjo7PlT00daL\n"
    "f8iM7naIoUhe7KFGecMlu7DX2wbVJeMVFSjfcm/LDIfmHN9Irc9TPYP4PibYCC6w\n"
    "/aE8is63k77KkgpxbyAJad5LdQKBgQDcejsms2TfAKkHLFiPQng6X+o+UYhLMSaC\n"
    "QaCb2A6+9cPvh+EhqqPLCxL12K/drvdO/h8eyE7MdDS0RhXw/HlqJwOQGlnZSL2w\n"
    "8TjpHrBtSjMzFyIMDY7EWjYBGp0ldROiO5PU1xze234fRV/qj1ZVneN4CqzEYT8K\n"
    "gOV/It66qwKBgQDHF7RgS97Kr4CGjo3+GedINjzcpmWPdp+Do0bOK2MHF5npEcuC\n"
    "1rPjgm6QrE5Jy99HPbG0k9SmXvrAsVAQpV3SF1RV+LNZJc956zj/c3FG1EH5od/d\n"
    "k3JHgiubBJsPW29t+J6iRl93dgD3DnbQhShIPFyZ5l0YdlJZO15xR+0K+QKBgAFJ\n"
    "2ZSlUb6X42T+Vlon+knlC5pnoZNG60Gxnn2qqpNlHksFEUTAGYrzOp4jMQvrnNhi\n"
    "Vc45P3SkbTZsfm5VG2SKa9Pow4OokCs7jaiXHFLXLytqRDGr1pzBJjWlcSup3n6B\n"
    "OKDyzOFkiP0ny6K0Sb3gWVb3QQE4zESEclLm4kRXAoGAY+vNFQlxldD4X2vbbDXR\n"
    "fatRBtHNuk/dDFnnkw7H25GyqOYq7WMLW3u3vtwM11Jdvjk3+dpPs0O0d3dkRxJV\n"
    "C1ip44ifQcizZvgxrMEL1GNFyqJorKe0bv4VvxasGe7JhUTjvpVYG+7tNuwfizyw\n"
    "EzFQayXi/qJJAAoYVlHymkA=\n"
    "-----END PRIVATE KEY-----\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace pki = certbridge::pki;
  static const pki::ScepRaCredentials* const ra =
      new pki::ScepRaCredentials{kRaCertificatePem, kRaPrivateKeyPem};
  const std::string input(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<pki::ScepRequest> request = pki::OpenScepRequest(input, *ra);
  if (request.ok()) {
    FUZZ_CHECK(size <= pki::kMaxScepMessageBytes);
    FUZZ_CHECK(!request->transaction_id.empty() && request->transaction_id.size() <= 128);
    FUZZ_CHECK(!request->sender_nonce.empty());
    if (request->content_status.ok()) {
      FUZZ_CHECK(!request->signer_certificate_der.empty());
      FUZZ_CHECK(!request->content_cipher.empty());
      if (request->message_type == pki::ScepMessageType::kCertPoll) {
        FUZZ_CHECK(!request->poll_issuer_name_der.empty());
        FUZZ_CHECK(!request->poll_subject_name_der.empty());
      } else {
        FUZZ_CHECK(pki::ParseCsr(request->csr_der).ok());
      }
    } else {
      FUZZ_CHECK(request->csr_der.empty());
    }
  } else {
    FUZZ_CHECK(request.status().code() == absl::StatusCode::kInvalidArgument);
  }

  absl::StatusOr<std::vector<std::string>> bag = pki::ReadDegeneratePkcs7(input);
  if (bag.ok()) {
    FUZZ_CHECK(!bag->empty());
    for (const std::string& der : *bag) FUZZ_CHECK(!der.empty());
  }
  return 0;
}
