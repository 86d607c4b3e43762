// Chaos suite with real processes. MDM-style callers create certificate requests in CSR
// mode through the public gRPC API (round robin over two broker replicas, retrying the
// same request_id on errors as an MDM must), while the test, one fault at a time:
//   1. kills PostgreSQL with SIGKILL (postmaster and backends), holds it down, restarts it
//      on the same port and data directory: the brokers must reconnect by themselves;
//   2. kills adcs-emulator with SIGKILL and restarts it on its state dir and port;
//   3. kills the agent with SIGKILL and restarts it on its state dir;
//   4. kills the broker replica that holds the agent's stream: the agent (through a
//      failover TCP proxy, as a load balancer would) and the callers move to the other
//      replica; the killed one is then started again;
//   5. partitions the agent from the brokers: the proxy closes every connection and
//      refuses new ones for a while, then accepts again.
// After each fault, a probe request measures the time until a request created after the
// fault ends is ISSUED. Afterwards:
//   - every request the callers created reaches a terminal state within a deadline;
//     acceptable terminal states: ISSUED; FAILED only as "CA unreachable after the retry
//     budget" (HRESULT 0x800706BA, the emulator down longer than the retries cover);
//     EXPIRED only as CONNECTORS_DISCONNECTED (the agent away longer than queue_timeout).
//     Anything else (DENIED, CANCELLED, REVOKED, other codes, no reason) fails the test.
//     With the fault lengths here both allowed failures are far outside the budgets, so
//     they are counted and printed, not expected;
//   - none is lost: every request_id whose create returned OK is found, by name and in
//     the tenant's list, and the list holds nothing the callers did not ask for;
//   - duplicates: the emulator's own request list (adcs-emulator officer list) is counted
//     per certbridge request: exactly one issued certificate per ISSUED request, none for
//     the others, and its serial is the one the broker returned;
//   - a sample of certificates verifies with `openssl verify` against the emulator's CA.
// A summary (faults with their times and recovery, counts, duplicates) goes to stdout.
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
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/pki/pki.h"
#include "tests/integration/test_stack.h"
#include "tests/support/tcp_proxy.h"

namespace certbridge::testing {
namespace {

using v1::CertificateRequest;

constexpr int kCallers = 4;
// Each caller starts at most one request per this period: ~16 requests/s in total, enough
// to have work in flight at every fault without taking the two CPUs from other tests.
constexpr absl::Duration kCallerPeriod = absl::Milliseconds(250);
constexpr absl::Duration kSteadyBetweenFaults = absl::Seconds(3);
constexpr absl::Duration kRecoveryDeadline = absl::Seconds(60);
constexpr absl::Duration kDrainDeadline = absl::Seconds(90);
constexpr uint32_t kCaUnreachable = 0x800706BA;
constexpr int kVerifySample = 12;

const std::vector<std::string>& BrokerFlags() {
  static const std::vector<std::string> flags = {
      // Longer than any outage below, so that waiting for a connector never expires.
      "--queue_timeout=90s",
      "--sweep_interval=1s",
      "--heartbeat_interval_seconds=2",
      // A SUBMIT whose agent vanished without coming back is offered again after this.
      "--job_lease=30s",
  };
  return flags;
}

std::string Seconds(absl::Duration d) { return absl::StrFormat("%.2fs", absl::ToDoubleSeconds(d)); }

// The API addresses callers spread their calls over; replaced when a replica restarts.
class ApiEndpoints {
 public:
  void Set(std::vector<std::string> addresses) {
    absl::MutexLock lock(&mu_);
    addresses_ = std::move(addresses);
    ++version_;
  }
  std::vector<std::string> Get(int* version) const {
    absl::MutexLock lock(&mu_);
    *version = version_;
    return addresses_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> addresses_ ABSL_GUARDED_BY(mu_);
  int version_ ABSL_GUARDED_BY(mu_) = 0;
};

// Every request a caller or probe asked for, by request_id.
struct Tracked {
  std::string request_id;
  std::string name;  // set once a create returned OK
  bool probe = false;
  int create_attempts = 0;
  CertificateRequest::State state = CertificateRequest::STATE_UNSPECIFIED;
  std::string error_code;
  std::string error_message;
  uint32_t hresult = 0;
  std::string serial;
};

class Ledger {
 public:
  void Attempt(const std::string& request_id, bool probe) {
    absl::MutexLock lock(&mu_);
    Tracked& t = by_id_[request_id];
    t.request_id = request_id;
    t.probe = probe;
    ++t.create_attempts;
  }
  void Update(const std::string& request_id, const CertificateRequest& r) {
    absl::MutexLock lock(&mu_);
    Tracked& t = by_id_[request_id];
    t.name = r.name();
    t.state = r.state();
    t.error_code = r.error_code();
    t.error_message = r.error_message();
    t.hresult = r.hresult();
    t.serial = r.serial_number();
  }
  void CountError(grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    ++errors_[code];
  }
  std::map<std::string, Tracked> Snapshot() const {
    absl::MutexLock lock(&mu_);
    return by_id_;
  }
  std::map<grpc::StatusCode, int> Errors() const {
    absl::MutexLock lock(&mu_);
    return errors_;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, Tracked> by_id_ ABSL_GUARDED_BY(mu_);
  std::map<grpc::StatusCode, int> errors_ ABSL_GUARDED_BY(mu_);
};

struct FaultRecord {
  std::string what;
  absl::Duration at;         // since the load started
  absl::Duration held;       // from the fault to its end (restart / restore)
  absl::Duration recovery;   // from the end of the fault to a new request ISSUED
  std::string note;
};

class ChaosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto stack = TestStack::Create();
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = *std::move(stack);
    // The test server runs with synchronous_commit = off (fast, and safe while only
    // processes die). A PostgreSQL crash then loses commits already acknowledged; the
    // broker's promise (an OK create is never lost) needs the default, on, as production
    // has it. fsync stays off: the machine does not crash here, only processes do.
    const std::string dsn = stack_->dsn();
    const std::string database = dsn.substr(dsn.rfind('/') + 1);
    ASSERT_TRUE(PostgresServer::Execute(
                    dsn, absl::StrCat("ALTER DATABASE ", database, " SET synchronous_commit = on"))
                    .ok());

