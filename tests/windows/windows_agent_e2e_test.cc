// certbridge-agent.exe end to end under Wine, through the COM path: PostgreSQL, the Linux
// broker and adcs-emulator on loopback; the agent installed from its MSI
// (`msiexec /i ... /qn`), registered with an enrollment token, approved with certbridgectl
// and run as the installed Windows service (no --ca-emulator), so every CA call goes
// ComCaBackend -> ComCertClient -> CoCreateInstance -> the stand-in certcli_standin.dll
// (tools/windows/certcli_standin/) -> the emulator. Certificates are checked with openssl
// against the emulator's CA. The crash is done on the installed exe run in the foreground
// (a process the test can kill and read the log of); the service then picks the job up.
// The MSI is uninstalled at the end, with the service running.
//
// Needs the Windows build (tools/windows/build-agent.sh, into $CERTBRIDGE_WINDOWS_BUILD_DIR)
// and wine; without them every test is skipped, which ctest reports as skipped.
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/pki/pki.h"
#include "tests/integration/test_stack.h"

namespace certbridge::testing {
namespace {

namespace fs = std::filesystem;
using v1::CertificateRequest;

constexpr char kCaConfig[] = "adcs01.corp.example\\Corp Issuing CA";
constexpr char kIdentity[] = "CORP\\AGENT01$";

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary) << contents;
}

// A Unix path as a Windows program under Wine sees it (Wine's Z: drive is /).
std::string WinPath(const std::string& unix_path) {
  return "Z:" + absl::StrReplaceAll(unix_path, {{"/", "\\"}});
}

// The value of "NAME:   value" in certbridgectl's table output.
std::string Field(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(name + ":\\s+(\\S+)"))) return "";
  return m[1];
}

std::string NewCsr(const std::string& subject) {
  auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  EXPECT_TRUE(key.ok());
  auto csr = pki::CreateCsrPem(*key, {subject, {}});
  EXPECT_TRUE(csr.ok()) << csr.status();
  return *csr;
}

// The Windows build's files, or why they are missing.
struct WindowsBuild {
  std::string dir, agent_exe, standin_dll, msi, wine_run, register_standin;
  std::string missing;
};

WindowsBuild FindWindowsBuild() {
  WindowsBuild b;
  const char* dir = std::getenv("CERTBRIDGE_WINDOWS_BUILD_DIR");
  b.dir = dir != nullptr ? dir : BuildPath("windows");
  b.agent_exe = b.dir + "/bin/certbridge-agent.exe";
  b.standin_dll = b.dir + "/bin/certcli_standin.dll";
  b.wine_run = SourcePath("tools/windows/wine-run.sh");
  b.register_standin = SourcePath("tools/windows/certcli_standin/register-standin.sh");
  for (const std::string& f : {b.agent_exe, b.standin_dll}) {
    if (!fs::exists(f)) b.missing = f + " (run tools/windows/build-agent.sh " + b.dir + ")";
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(b.dir, ec)) {
    const std::string name = e.path().filename().string();
    if (absl::StartsWith(name, "certbridge-agent-") && absl::EndsWith(name, "-x64.msi")) {
      b.msi = e.path().string();
    }
  }
  if (RunCommand({"sh", "-c", "command -v wine"}).exit_code != 0) b.missing = "wine";
  return b;
}

