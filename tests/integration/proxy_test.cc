// The agent behind an outbound HTTP proxy (`--proxy`, HTTP CONNECT), with a real tinyproxy
// (Debian's), the broker, adcs-emulator and PostgreSQL: the agent registers with --proxy,
// runs with the proxy saved in agent.conf, connects and gets a certificate issued through
// the proxy, and it is the proxy that carries the
// stream: when the proxy dies the agent loses the broker, and it comes back through the
// proxy when the proxy does.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/pki/pki.h"
#include "tests/integration/test_stack.h"

namespace certbridge::testing {
namespace {

constexpr char kTinyproxy[] = "/usr/bin/tinyproxy";

// A port that was free a moment ago: tinyproxy has no "Port 0". StartTinyproxy retries
// with another one if it was taken in between.
int UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

bool Accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

int CountOf(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

struct Tinyproxy {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
  std::string log_path;
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port); }
  std::string Log() const { return ReadFileOrEmpty(log_path); }
};

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(access(kTinyproxy, X_OK), 0)
        << kTinyproxy << " is missing: run tools/install-deps.sh (Debian package tinyproxy)";
    auto stack = TestStack::Create();
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = *std::move(stack);
    auto broker = stack_->StartBroker({"--heartbeat_interval_seconds=2"});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = *std::move(broker);
    auto emulator =
        stack_->StartEmulator(ReadFileOrEmpty(SourcePath("agent/emulator/example-config.txtpb")));
    ASSERT_TRUE(emulator.ok()) << emulator.status();
    emulator_ = *std::move(emulator);
    admin_ = stack_->AdminStub(broker_);
  }

  // tinyproxy in the foreground, on `port` (0: a new one), logging every CONNECT to a file
  // of its own. Appends to the log of an earlier run on the same port.
  absl::StatusOr<Tinyproxy> StartTinyproxy(int port = 0) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      Tinyproxy proxy;
      proxy.port = port != 0 ? port : UnusedPort();
      proxy.log_path = absl::StrCat(stack_->dir(), "/tinyproxy-", proxy.port, ".log");
      const std::string conf = absl::StrCat(stack_->dir(), "/tinyproxy-", proxy.port, ".conf");
      // No ConnectPort line: CONNECT to any port (the broker's is random here). Timeout
      // above the agent's 30 s keepalive, so the idle tunnel stays up.
      std::ofstream(conf) << "Port " << proxy.port << "\nListen 127.0.0.1\nTimeout 600\n"
                          << "LogLevel Connect\nLogFile \"" << proxy.log_path << "\"\n"
                          << "MaxClients 20\n";
      auto process = ChildProcess::Start({kTinyproxy, "-d", "-c", conf}, proxy.log_path + ".out");
      if (!process.ok()) return process.status();
      proxy.process = *std::move(process);
      if (WaitUntil([&] { return !proxy.process->Running() || Accepts(proxy.port); },
                    absl::Seconds(10)) &&
          proxy.process->Running()) {
        return proxy;
      }
      if (port != 0) break;  // a fixed port that is taken: no other choice
    }
    return absl::InternalError("tinyproxy did not start listening");
  }

  v1::Connector::Connectivity Connectivity(const std::string& key, const std::string& connector) {
    v1::GetConnectorRequest get;
    get.set_connector_id(connector);
    v1::Connector c;
    if (!admin_->GetConnector(CallContext(key).get(), get, &c).ok()) {
      return v1::Connector::CONNECTIVITY_UNSPECIFIED;
    }
    return c.connectivity();
  }

  std::unique_ptr<TestStack> stack_;
  BrokerProcess broker_;
  EmulatorProcessHandle emulator_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