    for (BrokerProcess* b : {&broker1_, &broker2_}) {
      auto broker = stack_->StartBroker(BrokerFlags());
      ASSERT_TRUE(broker.ok()) << broker.status();
      *b = *std::move(broker);
    }
    emulator_config_ = ReadFileOrEmpty(SourcePath("agent/emulator/example-config.txtpb"));
    auto emulator = stack_->StartEmulator(emulator_config_);
    ASSERT_TRUE(emulator.ok()) << emulator.status();
    emulator_ = *std::move(emulator);
    endpoints_.Set({broker1_.api_address(), broker2_.api_address()});

    // The agent reaches the brokers through a proxy the test can cut, which sends each new
    // connection to the first replica that accepts it.
    auto proxy = TcpProxy::Start({broker1_.agent_address(), broker2_.agent_address()});
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    agent_proxy_ = *std::move(proxy);

    absl::StatusOr<TestTenant> tenant = stack_->CreateTenant(broker1_, "chaos");
    ASSERT_TRUE(tenant.ok()) << tenant.status();
    key_ = tenant->api_key;
    absl::StatusOr<std::string> ca =
        stack_->CreateCertificateAuthority(broker1_, key_, "adcs01.corp.example\\Corp Issuing CA");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_id_ = *ca;

    // Registered through the proxy: the agent's state dir names the proxy as its broker.
    BrokerProcess via_proxy;
    via_proxy.api_port = broker1_.api_port;
    via_proxy.agent_port = agent_proxy_->port();
    auto registered = stack_->RegisterAgent(via_proxy, key_, "CORP\\AGENT01$");
    ASSERT_TRUE(registered.ok()) << registered.status();
    registered_ = *std::move(registered);
    absl::Status assigned =
        stack_->AssignCertificateAuthority(broker1_, key_, ca_id_, registered_.connector_id);
    ASSERT_TRUE(assigned.ok()) << assigned;
    ASSERT_NO_FATAL_FAILURE(StartAgent());
  }

  void TearDown() override {
    abandon_ = true;  // a test that failed half-way does not wait out the callers' retries
    StopCallers();
    agent_.reset();
    agent_proxy_.reset();
    emulator_.process.reset();
    broker1_.process.reset();
    broker2_.process.reset();
    stack_.reset();
  }

  void StartAgent() {
    // Short reconnect backoff so the suite stays short; production keeps the defaults.
    auto agent = stack_->StartAgent(
        registered_, emulator_,
        {"--backoff-base-ms", "200", "--backoff-max-ms", "2000", "--max-concurrent-jobs", "8"});
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
  }

