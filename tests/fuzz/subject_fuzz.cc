// pki::CanonicalSubject (the RFC 4514 parser CSR creation uses) on arbitrary text.
// Property: the canonical form is a fixed point, it parses back to itself.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "common/pki/names.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::string> canonical = certbridge::pki::CanonicalSubject(input);
  if (!canonical.ok()) return 0;
  absl::StatusOr<std::string> again = certbridge::pki::CanonicalSubject(*canonical);
  if (!again.ok() || *again != *canonical) {
    std::fprintf(stderr, "canonical: \"%s\"\nagain: %s\n", canonical->c_str(),
                 again.ok() ? ("\"" + *again + "\"").c_str() : again.status().ToString().c_str());
  }
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *canonical);
  return 0;
}
