// certbridge-com-probe.exe: exercises ComCertClient (ICertRequest2 / ICertAdmin2) on a
// Windows host, without the agent. Built by tools/windows/build-agent.sh with mingw-w64.
//
//   certbridge-com-probe.exe "HOST\CA name"                       ping + templates
//   certbridge-com-probe.exe "HOST\CA name" submit REQ.b64 TEMPLATE
//   certbridge-com-probe.exe "HOST\CA name" retrieve REQUEST_ID
//   certbridge-com-probe.exe "HOST\CA name" find ATTRIBUTE VALUE     ICertView2 lookup, as
//       the agent finds a lost answer (find CertbridgeRequestId tenants/t/certificateRequests/r)
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "agent/ca/com_cert_client.h"

namespace {

void Print(const certbridge::agent::ComAnswer& a) {
  if (a.call_hresult != 0) {
    std::printf("%s failed: 0x%08X\n", a.failed_call.c_str(), a.call_hresult);
    return;
  }
  std::printf("request id %d, disposition %d, status 0x%08X, \"%s\"\n", a.request_id,
              a.disposition, a.last_status, a.disposition_message.c_str());
  if (!a.certificate_base64.empty()) {
    std::printf("-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n",
                a.certificate_base64.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s \"HOST\\CA name\" [submit REQ.b64 TEMPLATE | retrieve ID | "
                 "find ATTRIBUTE VALUE]\n",
                 argv[0]);
    return 2;
  }
  uint32_t hr = 0;
  auto client = certbridge::agent::CreateComCertClient(argv[1], &hr);
  if (client == nullptr) {
    std::printf("CoCreateInstance(CCertRequest/CCertAdmin) failed: 0x%08X\n", hr);
    return 1;
  }
  const std::string command = argc > 2 ? argv[2] : "ping";
  if (command == "submit" && argc == 5) {
    std::ifstream f(argv[3], std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    Print(client->Submit(ss.str(), std::string("CertificateTemplate:") + argv[4]));
    return 0;
  }
  if (command == "retrieve" && argc == 4) {
    Print(client->RetrievePending(std::atoi(argv[3])));
    return 0;
  }
  if (command == "find" && argc == 5) {
    certbridge::agent::ComViewAnswer found = client->FindRequestIdsByAttribute(argv[3], argv[4]);
    if (found.call_hresult != 0) {
      std::printf("%s failed: 0x%08X\n", found.failed_call.c_str(), found.call_hresult);
      return 1;
    }
    std::printf("%zu request(s) with %s:%s\n", found.request_ids.size(), argv[3], argv[4]);
    for (int32_t id : found.request_ids) std::printf("  request id %d\n", id);
    return 0;
  }
  certbridge::agent::ComAnswer ca = client->GetCaCertificate();
  if (ca.call_hresult != 0) {
    std::printf("%s failed: 0x%08X\n", ca.failed_call.c_str(), ca.call_hresult);
    return 1;
  }
  std::printf("CA certificate (%zu base64 characters)\n", ca.ca_certificate_base64.size());
  certbridge::agent::ComAnswer templates = client->GetTemplates();
  if (templates.call_hresult != 0) {
    std::printf("%s failed: 0x%08X\n", templates.failed_call.c_str(), templates.call_hresult);
    return 1;
  }
  std::printf("published templates (cn, OID):\n%s\n", templates.templates.c_str());
  return 0;
}