  std::unique_ptr<v1::CertificateService::Stub> StubFor(const std::string& address) const {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ReadFileOrEmpty(stack_->pki("tls-ca.pem"));
    return v1::CertificateService::NewStub(
        grpc::CreateChannel(address, grpc::SslCredentials(tls)));
  }

  v1::CreateCertificateRequestRequest NewRequest(const std::string& request_id,
                                                 absl::Duration wait) const {
    v1::CreateCertificateRequestRequest r;
    r.set_request_id(request_id);
    r.set_ca_id(ca_id_);
    r.set_template_name("CertbridgeDevice");
    r.set_csr_pem(NewCsrPem(absl::StrCat("CN=", request_id, ",O=Chaos")));
    r.mutable_wait_timeout()->set_seconds(absl::ToInt64Seconds(wait));
    return r;
  }

  // A caller's stubs, one per API address, rebuilt when the addresses change.
  struct CallerChannels {
    int version = -1;
    bool fixed = false;  // one address chosen by the test, not the shared endpoints
    std::vector<std::unique_ptr<v1::CertificateService::Stub>> stubs;
    size_t next = 0;
  };
  v1::CertificateService::Stub* NextStub(CallerChannels& c) {
    int version = 0;
    std::vector<std::string> addresses = endpoints_.Get(&version);
    if (!c.fixed && version != c.version) {
      c.stubs.clear();
      for (const std::string& a : addresses) c.stubs.push_back(StubFor(a));
      c.version = version;
    }
    return c.stubs[c.next++ % c.stubs.size()].get();
  }

  // Creates (the same request_id again after any error, switching replica, as an MDM
  // retries) until a create returns OK or `give_up` passes. Returns the last response.
  bool CreateUntilAccepted(CallerChannels& channels, const v1::CreateCertificateRequestRequest& r,
                           bool probe, absl::Time give_up, CertificateRequest* out) {
    for (;;) {
      ledger_.Attempt(r.request_id(), probe);
      grpc::Status s = NextStub(channels)->CreateCertificateRequest(
          CallContext(key_, absl::Seconds(10)).get(), r, out);
      if (s.ok()) {
        ledger_.Update(r.request_id(), *out);
        return true;
      }
      ledger_.CountError(s.error_code());
      if (absl::Now() > give_up || abandon_.load()) return false;
      // The next attempt goes to the other replica at once; a pause only after both failed.
      if (channels.next % std::max<size_t>(1, channels.stubs.size()) == 0) {
        absl::SleepFor(absl::Milliseconds(100));
      }
    }
  }

  void CallerLoop(int caller) {
    CallerChannels channels;
    for (int n = 0; !stop_callers_.load(); ++n) {
      const absl::Time started = absl::Now();
      v1::CreateCertificateRequestRequest r =
          NewRequest(absl::StrCat("chaos-c", caller, "-", n), absl::Seconds(2));
      CertificateRequest out;
      // Once asked, a request is pursued until accepted (bounded, so a broken stack fails
      // the test instead of hanging it).
      if (!CreateUntilAccepted(channels, r, false, absl::Now() + absl::Seconds(60), &out)) {
        if (!abandon_.load()) ADD_FAILURE() << "request " << r.request_id() << " never accepted in 60 s";
        return;
      }
      const absl::Duration rest = kCallerPeriod - (absl::Now() - started);
      if (rest > absl::ZeroDuration() && !stop_callers_.load()) absl::SleepFor(rest);  // pacing
    }
  }

  void StartCallers() {
    load_start_ = absl::Now();
    for (int i = 0; i < kCallers; ++i) callers_.emplace_back([this, i] { CallerLoop(i); });
  }
  void StopCallers() {
    stop_callers_ = true;
    for (std::thread& t : callers_) t.join();
    callers_.clear();
  }