TEST_F(ProxyTest, AgentRegistersConnectsAndIssuesOnlyThroughTheProxy) {
  // A tenant with an API key and the emulator's CA.
  absl::StatusOr<TestTenant> tenant = stack_->CreateTenant(broker_, "behind a proxy");
  ASSERT_TRUE(tenant.ok()) << tenant.status();
  const std::string& key = tenant->api_key;
  absl::StatusOr<std::string> ca_id =
      stack_->CreateCertificateAuthority(broker_, key, "adcs01.corp.example\\Corp Issuing CA");
  ASSERT_TRUE(ca_id.ok()) << ca_id.status();

  absl::StatusOr<Tinyproxy> proxy = StartTinyproxy();
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  // The broker by name, as a customer would configure it; the proxy resolves the name
  // (gRPC sends it in the CONNECT unresolved).
  const std::string broker_name = absl::StrCat("localhost:", broker_.agent_port);
  const std::string connect_line = absl::StrCat("CONNECT ", broker_name, " HTTP/1.1");

  auto agent = stack_->RegisterAgent(broker_, key, "CORP\\PROXIED01$",
                                     {"--broker", broker_name, "--proxy", proxy->url()});
  ASSERT_TRUE(agent.ok()) << agent.status() << "\nproxy log:\n" << proxy->Log();
  const int connects_after_registration = CountOf(proxy->Log(), connect_line);
  EXPECT_GE(connects_after_registration, 1) << proxy->Log();

  absl::Status assigned =
      stack_->AssignCertificateAuthority(broker_, key, *ca_id, agent->connector_id);
  ASSERT_TRUE(assigned.ok()) << assigned;
  // `run` without --proxy: `register --proxy` saved it in agent.conf (as the MSI's service,
  // whose command line has no --proxy, relies on).
  EXPECT_TRUE(absl::StrContains(ReadFileOrEmpty(agent->state_dir + "/agent.conf"),
                                absl::StrCat("\nproxy=", proxy->url(), "\n")));
  auto run = stack_->StartAgent(*agent, emulator_, {"--backoff-max-ms", "1000"});
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_TRUE(WaitUntil(
      [&] { return Connectivity(key, agent->connector_id) == v1::Connector::CONNECTIVITY_CONNECTED; },
      absl::Seconds(30)))
      << (*run)->Log() << "\nproxy log:\n" << proxy->Log();
  EXPECT_GT(CountOf(proxy->Log(), connect_line), connects_after_registration) << proxy->Log();
  EXPECT_TRUE(absl::StrContains((*run)->Log(), absl::StrCat("\"proxy\":\"", proxy->url(), "\"")))
      << (*run)->Log();

  // A certificate, issued by the CA through the agent behind the proxy.
  auto device_key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  ASSERT_TRUE(device_key.ok());
  auto csr = pki::CreateCsrPem(*device_key, {"CN=device-behind-proxy", {}});
  ASSERT_TRUE(csr.ok()) << csr.status();
  v1::CreateCertificateRequestRequest request;
  request.set_request_id("proxied-1");
  request.set_ca_id(*ca_id);
  request.set_template_name("CertbridgeDevice");
  request.set_csr_pem(*csr);
  request.mutable_wait_timeout()->set_seconds(30);
  v1::CertificateRequest issued;
  grpc::Status s = stack_->CertificateStub(broker_)->CreateCertificateRequest(
      CallContext(key, absl::Seconds(60)).get(), request, &issued);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(issued.state(), v1::CertificateRequest::STATE_ISSUED) << issued.DebugString() << (*run)->Log();
  const std::string cert_path = stack_->dir() + "/proxied.pem";
  std::ofstream(cert_path) << issued.certificate_pem();
  CommandResult verify =
      RunCommand({"openssl", "verify", "-CAfile", emulator_.ca_cert_path(), cert_path});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  // The stream runs through the proxy: without it the agent loses the broker (a direct
  // connection would not notice)...
  const int port = proxy->port;
  proxy->process->Signal(SIGKILL);
  proxy->process->WaitForExit(absl::Seconds(10));
  EXPECT_TRUE(WaitUntil(
      [&] { return Connectivity(key, agent->connector_id) == v1::Connector::CONNECTIVITY_DISCONNECTED; },
      absl::Seconds(30)))
      << (*run)->Log();
  // ...and comes back through the proxy when the proxy does.
  const int connects_before_restart = CountOf(proxy->Log(), connect_line);
  absl::StatusOr<Tinyproxy> restarted = StartTinyproxy(port);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  EXPECT_TRUE(WaitUntil(
      [&] { return Connectivity(key, agent->connector_id) == v1::Connector::CONNECTIVITY_CONNECTED; },
      absl::Seconds(30)))
      << (*run)->Log();
  EXPECT_GT(CountOf(restarted->Log(), connect_line), connects_before_restart) << restarted->Log();
}

TEST(ProxyFlagTest, AgentRefusesAProxyItCannotUse) {
  for (const char* bad : {"proxy.corp:3128", "https://proxy.corp:3128", "http://proxy.corp",
                          "http://user:secret@proxy.corp:3128", "http://proxy.corp:3128/path"}) {
    CommandResult r = RunCommand(
        {BuildPath("bin/certbridge-agent"), "run", "--state-dir", "/nonexistent", "--proxy", bad});
    EXPECT_EQ(r.exit_code, 2) << bad << "\n" << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, "expected http://HOST:PORT")) << bad << "\n" << r.err;
    EXPECT_FALSE(absl::StrContains(r.err, "secret")) << r.err;  // never echoed
  }
}

}  // namespace
}  // namespace certbridge::testing
