// `certbridge-agent test-ca`: the `certutil -ping` of certbridge. Checks that the CA
// answers, shows its certificate and published templates, tries a test enrollment with a
// throwaway key, and prints every problem in the words of the error catalog
// (common/adcs/error_catalog.h).
//
//   auto backend = EmulatorCaBackend::Create({...});   // or ComCaBackend on Windows
//   return RunTestCa(**backend, {.config = "adcs01\\Corp CA", .template_name = "WebServer"},
//                    std::cout);
#ifndef CERTBRIDGE_AGENT_CA_TEST_CA_H_
#define CERTBRIDGE_AGENT_CA_TEST_CA_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/ca/ca_backend.h"
#include "common/pki/pki.h"

namespace certbridge::agent {

struct TestCaOptions {
  std::string config;         // "HOST\\CA name" as configured (printed; compared to the CA's)
  std::string template_name;  // empty: skip the test enrollment
  absl::Duration timeout = absl::Seconds(30);  // per CA call
};

// Runs the checks, printing one line per check ("[ok]" / "[FAIL]" / "[warn]") with
// indented details. Returns the process exit status: 0 when every check passed (a test
// request taken under submission counts as passed, with a note), 1 when any failed.
// The test certificate, if issued, is left on the CA (as certreq would); its serial is
// printed so an officer can revoke it.
int RunTestCa(CaBackend& backend, const TestCaOptions& options, std::ostream& out);

// The key test-ca generates for a template's minimal key size (0 = unknown): EC P-256 up to
// 256 bits, EC P-384 up to 384, else the smallest RSA size at least that large (RSA 2048 when
// unknown, since legacy-CSP templates accept only RSA).
pki::KeyType TestKeyTypeFor(uint32_t minimal_key_size);

// Lines explaining a non-issued CaResult: the catalog code, HRESULT, Windows text and
// remedy; the CA's own message; and for 0x80094800 "did you mean" the cn of the published
// template that `requested_template` names by display name or nearly.
std::vector<std::string> ExplainCaResult(const CaResult& result, absl::string_view requested_template,
                                         const std::vector<CaTemplate>& published);

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_CA_TEST_CA_H_
