// pki::ParseCsr on arbitrary bytes (PEM or DER). Property: a request that parses parses
// again from its own DER to the same subject, key and SANs.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/pki/pki.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using certbridge::pki::CsrInfo;
  const std::string input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<CsrInfo> csr = certbridge::pki::ParseCsr(input);
  if (!csr.ok()) return 0;
  FUZZ_CHECK(!csr->der.empty());
  FUZZ_CHECK(!csr->public_key_der.empty());
  absl::StatusOr<CsrInfo> again = certbridge::pki::ParseCsr(csr->der);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->der == csr->der);
  FUZZ_CHECK(again->subject == csr->subject);
  FUZZ_CHECK(again->sans == csr->sans);
  FUZZ_CHECK(again->public_key_der == csr->public_key_der);
  FUZZ_CHECK(again->key_type == csr->key_type && again->key_bits == csr->key_bits);
  return 0;
}
