// The broker's metrics through a real Prometheus: Debian's `prometheus` scrapes a live
// broker (PostgreSQL, adcs-emulator and a certbridge-agent, all real processes) every second
// while requests run, loads deploy/monitoring/alerts.yaml, and the test reads the series
// and the alerts back through Prometheus's HTTP API. `promtool check metrics` lints what
// the broker serves.
#include <dirent.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/pki/pki.h"
#include "tests/integration/test_stack.h"

namespace certbridge::testing {
namespace {

constexpr int kRequests = 24;  // issued by kThreads threads at once
constexpr int kThreads = 4;

// TCP ports `pid` listens on, from /proc (Prometheus is started on port 0 and does not
// print the port it got).
std::vector<int> ListeningPorts(pid_t pid) {
  std::set<std::string> inodes;
  const std::string fd_dir = absl::StrCat("/proc/", pid, "/fd");
  if (DIR* dir = opendir(fd_dir.c_str())) {
    while (dirent* entry = readdir(dir)) {
      char target[256] = {};
      const std::string link = fd_dir + "/" + entry->d_name;
      const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
      absl::string_view t(target, n > 0 ? n : 0);
      if (absl::ConsumePrefix(&t, "socket:[") && absl::ConsumeSuffix(&t, "]")) {
        inodes.insert(std::string(t));
      }
    }
    closedir(dir);
  }
  std::vector<int> ports;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream lines(ReadFileOrEmpty(table));
    std::string line;
    std::getline(lines, line);  // header
    while (std::getline(lines, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.size() < 10 || f[3] != "0A" || inodes.count(f[9]) == 0) continue;  // 0A: LISTEN
      const std::string local = f[1];
      int port = 0;
      if (std::sscanf(local.substr(local.find(':') + 1).c_str(), "%x", &port) == 1) {
        ports.push_back(port);
      }
    }
  }
  return ports;
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto stack = TestStack::Create();
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = *std::move(stack);
    auto broker = stack_->StartBroker({"--metrics_listen=127.0.0.1:0",
                                       "--fleet_statistics_interval=1s", "--sweep_interval=1s",
                                       "--heartbeat_interval_seconds=2", "--queue_timeout=10m"});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = *std::move(broker);
    ASSERT_NE(broker_.metrics_port, 0) << "no metrics= line in the port file";
    auto emulator =
        stack_->StartEmulator(ReadFileOrEmpty(SourcePath("agent/emulator/example-config.txtpb")));
    ASSERT_TRUE(emulator.ok()) << emulator.status();
    emulator_ = *std::move(emulator);
    admin_ = stack_->AdminStub(broker_);
    certificates_ = stack_->CertificateStub(broker_);
  }

  void StartPrometheus() {
    const std::string dir = stack_->dir() + "/prometheus";
    ASSERT_EQ(RunCommand({"mkdir", "-p", dir + "/data"}).exit_code, 0);
    std::ofstream(dir + "/prometheus.yml")
        << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "rule_files:\n  - " << SourcePath("deploy/monitoring/alerts.yaml") << "\n"
        << "scrape_configs:\n  - job_name: certbridge\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << broker_.metrics_port << "']\n";
    auto process = ChildProcess::Start(
        {"/usr/bin/prometheus", "--config.file=" + dir + "/prometheus.yml",
         "--storage.tsdb.path=" + dir + "/data", "--web.listen-address=127.0.0.1:0"},
        dir + "/prometheus.log");
    ASSERT_TRUE(process.ok()) << process.status();
    prometheus_ = *std::move(process);
    ASSERT_TRUE(WaitUntil(
        [&] {
          for (int port : ListeningPorts(prometheus_->pid())) {
            if (RunCommand({"curl", "-sf", absl::StrCat("http://127.0.0.1:", port, "/-/ready")})
                    .exit_code == 0) {
              prometheus_port_ = port;
              return true;
            }
          }
          return !prometheus_->Running();
        },
        absl::Seconds(30)));
    ASSERT_NE(prometheus_port_, 0) << prometheus_->Log();
  }

  // The value of an instant query that must return exactly one series; the error says
  // what came back instead.
  absl::StatusOr<double> Query(const std::string& promql) {
    CommandResult r = RunCommand(
        {"sh", "-c",
         "curl -sf --get --data-urlencode \"query=$1\" \"$2\" | jq -r '.data.result | if "
         "length == 1 then .[0].value[1] else \"series: \\(length)\" end'",
         "sh", promql, absl::StrCat("http://127.0.0.1:", prometheus_port_, "/api/v1/query")});
    const std::string out(absl::StripAsciiWhitespace(r.out));
    double value = 0;
    if (r.exit_code != 0 || !absl::SimpleAtod(out, &value)) {
      return absl::NotFoundError(absl::StrCat(promql, " -> ", out, r.err));
    }
    return value;
  }

