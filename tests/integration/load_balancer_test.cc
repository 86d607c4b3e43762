// Three broker replicas behind a real load balancer: Debian's haproxy in TCP mode, TLS
// passed through (the agent port checks client certificates itself, so only the broker can
// end TLS there; the API port goes through the same way). Agents and MDM-style callers know
// one address per port, haproxy's. One test, in phases:
//   1. scale-out: the agents connect while only replica 1 is in the agent backend; replicas
//      2 and 3 are then enabled (as Kubernetes adds a Ready pod to a Service). Streams must
//      spread by themselves: --max_connection_age (short here) makes each replica send Drain
//      on streams that reached it, the agent reconnects on a new connection and haproxy's
//      leastconn places it. With --max_connection_age=0 every stream stays on replica 1
//      and this phase fails;
//   2. SIGTERM to the replica holding the most streams, under load: calls waiting on it
//      (CreateCertificateRequest with wait_timeout, for a CA no agent serves) are answered
//      OK, it exits 0, and its agents are on the other replicas within seconds;
//      a replacement replica is started and put behind haproxy (runtime API);
//   3. SIGKILL to the replica holding the most streams, under load: the agents are back on
//      the two others within seconds.
// Afterwards every request the callers created is terminal and ISSUED, none is missing from
// the tenant's list, and the CA (adcs-emulator's own list) issued exactly one certificate
// per request. A summary with the measured times goes to stdout (docs/kubernetes.md quotes
// it).
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/pki/pki.h"
#include "tests/integration/test_stack.h"

namespace certbridge::testing {
namespace {

using v1::CertificateRequest;

constexpr int kReplicas = 3;
constexpr int kAgents = 6;
constexpr int kCallers = 3;
constexpr int kHeldCalls = 3;
constexpr absl::Duration kCallerPeriod = absl::Milliseconds(250);
// The agents must be back on the surviving replicas within this after a replica dies.
constexpr absl::Duration kAgentsBackDeadline = absl::Seconds(15);
constexpr absl::Duration kRebalanceDeadline = absl::Seconds(40);
constexpr absl::Duration kDrainDeadline = absl::Seconds(60);

const std::vector<std::string>& BrokerFlags() {
  static const std::vector<std::string> flags = {
      "--queue_timeout=60s",
      "--sweep_interval=1s",
      "--heartbeat_interval_seconds=2",
      "--job_lease=20s",
      // Production: 30 min and 1 min. Short here so that the scale-out phase takes seconds;
      // the mechanism is the same.
      "--max_connection_age=4s",
      "--max_connection_age_grace=1s",
      "--metrics_listen=127.0.0.1:0",
  };
  return flags;
}

std::string Seconds(absl::Duration d) { return absl::StrFormat("%.2fs", absl::ToDoubleSeconds(d)); }

// A TCP port on 127.0.0.1 that nothing listened on a moment ago. haproxy cannot take port 0
// and report what it got, so its ports are picked here; a clash (another process took the
// port in between) makes haproxy exit, and Haproxy::Start tries again with new ports.
int PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// Debian installs haproxy in /usr/sbin, which a non-root PATH may lack.
std::string HaproxyPath() {
  CommandResult r = RunCommand({"sh", "-c", "command -v haproxy || command -v /usr/sbin/haproxy"});
  return std::string(absl::StripAsciiWhitespace(r.out));
}

bool Accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// haproxy (Debian's) in front of the replicas: an agent frontend and an API frontend, TCP
// mode (TLS passes through), leastconn, health checks every 500 ms, redispatch on a refused
// connection. Servers are named r1..rN in backends "agent" and "api"; the runtime API on a
// unix socket in the test dir enables, disables and re-addresses them.
class Haproxy {
 public:
  struct Server {
    int agent_port;
    int api_port;
    bool agent_enabled;
  };

