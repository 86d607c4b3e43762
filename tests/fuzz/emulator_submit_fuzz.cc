// adcs-emulator's handling of a submitted request (EmulatorCa::Submit, what the Submit RPC
// calls with the caller's identity and the SubmitRequest as received): the PKCS#10 request
// (DER or PEM), the request attribute string and the policy decisions made from them, on
// an enterprise CA (templates from the request's attributes, subject from the request or
// from the directory, SAN attribute honoured) and a standalone one (everything pends).
//
// Input: byte 0 picks the caller (bits 0-1) and the CA (bit 2); then the attribute string
// up to the first '\0' (as gRPC delivers it: valid UTF-8, else the input is skipped); the
// rest is the request.
// Properties: Submit answers OK (no faults are set); a caller the CA does not let enroll
// gets DENIED with no request id; otherwise the request is logged (request id > 0) with
// disposition ERROR, DENIED, ISSUED or UNDER_SUBMISSION; only a request that parses can
// be issued or pend, and an issued certificate parses, is for the request's key and comes
// with the CA chain; RetrievePending by the submitter reads back the same answer.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "adcsemu/v1/emulator.pb.h"
#include "agent/emulator/emulator_ca.h"
#include "common/adcs/error_catalog.h"
#include "common/clock.h"
#include "common/pki/pki.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/text_format.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using certbridge::emulator::EmulatorCa;
namespace adcs = certbridge::adcs;
namespace pki = certbridge::pki;

constexpr char kEnterpriseConfig[] = R"pb(
  ca_host: "adcs01.corp.example"
  ca_name: "Fuzz Issuing CA"
  ca_kind: ENTERPRISE
  key_type: "EC-P256"
  ca_enroll_identities: "CORP\\AGENT01$"
  ca_enroll_identities: "CORP\\NODIR$"
  templates {
    cn: "CertbridgeDevice"
    display_name: "Certbridge Device"
    name_flags: 0x1
    minimal_key_size: 256
    eku_oids: "1.3.6.1.5.5.7.3.2"
    enroll_identities: "*"
  }
  templates {
    cn: "WebServer"
    display_name: "Web Server"
    name_flags: 0x1
    minimal_key_size: 2048
    eku_oids: "1.3.6.1.5.5.7.3.1"
    enroll_identities: "*"
  }
  templates {
    cn: "Approval"
    name_flags: 0x1
    enrollment_flags: 0x2
    enroll_identities: "*"
  }
  templates {
    cn: "Machine"
    name_flags: 0x0
    minimal_key_size: 256
    eku_oids: "1.3.6.1.5.5.7.3.2"
    enroll_identities: "CORP\\AGENT01$"
    enroll_identities: "CORP\\NODIR$"
  }
  directory {
    identity: "CORP\\AGENT01$"
    sid: "S-1-5-21-3623811015-3361044348-30300820-1013"
    common_name: "AGENT01"
    upn: "agent01$@corp.example"
    dns_name: "agent01.corp.example"
  }
  attribute_subject_alt_name2: true
)pb";

constexpr const char* kCallers[] = {"CORP\\AGENT01$", "corp\\agent01$", "CORP\\NODIR$",
                                    "CORP\\STRANGER"};

// Every input gets a new EmulatorCa on an empty request database (the CA key, generated
// once, is loaded again), so an input's answer does not depend on the ones before it and a
// finding replays alone; the state directory is on tmpfs when there is one (the store
// fsyncs its snapshot on open).
struct Emulators {
  std::string dir;
  certbridge::FakeClock clock;
};

std::unique_ptr<EmulatorCa> OpenCa(Emulators& e, bool standalone) {
  const std::string dir = e.dir + (standalone ? "/standalone" : "/enterprise");
  std::filesystem::remove(dir + "/state.pb");
  std::filesystem::remove(dir + "/requests.log");
  EmulatorCa::Options options;
  FUZZ_CHECK(google::protobuf::TextFormat::ParseFromString(kEnterpriseConfig, &options.config));
  if (standalone) options.config.set_ca_kind(adcsemu::v1::STANDALONE);
  options.state_dir = dir;
  options.clock = &e.clock;
  options.sync_writes = false;
  options.die = [] {};
  auto ca = EmulatorCa::Create(std::move(options));
  FUZZ_CHECK(ca.ok());
  return *std::move(ca);
}

Emulators& Instance() {
  static Emulators* e = [] {
    auto* created = new Emulators;
    const char* tmp = std::getenv("TMPDIR");
    std::string base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    if (tmp == nullptr && std::filesystem::is_directory("/dev/shm")) base = "/dev/shm";
    std::string tmpl = base + "/emulator_submit_fuzz.XXXXXX";
    FUZZ_CHECK(mkdtemp(tmpl.data()) != nullptr);
    created->dir = tmpl;
    static std::string dir_to_remove = tmpl;
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(dir_to_remove, ignored);
    });
    OpenCa(*created, false);  // generates and saves the keys once
    OpenCa(*created, true);
    return created;
  }();
  return *e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t nul = rest.find('\0');
  adcsemu::v1::SubmitRequest request;
  request.set_attributes(std::string(rest.substr(0, nul)));
  if (nul != absl::string_view::npos) request.set_request(std::string(rest.substr(nul + 1)));
  if (!google::protobuf::internal::IsStructurallyValidUTF8(
          request.attributes().data(), static_cast<int>(request.attributes().size()))) {
    return 0;  // a gRPC server refuses the message before Submit
  }
  const std::string caller = kCallers[data[0] & 3];
  const bool enrolls = (data[0] & 3) != 3;

  Emulators& e = Instance();
  const std::unique_ptr<EmulatorCa> emulator = OpenCa(e, (data[0] & 4) != 0);
  EmulatorCa& ca = *emulator;

  absl::StatusOr<adcsemu::v1::CaResponse> r = ca.Submit(caller, request);
  FUZZ_CHECK(r.ok());
  if (!enrolls) {
    FUZZ_CHECK(r->disposition() == adcs::kDispositionDenied && r->request_id() == 0);
    return 0;
  }
  FUZZ_CHECK(r->request_id() > 0);
  const int d = r->disposition();
  FUZZ_CHECK(d == adcs::kDispositionError || d == adcs::kDispositionDenied ||
             d == adcs::kDispositionIssued || d == adcs::kDispositionUnderSubmission);
  absl::StatusOr<pki::CsrInfo> csr = pki::ParseCsr(request.request());
  if (d == adcs::kDispositionIssued || d == adcs::kDispositionUnderSubmission) {
    FUZZ_CHECK(csr.ok());
  }
  if (d == adcs::kDispositionIssued) {
    absl::StatusOr<pki::CertificateInfo> cert = pki::ParseCertificate(r->certificate_pem());
    FUZZ_CHECK(cert.ok());
    FUZZ_CHECK(pki::SamePublicKey(cert->public_key_der, csr->public_key_der));
    FUZZ_CHECK(!cert->is_ca);
    FUZZ_CHECK(!r->serial_hex().empty() && !r->chain_pem().empty());
  } else {
    FUZZ_CHECK(r->certificate_pem().empty());
  }

  absl::StatusOr<adcsemu::v1::CaResponse> again = ca.RetrievePending(caller, r->request_id());
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->request_id() == r->request_id());
  FUZZ_CHECK(again->disposition() == d);
  FUZZ_CHECK(again->serial_hex() == r->serial_hex());
  return 0;
}