  // Waits until the query's value satisfies `ok`; on timeout, fails with the last answer.
  void ExpectEventually(const std::string& promql, const std::function<bool(double)>& ok,
                        const std::string& expected) {
    std::string last;
    const bool met = WaitUntil(
        [&] {
          absl::StatusOr<double> v = Query(promql);
          last = v.ok() ? absl::StrCat(*v) : std::string(v.status().message());
          return v.ok() && ok(*v);
        },
        absl::Seconds(30));
    EXPECT_TRUE(met) << promql << ": expected " << expected << ", last answer " << last;
  }
  void ExpectEventuallyEq(const std::string& promql, double expected) {
    ExpectEventually(promql, [expected](double v) { return v == expected; },
                     absl::StrCat(expected));
  }

  std::string NewCsr(const std::string& subject) {
    auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    EXPECT_TRUE(key.ok());
    auto csr = pki::CreateCsrPem(*key, {subject, {}});
    EXPECT_TRUE(csr.ok()) << csr.status();
    return csr.ok() ? *csr : "";
  }

  v1::CreateCertificateRequestRequest CsrRequest(const std::string& ca_id, const std::string& id,
                                                 int wait_seconds) {
    v1::CreateCertificateRequestRequest r;
    r.set_request_id(id);
    r.set_ca_id(ca_id);
    r.set_template_name("CertbridgeDevice");
    r.set_csr_pem(NewCsr("CN=" + id + ".devices.example"));
    r.mutable_wait_timeout()->set_seconds(wait_seconds);
    return r;
  }

  std::unique_ptr<TestStack> stack_;
  BrokerProcess broker_;
  EmulatorProcessHandle emulator_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::CertificateService::Stub> certificates_;
  std::unique_ptr<ChildProcess> prometheus_;
  int prometheus_port_ = 0;
};