  static absl::StatusOr<std::unique_ptr<Haproxy>> Start(const std::string& dir,
                                                        const std::vector<Server>& servers) {
    std::string last_log;
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::unique_ptr<Haproxy> h(new Haproxy());
      h->socket_path_ = dir + "/haproxy.sock";
      h->agent_port_ = PickFreePort();
      h->api_port_ = PickFreePort();
      if (h->agent_port_ == 0 || h->api_port_ == 0 || h->agent_port_ == h->api_port_) continue;
      const std::string config = dir + "/haproxy.cfg";
      {
        std::ofstream out(config);
        out << h->Config(servers);
      }
      CommandResult check = RunCommand({HaproxyPath(), "-c", "-q", "-f", config});
      if (check.exit_code != 0) {
        return absl::InternalError(absl::StrCat("haproxy -c refused the config: ", check.out,
                                                check.err));
      }
      auto process = ChildProcess::Start({HaproxyPath(), "-db", "-f", config},
                                         absl::StrCat(dir, "/haproxy", attempt, ".log"));
      if (!process.ok()) return process.status();
      h->process_ = *std::move(process);
      const bool up = WaitUntil(
          [&] {
            return !h->process_->Running() ||
                   (Accepts(h->agent_port_) && Accepts(h->api_port_) &&
                    access(h->socket_path_.c_str(), F_OK) == 0);
          },
          absl::Seconds(10));
      if (up && h->process_->Running()) return h;
      last_log = h->process_->Log();
    }
    return absl::UnavailableError(absl::StrCat("haproxy did not start; its log:\n", last_log));
  }

  ~Haproxy() {
    if (process_ != nullptr && process_->Running()) {
      process_->Signal(SIGTERM);
      process_->WaitForExit(absl::Seconds(5));
    }
  }

  int agent_port() const { return agent_port_; }
  int api_port() const { return api_port_; }
  std::string api_address() const { return absl::StrCat("127.0.0.1:", api_port_); }

  // One runtime API command ("show servers state", "set server agent/r2 state ready");
  // returns haproxy's answer.
  absl::StatusOr<std::string> Command(const std::string& command) const {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return absl::InternalError("socket(AF_UNIX) failed");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path_.size() >= sizeof addr.sun_path) {
      close(fd);
      return absl::InvalidArgumentError("haproxy socket path too long");
    }
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path_.c_str());
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd);
      return absl::UnavailableError("cannot connect to haproxy's runtime API");
    }
    const std::string line = command + "\n";
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      close(fd);
      return absl::UnavailableError("cannot write to haproxy's runtime API");
    }
    std::string answer;
    char buffer[4096];
    for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) answer.append(buffer, n);
    close(fd);
    return answer;
  }

  // Points server rN of both backends at new ports and enables it.
  absl::Status Replace(int n, const Server& server) {
    for (const auto& [backend, port] :
         {std::pair<std::string, int>{"agent", server.agent_port}, {"api", server.api_port}}) {
      absl::StatusOr<std::string> a =
          Command(absl::StrCat("set server ", backend, "/r", n, " addr 127.0.0.1 port ", port));
      if (!a.ok()) return a.status();
      absl::StatusOr<std::string> b =
          Command(absl::StrCat("set server ", backend, "/r", n, " state ready"));
      if (!b.ok()) return b.status();
    }
    return absl::OkStatus();
  }

  bool Running() { return process_->Running(); }
  std::string Log() const { return process_->Log(); }

 private:
  Haproxy() = default;

  std::string Config(const std::vector<Server>& servers) const {
    std::ostringstream c;
    c << "global\n"
      << "  stats socket " << socket_path_ << " mode 600 level admin\n"
      << "  maxconn 2000\n"
      << "defaults\n"
      << "  mode tcp\n"
      << "  timeout connect 2s\n"
      // Longer than the broker's keepalive ping (60 s), as any load balancer in front of
      // it must be (AWS NLB: 350 s, Azure LB: 4 min; docs/kubernetes.md).
      << "  timeout client 5m\n"
      << "  timeout server 5m\n"
      << "  retries 3\n"
      << "  option redispatch\n"
      << "  default-server check inter 500ms fall 2 rise 1\n";
    for (const char* backend : {"agent", "api"}) {
      const bool agent = std::string(backend) == "agent";
      c << "frontend " << backend << "_in\n"
        << "  bind 127.0.0.1:" << (agent ? agent_port_ : api_port_) << "\n"
        << "  default_backend " << backend << "\n"
        << "backend " << backend << "\n"
        << "  balance leastconn\n";
      for (size_t i = 0; i < servers.size(); ++i) {
        c << "  server r" << i + 1 << " 127.0.0.1:"
          << (agent ? servers[i].agent_port : servers[i].api_port)
          << (agent && !servers[i].agent_enabled ? " disabled" : "") << "\n";
      }
    }
    return c.str();
  }

  std::unique_ptr<ChildProcess> process_;
  std::string socket_path_;
  int agent_port_ = 0;
  int api_port_ = 0;
};