  // A request created after a fault ended; returns when it is ISSUED (time from `since`),
  // or fails the test after kRecoveryDeadline.
  // With `only_address`, through that replica alone.
  absl::Duration Probe(const std::string& label, absl::Time since,
                       const std::string& only_address = "") {
    CallerChannels channels;
    if (!only_address.empty()) {
      channels.version = -2;  // never matches: NextStub keeps this one stub
      channels.fixed = true;
      channels.stubs.push_back(StubFor(only_address));
    }
    v1::CreateCertificateRequestRequest r =
        NewRequest(absl::StrCat("probe-", label), absl::Seconds(5));
    const absl::Time give_up = since + kRecoveryDeadline;
    CertificateRequest out;
    while (absl::Now() < give_up) {
      if (!CreateUntilAccepted(channels, r, true, give_up, &out)) break;
      if (out.state() == CertificateRequest::STATE_ISSUED) return absl::Now() - since;
      if (IsTerminal(out.state())) {
        ADD_FAILURE() << "probe " << label << " ended " << out.DebugString();
        return absl::Now() - since;
      }
      // Not yet issued after wait_timeout: asking again with the same request_id waits again.
    }
    ADD_FAILURE() << "probe " << label << " not ISSUED within " << kRecoveryDeadline << ": "
                  << out.DebugString() << "\nagent log:\n"
                  << (agent_ ? agent_->Log() : "");
    return kRecoveryDeadline;
  }

  void Record(const std::string& what, absl::Time fault, absl::Time end, absl::Duration recovery,
              const std::string& note) {
    faults_.push_back({what, fault - load_start_, end - fault, recovery, note});
    std::cout << "[chaos] " << what << ": held " << Seconds(end - fault) << ", recovered in "
              << Seconds(recovery) << (note.empty() ? "" : " (" + note + ")") << std::endl;
  }

  // Is the agent's stream up on some replica (its connector CONNECTED)?
  bool AgentConnected() {
    int version = 0;
    for (const std::string& address : endpoints_.Get(&version)) {
      grpc::SslCredentialsOptions tls;
      tls.pem_root_certs = ReadFileOrEmpty(stack_->pki("tls-ca.pem"));
      auto admin = v1::AdminService::NewStub(grpc::CreateChannel(address, grpc::SslCredentials(tls)));
      v1::GetConnectorRequest get;
      get.set_connector_id(registered_.connector_id);
      v1::Connector c;
      if (admin->GetConnector(CallContext(key_, absl::Seconds(5)).get(), get, &c).ok()) {
        return c.connectivity() == v1::Connector::CONNECTIVITY_CONNECTED;
      }
    }
    return false;
  }