class WindowsAgentE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    build_ = new WindowsBuild(FindWindowsBuild());
    if (!build_->missing.empty()) return;
    auto stack = TestStack::Create();
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = stack->release();
    auto broker = stack_->StartBroker({"--queue_timeout=4s", "--sweep_interval=1s",
                                       "--heartbeat_interval_seconds=2"});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = new BrokerProcess(*std::move(broker));
    auto emulator = stack_->StartEmulator(
        ReadFileOrEmpty(SourcePath("agent/emulator/example-config.txtpb")));
    ASSERT_TRUE(emulator.ok()) << emulator.status();
    emulator_ = new EmulatorProcessHandle(*std::move(emulator));
    ASSERT_NO_FATAL_FAILURE(MakeWinePrefix());
    // The stand-in answers for CCertRequest/CCertAdmin/CCertView, as the agent's host.
    CommandResult reg = RunCommand({build_->register_standin, prefix_, build_->standin_dll,
                                    emulator_->address(), kIdentity},
                                   absl::Seconds(120));
    ASSERT_EQ(reg.exit_code, 0) << reg.out << reg.err;
  }

  static void TearDownTestSuite() {
    if (!prefix_.empty()) {
      RunCommand({"sh", "-c", "WINEPREFIX=\"$0\" wineserver -k", prefix_}, absl::Seconds(30));
    }
    delete emulator_;
    delete broker_;
    delete stack_;
    delete build_;
  }

  // A Wine prefix of this run's own (the stand-in's registry values name this run's
  // emulator): hard links to a booted template prefix kept beside the Windows build, with
  // the registry files copied (Wine rewrites them). A persistent wineserver for the run.
  static void MakeWinePrefix() {
    const std::string tmpl = build_->dir + "/wine-e2e-template";
    // Booted already? (wine-run.sh boots under this lock.)
    if (RunCommand({"sh", "-c", "exec 9>\"$0.lock\"; flock 9; test -f \"$0/system.reg\"", tmpl})
            .exit_code != 0) {
      CommandResult boot = RunCommand({build_->wine_run, tmpl, "cmd", "/c", "exit"},
                                      absl::Seconds(300));
      ASSERT_EQ(boot.exit_code, 0) << "booting " << tmpl << ": " << boot.err;
      RunCommand({"sh", "-c", "WINEPREFIX=\"$0\" wineserver -w", tmpl}, absl::Seconds(60));
    }
    prefix_ = stack_->dir() + "/wine";
    CommandResult copy = RunCommand(
        {"sh", "-c",
         "cp -al \"$0\" \"$1\" && for f in \"$1\"/*.reg; do rm \"$f\" && cp \"$0/${f##*/}\" \"$f\"; "
         "done && WINEPREFIX=\"$1\" wineserver -p 900",
         tmpl, prefix_},
        absl::Seconds(120));
    ASSERT_EQ(copy.exit_code, 0) << copy.out << copy.err;
  }

  // `wine ARGS...` in this run's prefix, to completion.
  static CommandResult Wine(const std::vector<std::string>& args,
                            absl::Duration timeout = absl::Seconds(120)) {
    std::vector<std::string> argv = {build_->wine_run, prefix_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, timeout);
  }

  // The service's STATE as `sc query` prints it: RUNNING, STOPPED, ... ("" if not installed).
  static std::string ServiceState() {
    CommandResult q = Wine({"sc", "query", kService});
    std::smatch m;
    const std::string out = q.out;
    if (!std::regex_search(out, m, std::regex("STATE\\s*:\\s*\\d+\\s+(\\w+)"))) return "";
    return m[1];
  }

  // `sc start` until the service reports RUNNING (Wine's SCM was seen to refuse a start
  // right after a stop; tools/windows/service-test.sh).
  static bool StartService() {
    return WaitUntil(
        [] {
          if (ServiceState() == "RUNNING") return true;
          Wine({"sc", "start", kService});
          return ServiceState() == "RUNNING";
        },
        absl::Seconds(60));
  }

  static bool StopService() {
    Wine({"sc", "stop", kService});
    return WaitUntil([] { return ServiceState() == "STOPPED"; }, absl::Seconds(60));
  }

  void SetUp() override {
    if (!build_->missing.empty()) GTEST_SKIP() << "no Windows build: missing " << build_->missing;
    admin_ = stack_->AdminStub(*broker_);
    certificates_ = stack_->CertificateStub(*broker_);
  }

  struct Tenant {
    std::string tenant_id, key, ca_id;
  };

  Tenant NewTenant(const std::string& name) {
    Tenant t;
    absl::StatusOr<TestTenant> tenant = stack_->CreateTenant(*broker_, name);
    EXPECT_TRUE(tenant.ok()) << tenant.status();
    if (!tenant.ok()) return t;
    t.tenant_id = tenant->tenant_id;
    t.key = tenant->api_key;
    CommandResult ca = stack_->Ctl(*broker_, t.key, {"cas", "add", kCaConfig});
    EXPECT_EQ(ca.exit_code, 0) << ca.out << ca.err;
    t.ca_id = Field(ca.out, "CA ID");
    return t;
  }

  // `wine certbridge-agent.exe ARGS...` in this run's prefix, output appended to `log`.
  std::unique_ptr<ChildProcess> StartWine(const std::vector<std::string>& args,
                                          const std::string& log) {
    std::vector<std::string> argv = {build_->wine_run, prefix_, installed_exe_};
    argv.insert(argv.end(), args.begin(), args.end());
    auto process = ChildProcess::Start(argv, log);
    EXPECT_TRUE(process.ok()) << process.status();
    return process.ok() ? *std::move(process) : nullptr;
  }

  // Registers the Windows agent with a new enrollment token (certbridgectl), approves it by
  // its registration code (certbridgectl) and lets it serve the tenant's CA.
  std::string RegisterAgent(const Tenant& t) {
    CommandResult token = stack_->Ctl(*broker_, t.key, {"enrollment-tokens", "create"});
    EXPECT_EQ(token.exit_code, 0) << token.err;
    const std::string token_text = Field(token.out, "Token");
    EXPECT_FALSE(token_text.empty()) << token.out;
    const std::string log = stack_->dir() + "/agent-register.log";
    // As an admin should: the token from a file, not on the command line (process list).
    const std::string token_file = stack_->dir() + "/agent-register.token";
    { std::ofstream(token_file) << token_text << "\n"; }
    auto registering = StartWine(
        {"register", "--broker", broker_->agent_address(), "--broker-ca",
         WinPath(stack_->pki("tls-ca.pem")), "--token-file", WinPath(token_file), "--state-dir",
         state_dir_win_,
         "--ca-identity", kIdentity, "--host", "agent01.corp.example"},
        log);
    if (registering == nullptr) return "";
    std::string code;
    const std::regex code_pattern("Registration code: +([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})\\b");
    EXPECT_TRUE(WaitUntil(
        [&] {
          std::smatch c;
          const std::string text = registering->Log();
          if (!std::regex_search(text, c, code_pattern)) return false;
          code = c[1];
          return true;
        },
        absl::Seconds(60)))
        << registering->Log();
    CommandResult approve = stack_->Ctl(*broker_, t.key, {"connectors", "approve", code});
    EXPECT_EQ(approve.exit_code, 0) << approve.out << approve.err;
    EXPECT_EQ(registering->WaitForExit(absl::Seconds(60)), 0) << registering->Log();
    // The connector id is in the state dir the agent wrote.
    std::string connector_id;
    for (absl::string_view line :
         absl::StrSplit(ReadFileOrEmpty(state_dir_ + "/agent.conf"), '\n')) {
      if (absl::ConsumePrefix(&line, "connector_id=")) {
        connector_id = std::string(absl::StripAsciiWhitespace(line));
      }
    }
    EXPECT_FALSE(connector_id.empty()) << ReadFileOrEmpty(state_dir_ + "/agent.conf");
    CommandResult assign = stack_->Ctl(*broker_, t.key, {"cas", "assign", t.ca_id, connector_id});
    EXPECT_EQ(assign.exit_code, 0) << assign.out << assign.err;
    return connector_id;
  }

  bool WaitConnected(const Tenant& t, const std::string& connector_id) {
    return WaitUntil(
        [&] {
          v1::GetConnectorRequest get;
          get.set_connector_id(connector_id);
          v1::Connector c;
          return admin_->GetConnector(CallContext(t.key).get(), get, &c).ok() &&
                 c.connectivity() == v1::Connector::CONNECTIVITY_CONNECTED;
        },
        absl::Seconds(60));
  }

  // The installed exe's `run` in the foreground, CA calls through COM; waits until the
  // broker shows it connected.
  std::unique_ptr<ChildProcess> RunAgent(const Tenant& t, const std::string& connector_id) {
    auto agent = StartWine({"run", "--state-dir", state_dir_win_, "--backoff-max-ms", "2000"},
                           stack_->dir() + "/agent-run.log");
    if (agent == nullptr) return nullptr;
    EXPECT_TRUE(WaitConnected(t, connector_id)) << agent->Log();
    return agent;
  }

  // What the service's state looks like, for failure messages (its output goes nowhere).
  std::string ServiceDiagnostics() {
    std::string out = Wine({"sc", "query", kService}).out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(state_dir_ + "/journal", ec)) {
      absl::StrAppend(&out, "journal: ", e.path().filename().string(), "\n");
    }
    return out;
  }

  v1::CreateCertificateRequestRequest CsrRequest(const Tenant& t, const std::string& csr) {
    v1::CreateCertificateRequestRequest r;
    r.set_request_id(absl::StrCat("win-", absl::ToUnixNanos(absl::Now())));
    r.set_ca_id(t.ca_id);
    r.set_template_name("CertbridgeDevice");
    r.set_csr_pem(csr);
    r.mutable_wait_timeout()->set_seconds(60);
    return r;
  }

  grpc::Status Create(const Tenant& t, const v1::CreateCertificateRequestRequest& r,
                      CertificateRequest* out) {
    return certificates_->CreateCertificateRequest(CallContext(t.key, absl::Seconds(120)).get(),
                                                   r, out);
  }

  CertificateRequest Get(const Tenant& t, const std::string& name) {
    v1::GetCertificateRequestRequest get;
    get.set_name(name);
    CertificateRequest out;
    grpc::Status s = certificates_->GetCertificateRequest(CallContext(t.key).get(), get, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  void ExpectVerifies(const std::string& pem) {
    const std::string path =
        absl::StrCat(stack_->dir(), "/cert-", absl::ToUnixNanos(absl::Now()), ".pem");
    WriteFile(path, pem);
    CommandResult verify =
        RunCommand({"openssl", "verify", "-CAfile", emulator_->ca_cert_path(), path});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  }

  // How many requests the CA logged with CertbridgeRequestId:<name>.
  int CaRequestsFor(const std::string& name) {
    CommandResult list = stack_->Officer(*emulator_, {"list"});
    EXPECT_EQ(list.exit_code, 0) << list.err;
    int n = 0;
    for (absl::string_view line : absl::StrSplit(list.out, '\n')) n += absl::StrContains(line, name);
    return n;
  }

  // A job the agent logged as started and not yet as finished: it is journaling the job or
  // with the CA (the journal is one binary log, agent/jobs/job_journal.h, so the log is
  // what a test can read).
  static bool JobInFlight(const std::string& agent_log) {
    auto count = [&](const std::string& event) {
      int n = 0;
      for (size_t at = agent_log.find(event); at != std::string::npos;
           at = agent_log.find(event, at + event.size())) {
        ++n;
      }
      return n;
    };
    return count("\"event\":\"job.started\"") > count("\"event\":\"job.finished\"");
  }

  static WindowsBuild* build_;
  static TestStack* stack_;
  static BrokerProcess* broker_;
  static EmulatorProcessHandle* emulator_;
  static std::string prefix_;
  // Where the MSI puts the exe and where its service keeps its state.
  const std::string installed_exe_ = prefix_ + "/drive_c/Program Files/certbridge/certbridge-agent.exe";
  const std::string state_dir_ = prefix_ + "/drive_c/ProgramData/certbridge-agent";
  const std::string state_dir_win_ = "C:\\ProgramData\\certbridge-agent";
  static constexpr char kService[] = "certbridge-agent";
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::CertificateService::Stub> certificates_;
};

WindowsBuild* WindowsAgentE2eTest::build_ = nullptr;
TestStack* WindowsAgentE2eTest::stack_ = nullptr;
BrokerProcess* WindowsAgentE2eTest::broker_ = nullptr;
EmulatorProcessHandle* WindowsAgentE2eTest::emulator_ = nullptr;
std::string WindowsAgentE2eTest::prefix_;

// One test: install, registration, two issuance modes, the crash and the uninstall share
// one agent (each Wine start costs seconds).
TEST_F(WindowsAgentE2eTest, MsiServiceIssuesThroughComAndAKilledAgentIssuesNoDuplicate) {
  ASSERT_FALSE(build_->msi.empty())
      << "no certbridge-agent-*-x64.msi in " << build_->dir << " (wixl missing?)";
  // Install: the exe under Program Files and the service (it starts at once and stops: no
  // registration yet).
  fs::copy_file(build_->msi, prefix_ + "/drive_c/certbridge-agent.msi",
                fs::copy_options::overwrite_existing);
  CommandResult install = Wine({"msiexec", "/i", "C:\\certbridge-agent.msi", "/qn"});
  ASSERT_EQ(install.exit_code, 0) << install.out << install.err;
  ASSERT_TRUE(fs::exists(installed_exe_));
  ASSERT_TRUE(WaitUntil([] { return ServiceState() == "STOPPED"; }, absl::Seconds(30)))
      << ServiceDiagnostics();

  // test-ca through COM: the stand-in is reachable and ComCaBackend maps its answers.
  CommandResult test_ca = Wine({installed_exe_, "test-ca", "--config", kCaConfig, "--template",
                                "CertbridgeDevice"});
  ASSERT_EQ(test_ca.exit_code, 0) << test_ca.out << test_ca.err;
  EXPECT_TRUE(absl::StrContains(test_ca.out, "test-ca: all checks passed")) << test_ca.out;
  // A CA the client cannot reach: the RPC HRESULT, named, and test-ca fails.
  CommandResult unreachable = Wine({installed_exe_, "test-ca", "--config", "adcs99\\Other CA"});
  EXPECT_EQ(unreachable.exit_code, 1) << unreachable.out << unreachable.err;
  EXPECT_TRUE(absl::StrContains(unreachable.out + unreachable.err, "0x800706BA"))
      << unreachable.out << unreachable.err;

  Tenant t = NewTenant("windows agent");
  ASSERT_FALSE(t.ca_id.empty());
  const std::string connector_id = RegisterAgent(t);
  ASSERT_FALSE(connector_id.empty());
  ASSERT_TRUE(StartService()) << ServiceDiagnostics();
  ASSERT_TRUE(WaitConnected(t, connector_id)) << ServiceDiagnostics();

  // CSR mode, through the service.
  {
    v1::CreateCertificateRequestRequest r = CsrRequest(t, NewCsr("CN=win-csr,O=Example"));
    auto* san = r.add_subject_alt_names();
    san->set_type(v1::SubjectAltName::TYPE_DNS);
    san->set_value("win-csr.devices.example");
    CertificateRequest issued;
    grpc::Status s = Create(t, r, &issued);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(issued.state(), CertificateRequest::STATE_ISSUED)
        << issued.DebugString() << ServiceDiagnostics();
    EXPECT_GT(issued.ca_request_id(), 0);
    ExpectVerifies(issued.certificate_pem());
    auto info = pki::ParseCertificate(issued.certificate_pem());
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_TRUE(absl::StrContains(info->subject, "win-csr")) << info->subject;
    // The chain came from ICertRequest2::GetCACertificate.
    ASSERT_EQ(issued.chain_der_size(), 1);
    auto ca = pki::ParseCertificate(issued.chain_der(0));
    ASSERT_TRUE(ca.ok()) << ca.status();
    EXPECT_EQ(ca->subject, "CN=Corp Issuing CA");
    EXPECT_EQ(CaRequestsFor(issued.name()), 1);
  }

  // Key-generation mode: the service makes the key on Windows, the PKCS#12 opens with the
  // password enveloped to the tenant's delivery certificate.
  {
    const std::string dir = stack_->dir();
    CommandResult delivery = RunCommand(
        {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
         "/CN=MDM delivery", "-keyout", dir + "/delivery.key", "-out", dir + "/delivery.pem"});
    ASSERT_EQ(delivery.exit_code, 0) << delivery.err;
    CommandResult set =
        stack_->Ctl(*broker_, t.key, {"delivery-certificate", "set", dir + "/delivery.pem"});
    ASSERT_EQ(set.exit_code, 0) << set.out << set.err;
    v1::CreateCertificateRequestRequest r;
    r.set_request_id(absl::StrCat("win-keygen-", absl::ToUnixNanos(absl::Now())));
    r.set_ca_id(t.ca_id);
    r.set_template_name("CertbridgeDevice");
    r.mutable_wait_timeout()->set_seconds(60);
    auto* keygen = r.mutable_key_generation();
    keygen->set_key_spec(v1::KEY_SPEC_EC_P256);
    keygen->mutable_subject()->set_rfc4514("CN=win-keygen,OU=Devices,O=Example");
    keygen->set_pkcs12_profile(v1::PKCS12_PROFILE_MODERN);
    CertificateRequest issued;
    grpc::Status s = Create(t, r, &issued);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(issued.state(), CertificateRequest::STATE_ISSUED)
        << issued.DebugString() << ServiceDiagnostics();
    ExpectVerifies(issued.certificate_pem());
    WriteFile(dir + "/p.cms", issued.enveloped_password());
    WriteFile(dir + "/c.p12", issued.pkcs12());
    CommandResult password = RunCommand({"openssl", "cms", "-decrypt", "-inform", "DER", "-in",
                                         dir + "/p.cms", "-recip", dir + "/delivery.pem",
                                         "-inkey", dir + "/delivery.key"});
    ASSERT_EQ(password.exit_code, 0) << password.err;
    CommandResult opened = RunCommand({"openssl", "pkcs12", "-in", dir + "/c.p12", "-passin",
                                       "pass:" + password.out, "-nodes"});
    ASSERT_EQ(opened.exit_code, 0) << opened.err;
    EXPECT_TRUE(absl::StrContains(opened.out, "PRIVATE KEY"));
    EXPECT_TRUE(absl::StrContains(opened.out, "win-keygen"));
  }

  // Killed mid-job: the CA answers slowly; the agent dies (SIGKILL of the Wine process =
  // TerminateProcess) while its Submit is with the CA, which then logs the request. The
  // restarted agent finds the job "started" in its journal and must look the request up
  // through ICertView (FindRequestByAttribute) instead of submitting it again.
  // The installed exe runs in the foreground for this (the service stopped: one agent per
  // state dir), so the test holds its process and log. The kill can land before the Submit
  // left the process (the journal entry is written just before the COM call); then the CA
  // never saw it and the attempt is repeated.
  ASSERT_TRUE(StopService()) << ServiceDiagnostics();
  std::vector<std::string> names;
  bool ca_got_orphan = false;
  std::string crash_log;
  for (int attempt = 0; attempt < 3 && !ca_got_orphan; ++attempt) {
    ASSERT_EQ(stack_->Officer(*emulator_, {"fault", "clear"}).exit_code, 0);
    std::unique_ptr<ChildProcess> agent = RunAgent(t, connector_id);
    ASSERT_NE(agent, nullptr);
    // A first certificate, so that the process's COM objects exist and the stand-in knows
    // the CA (otherwise the kill could land in that set-up, before any Submit).
    CertificateRequest warm;
    ASSERT_TRUE(Create(t, CsrRequest(t, NewCsr("CN=win-warm")), &warm).ok());
    ASSERT_EQ(warm.state(), CertificateRequest::STATE_ISSUED) << warm.DebugString() << agent->Log();
    ASSERT_EQ(stack_->Officer(*emulator_, {"fault", "set", "--latency-ms", "4000"}).exit_code, 0);
    v1::CreateCertificateRequestRequest r = CsrRequest(t, NewCsr("CN=win-crash"));
    r.mutable_wait_timeout()->set_seconds(0);
    CertificateRequest queued;
    ASSERT_TRUE(Create(t, r, &queued).ok());
    names.push_back(queued.name());
    ASSERT_TRUE(WaitUntil([&] { return JobInFlight(agent->Log()); }, absl::Seconds(30))) << agent->Log();
    agent->Signal(SIGKILL);
    ASSERT_TRUE(agent->WaitForExit(absl::Seconds(20)).has_value());
    crash_log = agent->Log();
    // The CA finishes the orphaned Submit after its latency.
    ca_got_orphan =
        WaitUntil([&] { return CaRequestsFor(queued.name()) == 1; }, absl::Seconds(15));
  }
  ASSERT_TRUE(ca_got_orphan) << "the CA never received a Submit from the killed agent\n"
                             << crash_log;
  ASSERT_EQ(stack_->Officer(*emulator_, {"fault", "clear"}).exit_code, 0);

  // The service takes over the journal: the orphan is found through ICertView, not
  // submitted again (with the lookup UNIMPLEMENTED the CA ends with two requests).
  ASSERT_TRUE(StartService()) << ServiceDiagnostics();
  for (const std::string& name : names) {
    ASSERT_TRUE(WaitUntil([&] { return Get(t, name).state() == CertificateRequest::STATE_ISSUED; },
                          absl::Seconds(120)))
        << Get(t, name).DebugString() << ServiceDiagnostics();
    ExpectVerifies(Get(t, name).certificate_pem());
    EXPECT_EQ(CaRequestsFor(name), 1) << name;
  }

  // Uninstall: the service is deleted, the exe removed. The service is stopped first: the
  // MSI's ServiceControl stops it without waiting (Wait="no"), and under Wine the exe of a
  // service still exiting was seen left behind (uninstalling a running service is
  // agent_msi_test's case).
  ASSERT_TRUE(StopService()) << ServiceDiagnostics();
  CommandResult uninstall = Wine({"msiexec", "/x", "C:\\certbridge-agent.msi", "/qn"});
  ASSERT_EQ(uninstall.exit_code, 0) << uninstall.out << uninstall.err;
  EXPECT_EQ(ServiceState(), "") << ServiceDiagnostics();
  EXPECT_FALSE(fs::exists(installed_exe_));
}

}  // namespace
}  // namespace certbridge::testing