// certbridge_connected_agents of one replica; -1 when it cannot be read.
int ConnectedAgents(const BrokerProcess& broker) {
  CommandResult r = RunCommand(
      {"curl", "-sf", "--max-time", "2",
       absl::StrCat("http://127.0.0.1:", broker.metrics_port, "/metrics")});
  if (r.exit_code != 0) return -1;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (absl::ConsumePrefix(&line, "certbridge_connected_agents ")) {
      double value = 0;
      if (absl::SimpleAtod(line, &value)) return static_cast<int>(value);
    }
  }
  return -1;
}

struct Tracked {
  std::string name;
  int create_attempts = 0;
  CertificateRequest::State state = CertificateRequest::STATE_UNSPECIFIED;
  std::string error_code;
  std::string serial;
};

class LoadBalancerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(HaproxyPath().empty())
        << "haproxy is not installed (tools/install-deps.sh installs it)";
    auto stack = TestStack::Create();
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = *std::move(stack);
    std::vector<Haproxy::Server> servers;
    for (int i = 0; i < kReplicas; ++i) {
      auto broker = stack_->StartBroker(BrokerFlags());
      ASSERT_TRUE(broker.ok()) << broker.status();
      brokers_.push_back(*std::move(broker));
      // Only replica 1 takes agents at first: phase 1 adds the others.
      servers.push_back({brokers_.back().agent_port, brokers_.back().api_port, i == 0});
    }
    auto haproxy = Haproxy::Start(stack_->dir(), servers);
    ASSERT_TRUE(haproxy.ok()) << haproxy.status();
    haproxy_ = *std::move(haproxy);
    // What agents and callers know: haproxy's two ports.
    lb_.api_port = haproxy_->api_port();
    lb_.agent_port = haproxy_->agent_port();

    auto emulator =
        stack_->StartEmulator(ReadFileOrEmpty(SourcePath("agent/emulator/example-config.txtpb")));
    ASSERT_TRUE(emulator.ok()) << emulator.status();
    emulator_ = *std::move(emulator);

    absl::StatusOr<TestTenant> tenant = stack_->CreateTenant(lb_, "load-balancer");
    ASSERT_TRUE(tenant.ok()) << tenant.status();
    key_ = tenant->api_key;
    absl::StatusOr<std::string> ca =
        stack_->CreateCertificateAuthority(lb_, key_, "adcs01.corp.example\\Corp Issuing CA");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_id_ = *ca;
    // A CA no agent serves: a create for it waits its whole wait_timeout, so the drain
    // phase has calls in flight on the replica it stops.
    ca = stack_->CreateCertificateAuthority(lb_, key_, "adcs02.corp.example\\Parked CA");
    ASSERT_TRUE(ca.ok()) << ca.status();
    parked_ca_id_ = *ca;

    for (int i = 0; i < kAgents; ++i) {
      auto registered = stack_->RegisterAgent(lb_, key_, absl::StrCat("CORP\\AGENT0", i, "$"));
      ASSERT_TRUE(registered.ok()) << registered.status();
      absl::Status assigned =
          stack_->AssignCertificateAuthority(lb_, key_, ca_id_, registered->connector_id);
      ASSERT_TRUE(assigned.ok()) << assigned;
      auto agent = stack_->StartAgent(
          *registered, emulator_,
          {"--backoff-base-ms", "200", "--backoff-max-ms", "2000", "--max-concurrent-jobs", "4"});
      ASSERT_TRUE(agent.ok()) << agent.status();
      agents_.push_back(*std::move(agent));
    }
  }

  void TearDown() override {
    StopCallers();
    agents_.clear();
    haproxy_.reset();
    emulator_.process.reset();
    brokers_.clear();
    stack_.reset();
  }

  std::vector<int> Distribution() {
    std::vector<int> d;
    for (BrokerProcess& b : brokers_) d.push_back(b.process->Running() ? ConnectedAgents(b) : 0);
    return d;
  }
  std::string DistributionText(const std::vector<int>& d) { return absl::StrJoin(d, "/"); }
  // True when the replicas other than `except` hold every agent's stream between them.
  bool AllAgentsOnOthers(size_t except, std::vector<int>* d) {
    *d = Distribution();
    int sum = 0;
    for (size_t i = 0; i < d->size(); ++i) {
      if (i == except) continue;
      if ((*d)[i] < 0) return false;
      sum += (*d)[i];
    }
    return sum == kAgents;
  }
  size_t Busiest() {
    std::vector<int> d = Distribution();
    return std::max_element(d.begin(), d.end()) - d.begin();
  }

  std::unique_ptr<v1::CertificateService::Stub> StubFor(const std::string& address) const {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ReadFileOrEmpty(stack_->pki("tls-ca.pem"));
    return v1::CertificateService::NewStub(
        grpc::CreateChannel(address, grpc::SslCredentials(tls)));
  }

  v1::CreateCertificateRequestRequest NewRequest(const std::string& request_id,
                                                 const std::string& ca_id,
                                                 absl::Duration wait) const {
    v1::CreateCertificateRequestRequest r;
    r.set_request_id(request_id);
    r.set_ca_id(ca_id);
    r.set_template_name("CertbridgeDevice");
    r.set_csr_pem(NewCsrPem(absl::StrCat("CN=", request_id, ",O=LoadBalancer")));
    r.mutable_wait_timeout()->set_seconds(absl::ToInt64Seconds(wait));
    return r;
  }

  // An MDM back end: one channel to the load balancer's address, a request every period,
  // the same request_id again after any error until it is accepted.
  void CallerLoop(int caller) {
    auto stub = StubFor(haproxy_->api_address());
    for (int n = 0; !stop_callers_.load(); ++n) {
      const absl::Time started = absl::Now();
      v1::CreateCertificateRequestRequest r =
          NewRequest(absl::StrCat("lb-c", caller, "-", n), ca_id_, absl::Seconds(2));
      const absl::Time give_up = absl::Now() + absl::Seconds(60);
      for (;;) {
        CertificateRequest out;
        grpc::Status s =
            stub->CreateCertificateRequest(CallContext(key_, absl::Seconds(10)).get(), r, &out);
        absl::MutexLock lock(&mu_);
        Tracked& t = ledger_[r.request_id()];
        ++t.create_attempts;
        if (s.ok()) {
          t.name = out.name();
          t.state = out.state();
          break;
        }
        ++create_errors_[s.error_code()];
        if (absl::Now() > give_up) {
          ADD_FAILURE() << "request " << r.request_id() << " never accepted in 60 s: "
                        << s.error_message();
          return;
        }
      }
      const absl::Duration rest = kCallerPeriod - (absl::Now() - started);
      if (rest > absl::ZeroDuration() && !stop_callers_.load()) absl::SleepFor(rest);  // pacing
    }
  }
  void StartCallers() {
    for (int i = 0; i < kCallers; ++i) callers_.emplace_back([this, i] { CallerLoop(i); });
  }
  void StopCallers() {
    stop_callers_ = true;
    for (std::thread& t : callers_) t.join();
    callers_.clear();
  }
  int Accepted() {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& [id, t] : ledger_) n += t.name.empty() ? 0 : 1;
    return n;
  }

  std::unique_ptr<TestStack> stack_;
  std::vector<BrokerProcess> brokers_;
  std::unique_ptr<Haproxy> haproxy_;
  BrokerProcess lb_;  // ports only: haproxy's
  EmulatorProcessHandle emulator_;
  std::vector<std::unique_ptr<ChildProcess>> agents_;
  std::string key_;
  std::string ca_id_;
  std::string parked_ca_id_;
  std::vector<std::thread> callers_;
  std::atomic<bool> stop_callers_{false};
  absl::Mutex mu_;
  std::map<std::string, Tracked> ledger_ ABSL_GUARDED_BY(mu_);
  std::map<grpc::StatusCode, int> create_errors_ ABSL_GUARDED_BY(mu_);
};