TEST_F(MetricsTest, PrometheusScrapesTheSeriesOfALiveBrokerUnderLoad) {
  StartPrometheus();
  ExpectEventuallyEq("up{job=\"certbridge\"}", 1);
  ExpectEventuallyEq("certbridge_replica_info{version=\"0.1.0\"}", 1);
  ExpectEventuallyEq("certbridge_database_up", 1);

  // A tenant with two CAs: one served by an agent, one by nobody.
  absl::StatusOr<TestTenant> tenant = stack_->CreateTenant(broker_, "Metrics");
  ASSERT_TRUE(tenant.ok()) << tenant.status();
  const std::string key = tenant->api_key;
  absl::StatusOr<std::string> served_ca =
      stack_->CreateCertificateAuthority(broker_, key, "adcs01.corp.example\\Corp Issuing CA");
  ASSERT_TRUE(served_ca.ok()) << served_ca.status();
  absl::StatusOr<std::string> unserved_ca = stack_->CreateCertificateAuthority(
      broker_, key, "adcs02.corp.example\\Nobody Serves This CA");
  ASSERT_TRUE(unserved_ca.ok()) << unserved_ca.status();

  auto agent = stack_->RegisterAgent(broker_, key, "CORP\\AGENT01$");
  ASSERT_TRUE(agent.ok()) << agent.status();
  absl::Status assigned =
      stack_->AssignCertificateAuthority(broker_, key, *served_ca, agent->connector_id);
  ASSERT_TRUE(assigned.ok()) << assigned;
  auto agent_process = stack_->StartAgent(*agent, emulator_);
  ASSERT_TRUE(agent_process.ok()) << agent_process.status();
  ExpectEventuallyEq("certbridge_connected_agents", 1);
  ExpectEventually("certbridge_agent_certificate_expiry_seconds{connected=\"true\"}",
                   [](double v) { return v > 0 && v <= 7 * 86400; }, "within 7 days");

  // Work nobody can take: the fleet gauges and the real alert rule see it.
  v1::CertificateRequest stuck;
  ASSERT_TRUE(certificates_
                  ->CreateCertificateRequest(CallContext(key).get(),
                                             CsrRequest(*unserved_ca, "stuck", 0), &stuck)
                  .ok());
  ExpectEventuallyEq("certbridge_unserved_cas", 1);
  ExpectEventuallyEq("certbridge_requests_waiting{state=\"QUEUED\"}", 1);
  ExpectEventuallyEq("certbridge_jobs{state=\"READY\"}", 1);
  ExpectEventuallyEq("ALERTS{alertname=\"CertbridgeCaUnserved\",alertstate=\"pending\"}", 1);

  // A Watch stream is counted while it is open.
  grpc::ClientContext watch_context;
  watch_context.AddMetadata("authorization", "Bearer " + key);
  auto watch =
      certificates_->WatchCertificateRequests(&watch_context, v1::WatchCertificateRequestsRequest());
  ExpectEventuallyEq("certbridge_watch_streams", 1);

  // Load: kThreads callers at once, each waiting for its certificates.
  absl::Mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&, t] {
      auto stub = stack_->CertificateStub(broker_);
      for (int i = 0; i < kRequests / kThreads; ++i) {
        v1::CertificateRequest out;
        grpc::Status s = stub->CreateCertificateRequest(
            CallContext(key, absl::Seconds(60)).get(),
            CsrRequest(*served_ca, absl::StrCat("load-", t, "-", i), 30), &out);
        if (!s.ok() || out.state() != v1::CertificateRequest::STATE_ISSUED) {
          absl::MutexLock lock(&mu);
          failures.push_back(absl::StrCat("load-", t, "-", i, ": ", s.error_message(), " ",
                                          v1::CertificateRequest::State_Name(out.state())));
        }
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  ASSERT_TRUE(failures.empty()) << failures.front();

  ExpectEventuallyEq("certbridge_requests_total{state=\"QUEUED\",mode=\"csr\"}", kRequests + 1);
  ExpectEventuallyEq("certbridge_requests_total{state=\"ISSUED\",mode=\"csr\"}", kRequests);
  ExpectEventuallyEq("certbridge_requests_total{state=\"ISSUED\",mode=\"key_generation\"}", 0);
  ExpectEventuallyEq("certbridge_ca_outcomes_total{kind=\"SUBMIT\",hresult=\"0x00000000\"}",
                     kRequests);
  ExpectEventuallyEq("certbridge_request_duration_seconds_count{mode=\"csr\"}", kRequests);
  ExpectEventuallyEq("certbridge_request_broker_added_seconds_count{mode=\"csr\"}", kRequests);
  // What the broker added is part of the whole, and a quantile over the histogram works.
  ExpectEventually(
      "certbridge_request_broker_added_seconds_sum{mode=\"csr\"} <= "
      "certbridge_request_duration_seconds_sum{mode=\"csr\"}",
      [](double v) { return v > 0; }, "broker-added sum <= total sum");
  ExpectEventually(
      "histogram_quantile(0.5, sum by (le) (certbridge_request_duration_seconds_bucket))",
      [](double v) { return v > 0 && v < 30; }, "a median under 30 s");
  ExpectEventually("sum(certbridge_claim_batch_size_sum)",
                   [](double v) { return v >= kRequests; }, ">= the requests' SUBMIT jobs");
  ExpectEventually("certbridge_database_call_duration_seconds_count",
                   [](double v) { return v > kRequests; }, "more calls than requests");
  ExpectEventuallyEq("certbridge_jobs{state=\"LEASED\"}", 0);
  ExpectEventuallyEq("certbridge_requests_waiting{state=\"DISPATCHED\"}", 0);

  // The agent restarts: one reconnect, and it is counted as connected again.
  ExpectEventuallyEq("certbridge_agent_stream_reconnects_total", 0);
  (*agent_process)->Signal(SIGTERM);
  ASSERT_TRUE((*agent_process)->WaitForExit(absl::Seconds(30)).has_value());
  ExpectEventuallyEq("certbridge_connected_agents", 0);
  agent_process = stack_->StartAgent(*agent, emulator_);
  ASSERT_TRUE(agent_process.ok()) << agent_process.status();
  ExpectEventuallyEq("certbridge_agent_stream_reconnects_total", 1);
  ExpectEventuallyEq("certbridge_connected_agents", 1);

  watch_context.TryCancel();
  ExpectEventuallyEq("certbridge_watch_streams", 0);

  // The exposition passes Prometheus's own lint.
  const std::string exposition = stack_->dir() + "/metrics.txt";
  CommandResult fetch = RunCommand(
      {"curl", "-sf", "-o", exposition,
       absl::StrCat("http://127.0.0.1:", broker_.metrics_port, "/metrics")});
  ASSERT_EQ(fetch.exit_code, 0) << fetch.err;
  CommandResult lint = RunCommand({"sh", "-c", "promtool check metrics < \"$1\"", "sh", exposition});
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
}

}  // namespace
}  // namespace certbridge::testing