  std::unique_ptr<TestStack> stack_;
  BrokerProcess broker1_, broker2_;
  EmulatorProcessHandle emulator_;
  std::string emulator_config_;
  std::unique_ptr<TcpProxy> agent_proxy_;
  RegisteredAgent registered_;
  std::unique_ptr<ChildProcess> agent_;
  std::string key_;
  std::string ca_id_;
  ApiEndpoints endpoints_;
  Ledger ledger_;
  std::vector<std::thread> callers_;
  std::atomic<bool> stop_callers_{false};
  std::atomic<bool> abandon_{false};
  absl::Time load_start_;
  std::vector<FaultRecord> faults_;
};

TEST_F(ChaosTest, EveryRequestEndsOnceThroughKillsRestartsAndAPartition) {
  ASSERT_TRUE(WaitUntil([&] { return AgentConnected(); }, absl::Seconds(30))) << agent_->Log();
  const absl::Time test_start = absl::Now();
  StartCallers();
  Probe("warm-up", absl::Now());
  absl::SleepFor(kSteadyBetweenFaults);

  // 1. PostgreSQL: SIGKILL to every server process, 5 s down, restart on the same port.
  {
    const absl::Time fault = absl::Now();
    ASSERT_TRUE(stack_->postgres().Crash().ok());
    absl::SleepFor(absl::Seconds(5));  // hold the fault
    absl::Status restarted = stack_->postgres().Restart();
    ASSERT_TRUE(restarted.ok()) << restarted;
    const absl::Time end = absl::Now();
    // Each replica on its own: a request through it alone must be issued.
    absl::Duration recovered[2];
    {
      std::thread other([&] {
        recovered[1] = Probe("postgres-replica2", end, broker2_.api_address());
      });
      recovered[0] = Probe("postgres-replica1", end, broker1_.api_address());
      other.join();
    }
    Record("postgres SIGKILL + restart", fault, end, std::max(recovered[0], recovered[1]),
           absl::StrCat("through replica 1 alone ", Seconds(recovered[0]), ", replica 2 alone ",
                        Seconds(recovered[1])));
  }
  absl::SleepFor(kSteadyBetweenFaults);

  // 2. adcs-emulator: SIGKILL, 3 s down, restart on its state dir and port.
  {
    const absl::Time fault = absl::Now();
    emulator_.process->Signal(SIGKILL);
    emulator_.process->WaitForExit(absl::Seconds(10));
    absl::SleepFor(absl::Seconds(3));
    auto emulator = stack_->StartEmulator(emulator_config_, emulator_.state_dir, emulator_.port);
    ASSERT_TRUE(emulator.ok()) << emulator.status();
    emulator_ = *std::move(emulator);
    const absl::Time end = absl::Now();
    Record("adcs-emulator SIGKILL + restart", fault, end, Probe("emulator", end), "");
  }
  absl::SleepFor(kSteadyBetweenFaults);

  // 3. The agent: SIGKILL mid-load, 2 s down, restart on the same state dir.
  {
    const absl::Time fault = absl::Now();
    agent_->Signal(SIGKILL);
    agent_->WaitForExit(absl::Seconds(10));
    absl::SleepFor(absl::Seconds(2));
    ASSERT_NO_FATAL_FAILURE(StartAgent());
    const absl::Time end = absl::Now();
    Record("agent SIGKILL + restart", fault, end, Probe("agent", end), "");
  }
  absl::SleepFor(kSteadyBetweenFaults);

  // 4. The replica holding the agent's stream (the proxy's first choice): SIGKILL. The
  //    agent and the callers carry on through the other; then the replica starts again.
  {
    const absl::Time fault = absl::Now();
    broker1_.process->Signal(SIGKILL);
    broker1_.process->WaitForExit(absl::Seconds(10));
    const absl::Duration recovery = Probe("replica-killed", fault);
    Record("broker replica 1 SIGKILL (of 2)", fault, fault, recovery,
           "agent and callers moved to replica 2");
    const absl::Time restart = absl::Now();
    auto broker = stack_->StartBroker(BrokerFlags());
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker1_ = *std::move(broker);
    ASSERT_TRUE(agent_proxy_->SetUpstreams({broker1_.agent_address(), broker2_.agent_address()}).ok());
    endpoints_.Set({broker1_.api_address(), broker2_.api_address()});
    Record("broker replica 1 restarted", restart, absl::Now(), absl::Now() - restart,
           "time to serve again");
  }
  absl::SleepFor(kSteadyBetweenFaults);

  // 5. Partition: every agent-broker connection cut, new ones refused, for 6 s.
  {
    const int connections_before = agent_proxy_->connections_forwarded();
    const absl::Time fault = absl::Now();
    agent_proxy_->Cut();
    absl::SleepFor(absl::Seconds(6));
    ASSERT_TRUE(agent_proxy_->Restore().ok());
    const absl::Time end = absl::Now();
    const absl::Duration recovery = Probe("partition", end);
    Record("agent-broker partition", fault, end, recovery,
           absl::StrCat(agent_proxy_->connections_forwarded() - connections_before,
                        " new agent connection(s) after"));
  }
  absl::SleepFor(kSteadyBetweenFaults);
  StopCallers();
  const absl::Duration load_time = absl::Now() - load_start_;

  // Every request the callers created reaches a terminal state.
  // Only the test kills processes: a replica that died by itself crashed. Its log's tail
  // says how; the checks below go on through the replica that still runs.
  for (BrokerProcess* b : {&broker1_, &broker2_}) {
    if (!b->process->Running()) {
      const std::string log = b->process->Log();
      ADD_FAILURE() << "a broker replica crashed during the run; the end of its log:\n"
                    << log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
    }
  }
  auto api = StubFor((broker2_.process->Running() ? broker2_ : broker1_).api_address());
  auto get = [&](const std::string& name, CertificateRequest* out) {
    v1::GetCertificateRequestRequest request;
    request.set_name(name);
    return api->GetCertificateRequest(CallContext(key_).get(), request, out);
  };
  std::set<std::string> open;
  for (const auto& [id, t] : ledger_.Snapshot()) {
    if (!t.name.empty() && !IsTerminal(t.state)) open.insert(id);
  }
  const absl::Time drain_start = absl::Now();
  std::map<std::string, Tracked> snapshot = ledger_.Snapshot();
  const bool drained = WaitUntil(
      [&] {
        for (auto it = open.begin(); it != open.end();) {
          CertificateRequest r;
          if (get(snapshot[*it].name, &r).ok() && IsTerminal(r.state())) {
            ledger_.Update(*it, r);
            it = open.erase(it);
          } else {
            ++it;
          }
        }
        return open.empty();
      },
      kDrainDeadline);
  const absl::Duration drain_time = absl::Now() - drain_start;
  EXPECT_TRUE(drained) << open.size() << " request(s) not terminal after " << kDrainDeadline
                       << ", e.g. " << *open.begin();

  // None lost: every accepted request by name, and the tenant's list holds exactly ours.
  snapshot = ledger_.Snapshot();
  int lost = 0, unaccepted = 0;
  for (const auto& [id, t] : snapshot) {
    if (t.name.empty()) {
      ++unaccepted;
      continue;
    }
    CertificateRequest r;
    grpc::Status s = get(t.name, &r);
    if (!s.ok() || r.request_id() != id) {
      ++lost;
      ADD_FAILURE() << "request " << id << " (" << t.name << ") not found: " << s.error_message();
    }
  }
  std::map<std::string, std::string> listed;  // request_id -> name
  {
    v1::ListCertificateRequestsRequest list;
    list.set_page_size(500);
    for (;;) {
      v1::ListCertificateRequestsResponse page;
      grpc::Status s = api->ListCertificateRequests(CallContext(key_).get(), list, &page);
      ASSERT_TRUE(s.ok()) << s.error_message();
      for (const CertificateRequest& r : page.certificate_requests()) listed[r.request_id()] = r.name();
      if (page.next_page_token().empty()) break;
      list.set_page_token(page.next_page_token());
    }
  }
  int phantom = 0;
  for (const auto& [id, name] : listed) {
    auto it = snapshot.find(id);
    if (it == snapshot.end()) {
      ++phantom;
      ADD_FAILURE() << "listed request " << id << " was never asked for";
    } else if (!it->second.name.empty() && it->second.name != name) {
      ADD_FAILURE() << "request " << id << " has two names: " << name << ", " << it->second.name;
    }
  }
  for (const auto& [id, t] : snapshot) {
    if (!t.name.empty() && listed.count(id) == 0) {
      ++lost;
      ADD_FAILURE() << "accepted request " << id << " missing from the list";
    }
  }

  // Terminal states: which are acceptable, and counts.
  std::map<std::string, int> by_state;
  int issued = 0, accepted = 0, probes = 0, retried_creates = 0;
  for (const auto& [id, t] : snapshot) {
    if (t.name.empty()) continue;
    ++accepted;
    if (t.probe) ++probes;
    if (t.create_attempts > 1) ++retried_creates;
    std::string key = CertificateRequest::State_Name(t.state);
    if (!t.error_code.empty()) absl::StrAppend(&key, " ", t.error_code);
    ++by_state[key];
    if (t.state == CertificateRequest::STATE_ISSUED) {
      ++issued;
    } else if (t.state == CertificateRequest::STATE_FAILED) {
      EXPECT_EQ(t.hresult, kCaUnreachable) << id << " FAILED for another reason: " << t.error_code
                                           << " " << t.error_message;
      EXPECT_FALSE(t.error_message.empty()) << id;
    } else if (t.state == CertificateRequest::STATE_EXPIRED) {
      EXPECT_EQ(t.error_code, "CONNECTORS_DISCONNECTED") << id << ": " << t.error_message;
      EXPECT_FALSE(t.error_message.empty()) << id;
    } else if (IsTerminal(t.state)) {
      ADD_FAILURE() << id << " ended " << CertificateRequest::State_Name(t.state) << " "
                    << t.error_code << " " << t.error_message;
    }
  }

  // Duplicates, counted by the CA: certificates issued per certbridge request.
  CommandResult list = stack_->Officer(emulator_, {"--timeout", "60", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  std::map<std::string, std::vector<std::string>> ca_issued;  // request name -> serials
  int ca_requests = 0, ca_issued_total = 0, ca_without_name = 0;
  for (absl::string_view line : absl::StrSplit(list.out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields = absl::StrSplit(line, '\t');
    if (fields.size() < 6) continue;
    ++ca_requests;
    if (fields[1] != "3") continue;  // disposition ISSUED
    ++ca_issued_total;
    std::string name;
    for (absl::string_view attribute : absl::StrSplit(fields[5], "; ")) {
      if (absl::ConsumePrefix(&attribute, "CertbridgeRequestId:")) name = std::string(attribute);
    }
    if (name.empty()) {
      ++ca_without_name;
      continue;
    }
    ca_issued[name].push_back(fields[3]);
  }
  std::map<std::string, const Tracked*> by_name;
  for (const auto& [id, t] : snapshot) {
    if (!t.name.empty()) by_name[t.name] = &t;
  }
  int duplicates = 0, issued_without_certificate = 0, certificate_for_unissued = 0;
  for (const auto& [name, serials] : ca_issued) {
    duplicates += static_cast<int>(serials.size()) - 1;
    auto it = by_name.find(name);
    if (it == by_name.end() || it->second->state != CertificateRequest::STATE_ISSUED) {
      ++certificate_for_unissued;
      ADD_FAILURE() << "the CA issued for " << name << " which certbridge does not show ISSUED";
    } else if (serials.size() == 1) {
      EXPECT_TRUE(absl::EqualsIgnoreCase(serials[0], it->second->serial))
          << name << ": CA serial " << serials[0] << ", broker serial " << it->second->serial;
    }
    if (serials.size() > 1) ADD_FAILURE() << name << " issued " << serials.size() << " times";
  }
  for (const auto& [name, t] : by_name) {
    if (t->state == CertificateRequest::STATE_ISSUED && ca_issued.count(name) == 0) {
      ++issued_without_certificate;
      ADD_FAILURE() << name << " is ISSUED but the CA holds no certificate for it";
    }
  }
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(ca_without_name, 0);

  // A sample of certificates, spread over the run, verified by OpenSSL against the CA.
  std::vector<std::string> issued_names;
  for (const auto& [name, t] : by_name) {
    if (t->state == CertificateRequest::STATE_ISSUED) issued_names.push_back(name);
  }
  int verified = 0;
  if (!issued_names.empty()) {
    std::vector<std::string> argv = {"openssl", "verify", "-CAfile", emulator_.ca_cert_path()};
    const size_t step = std::max<size_t>(1, issued_names.size() / kVerifySample);
    for (size_t i = 0; i < issued_names.size() && argv.size() - 4 < kVerifySample; i += step) {
      CertificateRequest r;
      ASSERT_TRUE(get(issued_names[i], &r).ok());
      const std::string path = absl::StrCat(stack_->dir(), "/chaos-sample-", i, ".pem");
      std::ofstream(path) << r.certificate_pem();
      argv.push_back(path);
    }
    CommandResult verify = RunCommand(argv);
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    for (absl::string_view line : absl::StrSplit(verify.out, '\n')) {
      if (absl::EndsWith(line, ": OK")) ++verified;
    }
    EXPECT_EQ(verified, static_cast<int>(argv.size()) - 4) << verify.out << verify.err;
  }

  // The summary.
  std::ostringstream out;
  out << "\n=== chaos suite summary ===\n";
  out << "faults (time since load start, held, time to a new request ISSUED after the fault ended):\n";
  for (const FaultRecord& f : faults_) {
    out << absl::StrFormat("  t=%6.1fs  %-34s held %6s  recovered %6s  %s\n",
                           absl::ToDoubleSeconds(f.at), f.what, Seconds(f.held),
                           Seconds(f.recovery), f.note);
  }
  out << "load: " << kCallers << " callers for " << Seconds(load_time) << "; requests accepted "
      << accepted << " (" << probes << " probes), not accepted " << unaccepted
      << ", accepted after a retried create " << retried_creates << "\n";
  out << "create errors by gRPC code (retried by the callers):";
  for (const auto& [code, n] : ledger_.Errors()) out << " " << code << "=" << n;
  out << "\nterminal states:";
  for (const auto& [state, n] : by_state) out << " [" << state << "]=" << n;
  out << "\nissued " << issued << ", still open after drain " << open.size() << " (drain took "
      << Seconds(drain_time) << "), lost " << lost << ", phantom " << phantom << "\n";
  out << "CA: " << ca_requests << " requests, " << ca_issued_total << " issued certificates for "
      << ca_issued.size() << " certbridge requests; duplicates " << duplicates
      << ", issued at the CA but not ISSUED in certbridge " << certificate_for_unissued
      << ", ISSUED without a CA certificate " << issued_without_certificate << "\n";
  out << "openssl verify: " << verified << " sampled certificates OK\n";
  out << "whole test " << Seconds(absl::Now() - test_start) << " after set-up\n";
  std::cout << out.str() << std::flush;
}

}  // namespace
}  // namespace certbridge::testing