TEST_F(LoadBalancerTest, StreamsSpreadAndEveryRequestIssuesOnceThroughSigtermAndSigkill) {
  std::ostringstream summary;
  summary << "\n=== load balancer test summary (haproxy, TCP passthrough, " << kReplicas
          << " replicas, " << kAgents << " agents, --max_connection_age=4s grace 1s) ===\n";
  std::vector<int> d;
  ASSERT_TRUE(WaitUntil([&] { return AllAgentsOnOthers(kReplicas, &d) && d[0] == kAgents; },
                        absl::Seconds(30)))
      << "agents not all on replica 1: " << DistributionText(d);

  // 1. Scale-out: replicas 2 and 3 join the agent backend.
  {
    const absl::Time start = absl::Now();
    for (int n = 2; n <= kReplicas; ++n) {
      auto answer = haproxy_->Command(absl::StrCat("set server agent/r", n, " state ready"));
      ASSERT_TRUE(answer.ok()) << answer.status();
    }
    const bool spread = WaitUntil(
        [&] {
          if (!AllAgentsOnOthers(kReplicas, &d)) return false;
          return *std::min_element(d.begin(), d.end()) >= 1;
        },
        kRebalanceDeadline);
    ASSERT_TRUE(spread) << "streams did not spread over the replicas in " << kRebalanceDeadline
                        << ": " << DistributionText(d);
    // Moved by the broker's Drain at the stream's age, not cut by the transport's backstop.
    int aged_out = 0, drains_seen = 0;
    for (BrokerProcess& b : brokers_) {
      for (absl::string_view line : absl::StrSplit(b.process->Log(), '\n')) {
        aged_out += absl::StrContains(line, "\"agent.stream_aged_out\"") ? 1 : 0;
      }
    }
    for (auto& agent : agents_) {
      for (absl::string_view line : absl::StrSplit(agent->Log(), '\n')) {
        drains_seen += absl::StrContains(line, "\"agent.drain_requested\"") ? 1 : 0;
      }
    }
    EXPECT_GE(aged_out, 1) << "no broker logged agent.stream_aged_out";
    EXPECT_GE(drains_seen, 1) << "no agent logged agent.drain_requested";
    summary << "scale-out 1 -> " << kReplicas << " replicas: every replica holds streams after "
            << Seconds(absl::Now() - start) << " (agents per replica " << DistributionText(d)
            << "); " << aged_out << " streams aged out with Drain, " << drains_seen
            << " Drains seen by agents\n";
  }

  StartCallers();
  ASSERT_TRUE(WaitUntil([&] { return Accepted() >= 10; }, absl::Seconds(30)))
      << "the callers get no request accepted through haproxy";

  // 2. SIGTERM to the busiest replica with calls waiting on it.
  {
    const size_t victim = Busiest();
    const int victim_agents = Distribution()[victim];
    // A fresh connection: the API port's GOAWAY for age (4 s + 1 s grace here) must not
    // be what ends these calls; the time to SIGTERM is in the failure message.
    const absl::Time held_start = absl::Now();
    auto stub = StubFor(brokers_[victim].api_address());
    std::vector<grpc::Status> held_status(kHeldCalls);
    std::vector<CertificateRequest> held(kHeldCalls);
    std::vector<std::thread> held_calls;
    for (int i = 0; i < kHeldCalls; ++i) {
      held_calls.emplace_back([&, i] {
        held_status[i] = stub->CreateCertificateRequest(
            CallContext(key_, absl::Seconds(40)).get(),
            NewRequest(absl::StrCat("lb-held-", i), parked_ca_id_, absl::Seconds(30)), &held[i]);
      });
    }
    // In flight: the requests exist (each call stored its request, then waits).
    auto admin_api = StubFor(haproxy_->api_address());
    ASSERT_TRUE(WaitUntil(
        [&] {
          v1::ListCertificateRequestsRequest list;
          list.set_page_size(500);
          v1::ListCertificateRequestsResponse page;
          if (!admin_api->ListCertificateRequests(CallContext(key_).get(), list, &page).ok()) {
            return false;
          }
          int found = 0;
          for (const CertificateRequest& r : page.certificate_requests()) {
            found += absl::StartsWith(r.request_id(), "lb-held-") ? 1 : 0;
          }
          return found == kHeldCalls;
        },
        absl::Seconds(20)));
    const absl::Time term = absl::Now();
    brokers_[victim].process->Signal(SIGTERM);
    for (std::thread& t : held_calls) t.join();
    const absl::Duration held_answered = absl::Now() - term;
    for (int i = 0; i < kHeldCalls; ++i) {
      EXPECT_TRUE(held_status[i].ok())
          << "call waiting on the draining replica: " << held_status[i].error_code() << " "
          << held_status[i].error_message() << " (SIGTERM " << Seconds(term - held_start)
          << " after the calls' connection was made)";
      EXPECT_EQ(held[i].state(), CertificateRequest::STATE_QUEUED);
    }
    EXPECT_LT(held_answered, absl::Seconds(5)) << "waiting calls were not answered at drain";
    std::optional<int> exit_code = brokers_[victim].process->WaitForExit(absl::Seconds(15));
    ASSERT_TRUE(exit_code.has_value()) << "the replica did not stop within 15 s of SIGTERM";
    EXPECT_EQ(*exit_code, 0) << brokers_[victim].process->Log();
    const absl::Duration stopped = absl::Now() - term;
    ASSERT_TRUE(WaitUntil([&] { return AllAgentsOnOthers(victim, &d); }, kAgentsBackDeadline))
        << "agents not back on the other replicas " << kAgentsBackDeadline
        << " after SIGTERM: " << DistributionText(d);
    summary << "SIGTERM to replica " << victim + 1 << " (" << victim_agents
            << " streams): waiting calls answered OK after " << Seconds(held_answered)
            << ", exited 0 after " << Seconds(stopped) << ", every agent on the others after "
            << Seconds(absl::Now() - term) << " (" << DistributionText(d) << ")\n";
    // The held requests are not the callers' and no agent serves their CA: cancel them.
    for (const CertificateRequest& r : held) {
      v1::CancelCertificateRequestRequest cancel;
      cancel.set_name(r.name());
      CertificateRequest out;
      EXPECT_TRUE(admin_api->CancelCertificateRequest(CallContext(key_).get(), cancel, &out).ok());
    }

    // A replacement (as the Deployment would start), behind haproxy on its new ports.
    auto broker = stack_->StartBroker(BrokerFlags());
    ASSERT_TRUE(broker.ok()) << broker.status();
    brokers_[victim] = *std::move(broker);
    ASSERT_TRUE(haproxy_
                    ->Replace(static_cast<int>(victim) + 1,
                              {brokers_[victim].agent_port, brokers_[victim].api_port, true})
                    .ok());
    ASSERT_TRUE(WaitUntil([&] { return AllAgentsOnOthers(kReplicas, &d) && d[victim] >= 1; },
                          kRebalanceDeadline))
        << "no stream reached the replacement replica: " << DistributionText(d);
  }

  // 3. SIGKILL to the busiest replica under load.
  {
    const size_t victim = Busiest();
    const int victim_agents = Distribution()[victim];
    const int accepted_before = Accepted();
    const absl::Time kill = absl::Now();
    brokers_[victim].process->Signal(SIGKILL);
    brokers_[victim].process->WaitForExit(absl::Seconds(10));
    ASSERT_TRUE(WaitUntil([&] { return AllAgentsOnOthers(victim, &d); }, kAgentsBackDeadline))
        << "agents not back on the other replicas " << kAgentsBackDeadline
        << " after SIGKILL: " << DistributionText(d);
    const absl::Duration back = absl::Now() - kill;
    // And the callers go on through the same address.
    ASSERT_TRUE(WaitUntil([&] { return Accepted() >= accepted_before + 10; }, absl::Seconds(30)));
    summary << "SIGKILL to replica " << victim + 1 << " (" << victim_agents
            << " streams): every agent on the others after " << Seconds(back) << " ("
            << DistributionText(d) << ")\n";
  }
  StopCallers();

  // Every accepted request terminal; ISSUED is the only outcome these faults allow.
  auto api = StubFor(haproxy_->api_address());
  std::map<std::string, Tracked> ledger;
  std::map<grpc::StatusCode, int> errors;
  {
    absl::MutexLock lock(&mu_);
    ledger = ledger_;
    errors = create_errors_;
  }
  const absl::Time drain_start = absl::Now();
  std::set<std::string> open;
  for (const auto& [id, t] : ledger) {
    ASSERT_FALSE(t.name.empty()) << id << " never accepted";
    open.insert(id);
  }
  const bool drained = WaitUntil(
      [&] {
        for (auto it = open.begin(); it != open.end();) {
          v1::GetCertificateRequestRequest get;
          get.set_name(ledger[*it].name);
          CertificateRequest r;
          if (api->GetCertificateRequest(CallContext(key_).get(), get, &r).ok() &&
              IsTerminal(r.state())) {
            ledger[*it].state = r.state();
            ledger[*it].error_code = r.error_code();
            ledger[*it].serial = r.serial_number();
            it = open.erase(it);
          } else {
            ++it;
          }
        }
        return open.empty();
      },
      kDrainDeadline);
  EXPECT_TRUE(drained) << open.size() << " request(s) not terminal, e.g. " << *open.begin();
  int issued = 0;
  for (const auto& [id, t] : ledger) {
    if (t.state == CertificateRequest::STATE_ISSUED) {
      ++issued;
    } else if (IsTerminal(t.state)) {
      ADD_FAILURE() << id << " ended " << CertificateRequest::State_Name(t.state) << " "
                    << t.error_code;
    }
  }

  // None lost: the tenant's list holds every accepted request.
  std::set<std::string> listed;
  {
    v1::ListCertificateRequestsRequest list;
    list.set_page_size(500);
    for (;;) {
      v1::ListCertificateRequestsResponse page;
      grpc::Status s = api->ListCertificateRequests(CallContext(key_).get(), list, &page);
      ASSERT_TRUE(s.ok()) << s.error_message();
      for (const CertificateRequest& r : page.certificate_requests()) listed.insert(r.request_id());
      if (page.next_page_token().empty()) break;
      list.set_page_token(page.next_page_token());
    }
  }
  for (const auto& [id, t] : ledger) EXPECT_EQ(listed.count(id), 1u) << id << " not listed";

  // None issued twice, counted by the CA itself.
  CommandResult ca_list = stack_->Officer(emulator_, {"--timeout", "60", "list"});
  ASSERT_EQ(ca_list.exit_code, 0) << ca_list.err;
  std::map<std::string, std::vector<std::string>> ca_issued;  // request name -> serials
  for (absl::string_view line : absl::StrSplit(ca_list.out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields = absl::StrSplit(line, '\t');
    if (fields.size() < 6 || fields[1] != "3") continue;  // disposition 3: issued
    for (absl::string_view attribute : absl::StrSplit(fields[5], "; ")) {
      if (absl::ConsumePrefix(&attribute, "CertbridgeRequestId:")) {
        ca_issued[std::string(attribute)].push_back(fields[3]);
      }
    }
  }
  int duplicates = 0;
  for (const auto& [id, t] : ledger) {
    auto it = ca_issued.find(t.name);
    if (t.state != CertificateRequest::STATE_ISSUED) continue;
    if (it == ca_issued.end()) {
      ADD_FAILURE() << id << " is ISSUED but the CA holds no certificate for it";
      continue;
    }
    duplicates += static_cast<int>(it->second.size()) - 1;
    EXPECT_EQ(it->second.size(), 1u) << id << " issued " << it->second.size() << " times";
    EXPECT_TRUE(absl::EqualsIgnoreCase(it->second[0], t.serial)) << id;
  }
  EXPECT_EQ(ca_issued.size(), static_cast<size_t>(issued))
      << "the CA issued for requests certbridge does not show ISSUED";

  summary << "callers: " << ledger.size() << " requests, " << issued << " ISSUED, "
          << open.size() << " still open after drain (" << Seconds(absl::Now() - drain_start)
          << "), duplicates at the CA " << duplicates << "; create errors retried:";
  for (const auto& [code, n] : errors) summary << " code " << code << "=" << n;
  summary << "\n";
  std::cout << summary.str() << std::flush;
}

}  // namespace
}  // namespace certbridge::testing
