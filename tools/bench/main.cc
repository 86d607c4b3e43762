// certbridge-bench: the figures docs/architecture.md §8 asks for, measured in one run on one
// machine against real processes (PostgreSQL, certbridge-broker, certbridge-agent,
// adcs-emulator), started and torn down through the integration-test stack:
//   1. the emulator's own raw issuing rate (CSRs submitted straight to it);
//   2. end-to-end certificates/s through one broker and its agents, and broker-added
//      latency (end-to-end quantiles minus raw quantiles);
//   3. idle agent streams held by one broker: its RSS per stream, the time to accept them
//      all, and end-to-end certificates issued while they are held;
//   4. recovery: the broker is killed (SIGKILL) during a run and a new one is started on the
//      same database and ports; time from the kill to the first certificate issued
//      afterwards, and requests lost (must be 0).
// It prints a table and exits 1 when any request failed, was lost or issued twice.
// Usage and the meaning of every figure: docs/benchmarks.md.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/ca/emulator_ca_backend.h"
#include "common/pki/pki.h"
#include "tests/integration/test_stack.h"
#include "tools/bench/certificate_client.h"
#include "tools/bench/certificate_cost.h"
#include "tools/bench/load.h"
#include "tools/bench/noisy_neighbour.h"
#include "tools/bench/proc_figures.h"

ABSL_FLAG(int, requests, 300, "certificates per measured run (raw, end to end, recovery)");
ABSL_FLAG(int, concurrency, 8, "calls in flight at once");
ABSL_FLAG(int, single_caller_requests, 50,
          "certificates in the one-caller runs (raw and end to end) that give the broker-added "
          "latency at one caller (0 skips)");
ABSL_FLAG(bool, two_tenants, true,
          "repeat the end-to-end run split between two tenants (half the callers each, each "
          "tenant with --agents agents of its own)");
ABSL_FLAG(int, agents, 2, "certbridge-agent processes serving the CA");
ABSL_FLAG(int, agent_window, 4, "each agent's --max-concurrent-jobs (its credit window)");
ABSL_FLAG(int, idle_streams, 200, "idle agent streams opened to one broker (0 skips)");
ABSL_FLAG(int, idle_threads, 4,
          "threads that register the idle streams' connectors and open the streams");
ABSL_FLAG(bool, recovery, true, "measure recovery after the broker is killed mid-run");
ABSL_FLAG(int, flood_callers, 32, "callers of the flooding tenant in the noisy-neighbour run (0 skips)");
ABSL_FLAG(int, quiet_calls, 300, "calls the quiet tenant times, alone and during the flood");
ABSL_FLAG(bool, flood_process, true,
          "run the flooding tenant's callers in a process of their own at nice 19 "
          "(false: as threads of the bench, at normal priority)");
// The flood process's own flags (tools/bench/noisy_neighbour.h); not for people.
ABSL_FLAG(int, flood_nice, 19, "nice level of the flood process (--flood_process)");
ABSL_FLAG(bool, flood_only, false, "internal: be the flood process");
ABSL_FLAG(std::string, flood_address, "", "internal: the flood process's broker API address");
ABSL_FLAG(std::string, flood_key_file, "", "internal: file holding the flooding tenant's API key");
ABSL_FLAG(std::string, flood_tls_root, "", "internal: the flood process's TLS root file");
ABSL_FLAG(int, warmup, 20, "unmeasured calls before raw and end-to-end runs");
ABSL_FLAG(bool, verbose, false, "print every retried CreateCertificateRequest error");

#ifndef CERTBRIDGE_BUILD_TYPE
#define CERTBRIDGE_BUILD_TYPE "unknown"
#endif

namespace certbridge::bench {
namespace {

using testing::BrokerProcess;
using testing::CallContext;
using testing::EmulatorProcessHandle;
using testing::ReadFileOrEmpty;
using testing::RegisteredAgent;
using testing::TestStack;
using v1::CertificateRequest;


// Every figure printed at the end; a missing phase leaves its fields at their defaults.
struct Figures {
  LoadResult raw;
  double raw_emulator_cpu_ms = 0;  // the emulator's CPU per certificate in the raw run
  LoadResult raw_single;           // one caller
  LoadResult end_to_end;
  LoadResult end_to_end_single;    // one caller
  bool cost_measured = false;
  CostPerCertificate cost;         // of the end-to-end run
  double idle_transactions_per_second = 0;
  double idle_durable_commits_per_second = 0;
  bool two_tenants_measured = false;
  LoadResult tenant_a;             // the same total load split between two tenants
  LoadResult tenant_b;
  int two_tenants_not_issued = 0;
  int two_tenants_duplicates = 0;
  int end_to_end_requests = 0;
  int end_to_end_not_issued = 0;
  int end_to_end_duplicates = 0;
  bool idle_measured = false;
  int idle_streams_open = 0;
  int idle_streams_ended_early = 0;  // disconnects the broker logged while they were open
  int64_t rss_before_kib = 0;
  int64_t rss_after_kib = 0;
  int64_t bench_rss_kib = 0;          // the bench itself, holding the client ends
  int64_t broker_open_files_limit = 0;
  absl::Duration idle_registration;   // registering the idle streams' connectors
  absl::Duration idle_accept;         // first Connect to the last stream's AgentConfig
  // End to end again while the idle streams are held (the same --requests, no warm-up).
  LoadResult during_idle;
  int during_idle_requests = 0;
  int during_idle_not_issued = 0;
  int during_idle_duplicates = 0;
  bool recovery_measured = false;
  std::string recovery_skipped_reason;
  int recovery_requests = 0;
  int recovery_lost = 0;
  int recovery_duplicates = 0;
  absl::Duration recovery_time;
  absl::Duration recovery_restart;  // kill to the new broker serving
  LoadResult recovery;
  // Noisy neighbour: the quiet tenant's calls alone, then while another tenant floods.
  bool neighbour_measured = false;
  NeighbourFigures neighbour;
};

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// Streams the broker has logged as ended, so that the idle figure can show none of the
// bench's streams was dropped (e.g. as a duplicate of the same connector) before RSS was read.
int CountDisconnects(const testing::ChildProcess& broker) {
  const std::string log = broker.Log();
  int count = 0;
  for (size_t at = log.find("\"agent.disconnected\""); at != std::string::npos;
       at = log.find("\"agent.disconnected\"", at + 1)) {
    ++count;
  }
  return count;
}

// /proc/loadavg's first three fields: shows how busy the shared machine was.
std::string LoadAverage() {
  std::vector<std::string> fields = absl::StrSplit(ReadFileOrEmpty("/proc/loadavg"), ' ');
  if (fields.size() < 3) return "unknown";
  return absl::StrCat(fields[0], " ", fields[1], " ", fields[2]);
}


absl::Status MeasureRaw(const EmulatorProcessHandle& emulator, Figures& figures) {
  const int n = absl::GetFlag(FLAGS_requests);
  const int warmup = absl::GetFlag(FLAGS_warmup);
  absl::StatusOr<std::vector<std::string>> csrs = MakeCsrs(n + warmup, "raw");
  if (!csrs.ok()) return csrs.status();
  absl::StatusOr<std::unique_ptr<agent::EmulatorCaBackend>> backend =
      agent::EmulatorCaBackend::Create(
          {.target = emulator.address(), .identity = kIdentity, .config = kCaConfig, .channel = {}});
  if (!backend.ok()) return backend.status();
  const std::string attributes = absl::StrCat("CertificateTemplate:", kTemplate);
  auto submit = [&](const std::string& csr) {
    absl::StatusOr<agent::CaResult> r = (*backend)->Submit(
        {.csr_pem = csr, .attributes = attributes, .timeout = absl::Seconds(30)});
    return r.ok() && r->disposition == 3;  // CR_DISP_ISSUED
  };
  RunClosedLoop(warmup, absl::GetFlag(FLAGS_concurrency),
                [&](int i) { return submit((*csrs)[n + i]); });
  const absl::Duration emulator_cpu_before = ProcessTreeCpu(emulator.process->pid());
  figures.raw = RunClosedLoop(n, absl::GetFlag(FLAGS_concurrency),
                              [&](int i) { return submit((*csrs)[i]); });
  figures.raw_emulator_cpu_ms =
      absl::ToDoubleMilliseconds(ProcessTreeCpu(emulator.process->pid()) - emulator_cpu_before) /
      std::max(1, n);
  if (figures.raw.failures > 0) {
    return absl::InternalError(absl::StrCat(figures.raw.failures, " raw Submits were not issued"));
  }
  const int single = absl::GetFlag(FLAGS_single_caller_requests);
  if (single > 0) {
    absl::StatusOr<std::vector<std::string>> single_csrs = MakeCsrs(single, "raw-single");
    if (!single_csrs.ok()) return single_csrs.status();
    figures.raw_single = RunClosedLoop(single, 1, [&](int i) { return submit((*single_csrs)[i]); });
    if (figures.raw_single.failures > 0) {
      return absl::InternalError(
          absl::StrCat(figures.raw_single.failures, " raw one-caller Submits were not issued"));
    }
  }
  return absl::OkStatus();
}

// `n` CreateCertificateRequest calls through the API port after `warmup` unmeasured ones,
// with request ids starting with `label`.
struct EndToEndRun {
  LoadResult load;
  int not_issued = 0;
  int duplicates = 0;
};

absl::StatusOr<EndToEndRun> RunEndToEnd(TestStack& stack, const BrokerProcess& broker,
                                        const Tenant& tenant, const std::string& label, int n,
                                        int warmup, int concurrency = -1) {
  if (concurrency < 0) concurrency = absl::GetFlag(FLAGS_concurrency);
  absl::StatusOr<std::vector<std::string>> csrs = MakeCsrs(n + warmup, label);
  if (!csrs.ok()) return csrs.status();
  const ClientConfig client{ReadFileOrEmpty(stack.pki("tls-ca.pem")), broker.api_address(),
                            tenant.key, absl::GetFlag(FLAGS_verbose)};
  auto stub = CertificateClient(client.tls_root_pem, client.address);
  const std::string run = absl::StrCat(absl::ToUnixNanos(absl::Now()));
  RunClosedLoop(warmup, concurrency, [&](int i) {
    return CreateUntilTerminal(
               *stub, client,
               CsrRequest(tenant, absl::StrCat("warm-", label, "-", run, "-", i), (*csrs)[n + i]),
               absl::Seconds(120))
        .error.empty();
  });
  IssuedLedger ledger;
  EndToEndRun out;
  out.load = RunClosedLoop(n, concurrency, [&](int i) {
    Outcome outcome = CreateUntilTerminal(
        *stub, client, CsrRequest(tenant, absl::StrCat(label, "-", run, "-", i), (*csrs)[i]),
        absl::Seconds(120));
    ledger.Record(i, outcome);
    return Issued(outcome);
  });
  out.not_issued = ledger.not_issued();
  out.duplicates = ledger.duplicates();
  ledger.PrintErrors();
  return out;
}

// The end-to-end run at --concurrency, with the cost of each certificate (database and CPU,
// tools/bench/certificate_cost.h) measured around it; then the one-caller run.
absl::Status MeasureEndToEnd(TestStack& stack, const BrokerProcess& broker, const Tenant& tenant,
                             const CostProcesses& processes, Figures& figures) {
  const int n = absl::GetFlag(FLAGS_requests);
  absl::StatusOr<EndToEndRun> warm =
      RunEndToEnd(stack, broker, tenant, "warm", absl::GetFlag(FLAGS_warmup), 0);
  if (!warm.ok()) return warm.status();
  // What the idle stack costs the database per second (sweeps, heartbeats): it is part of
  // every figure below, since each snapshot waits kStatsSettle first.
  absl::StatusOr<CostSnapshot> idle_start = TakeCostSnapshot(stack, processes);
  if (!idle_start.ok()) return idle_start.status();
  absl::StatusOr<CostSnapshot> before = TakeCostSnapshot(stack, processes);
  if (!before.ok()) return before.status();
  const double idle_seconds = absl::ToDoubleSeconds(kStatsSettle);
  figures.idle_transactions_per_second =
      (before->xact_commit - idle_start->xact_commit - 1 + before->xact_rollback -
       idle_start->xact_rollback) / idle_seconds;
  figures.idle_durable_commits_per_second = (before->next_xid - idle_start->next_xid) / idle_seconds;
  absl::StatusOr<EndToEndRun> run = RunEndToEnd(stack, broker, tenant, "e2e", n, 0);
  if (!run.ok()) return run.status();
  absl::StatusOr<CostSnapshot> after = TakeCostSnapshot(stack, processes);
  if (!after.ok()) return after.status();
  figures.cost = PerCertificate(stack, *before, *after, static_cast<int>(run->load.latencies.size()));
  figures.cost_measured = true;
  figures.end_to_end = std::move(run->load);
  figures.end_to_end_requests = n;
  figures.end_to_end_not_issued = run->not_issued;
  figures.end_to_end_duplicates = run->duplicates;
  const int single = absl::GetFlag(FLAGS_single_caller_requests);
  if (single > 0) {
    absl::StatusOr<EndToEndRun> one = RunEndToEnd(stack, broker, tenant, "single", single, 0, 1);
    if (!one.ok()) return one.status();
    figures.end_to_end_single = std::move(one->load);
    figures.end_to_end_not_issued += one->not_issued;
    figures.end_to_end_duplicates += one->duplicates;
  }
  return absl::OkStatus();
}

// The same total load as the end-to-end run (--requests calls by --concurrency callers),
// split in half between `a` and `b`, both at once: one tenant's throughput should not be
// bounded by a per-tenant hot row.
absl::Status MeasureTwoTenants(TestStack& stack, const BrokerProcess& broker, const Tenant& a,
                               const Tenant& b, Figures& figures) {
  const int n = absl::GetFlag(FLAGS_requests);
  const int callers = std::max(1, absl::GetFlag(FLAGS_concurrency) / 2);
  absl::StatusOr<EndToEndRun> run_b;
  std::thread tenant_b([&] { run_b = RunEndToEnd(stack, broker, b, "two-b", n / 2, 0, callers); });
  absl::StatusOr<EndToEndRun> run_a = RunEndToEnd(stack, broker, a, "two-a", n - n / 2, 0, callers);
  tenant_b.join();
  if (!run_a.ok()) return run_a.status();
  if (!run_b.ok()) return run_b.status();
  figures.tenant_a = std::move(run_a->load);
  figures.tenant_b = std::move(run_b->load);
  figures.two_tenants_not_issued = run_a->not_issued + run_b->not_issued;
  figures.two_tenants_duplicates = run_a->duplicates + run_b->duplicates;
  figures.two_tenants_measured = true;
  return absl::OkStatus();
}

struct ConnectorCredentials {
  std::string chain_pem;
  std::string key_pem;
};

// Runs `call` until it is not refused by the broker's rate limits (the bench registers
// connectors faster than an admin would).
grpc::Status RetryWhileRateLimited(const std::function<grpc::Status()>& call) {
  for (;;) {
    grpc::Status s = call();
    if (s.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) return s;
    absl::SleepFor(absl::Milliseconds(50));
  }
}

// One connector registered, approved and issued its certificate through the API, as an
// agent and an admin would, without an agent process.
absl::StatusOr<ConnectorCredentials> RegisterConnector(v1::AdminService::Stub& admin,
                                                       v1::AgentService::Stub& agents,
                                                       const Tenant& tenant, int index) {
  v1::CreateEnrollmentTokenResponse token;
  grpc::Status s = RetryWhileRateLimited([&] {
    return admin.CreateEnrollmentToken(CallContext(tenant.key).get(), {}, &token);
  });
  if (!s.ok()) return absl::InternalError("CreateEnrollmentToken: " + s.error_message());
  absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> csr = pki::CreateCsrPem(*key, {.subject = "CN=bench agent"});
  if (!csr.ok()) return csr.status();
  v1::RegisterRequest register_request;
  register_request.set_enrollment_token(token.token());
  register_request.set_csr_pem(*csr);
  register_request.set_host(absl::StrCat("idle-", index, ".bench.example"));
  register_request.set_os("linux");
  register_request.set_agent_version("certbridge-bench");
  register_request.set_ca_identity(kIdentity);
  v1::RegisterResponse registered;
  s = agents.Register(CallContext("").get(), register_request, &registered);
  if (!s.ok()) return absl::InternalError("Register: " + s.error_message());
  v1::ApproveConnectorRequest approve;
  approve.set_registration_code(registered.registration_code());
  v1::Connector connector;
  s = RetryWhileRateLimited([&] {
    return admin.ApproveConnector(CallContext(tenant.key).get(), approve, &connector);
  });
  if (!s.ok()) return absl::InternalError("ApproveConnector: " + s.error_message());
  v1::GetRegistrationRequest poll;
  poll.set_connector_id(registered.connector_id());
  poll.set_poll_secret(registered.poll_secret());
  poll.set_wait_seconds(1);
  v1::GetRegistrationResponse approved;
  s = agents.GetRegistration(CallContext("").get(), poll, &approved);
  if (!s.ok() || approved.certificate_chain_pem().empty()) {
    return absl::InternalError("GetRegistration: no certificate: " + s.error_message());
  }
  return ConnectorCredentials{approved.certificate_chain_pem(), key->ToPem()};
}

// `count` connectors, registered by --idle_threads threads: the broker allows one live
// stream per connector, so each idle stream needs a connector of its own.
absl::StatusOr<std::vector<ConnectorCredentials>> RegisterConnectors(TestStack& stack,
                                                                     const BrokerProcess& broker,
                                                                     const Tenant& tenant,
                                                                     int count) {
  const int threads = std::max(1, absl::GetFlag(FLAGS_idle_threads));
  std::vector<std::unique_ptr<v1::AdminService::Stub>> admins;
  std::vector<std::unique_ptr<v1::AgentService::Stub>> agents;
  for (int t = 0; t < threads; ++t) {
    admins.push_back(stack.AdminStub(broker));
    agents.push_back(stack.AgentStub(broker));
  }
  std::vector<ConnectorCredentials> out(count);
  std::atomic<int> next_stub{0};
  absl::Mutex mu;
  absl::Status first_error;
  const LoadResult load = RunClosedLoop(count, threads, [&](int i) {
    const int stub = next_stub.fetch_add(1) % threads;
    absl::StatusOr<ConnectorCredentials> c =
        RegisterConnector(*admins[stub], *agents[stub], tenant, i);
    if (!c.ok()) {
      absl::MutexLock lock(&mu);
      if (first_error.ok()) first_error = c.status();
      return false;
    }
    out[i] = *std::move(c);
    return true;
  });
  if (load.failures > 0) {
    return absl::Status(first_error.code(), absl::StrCat(load.failures, " of ", count,
                                                         " registrations failed, the first: ",
                                                         first_error.message()));
  }
  return out;
}

// Descriptors a process needs besides one per stream (listeners, PostgreSQL, agents, logs).
constexpr int kSpareFiles = 512;

// S idle streams, each of a connector of its own and on its own channel (a unique channel
// argument keeps gRPC from sharing one connection), each past Hello and its AgentConfig,
// opened by --idle_threads threads; then the end-to-end run again while they are held.
absl::Status MeasureIdleStreams(TestStack& stack, const BrokerProcess& broker,
                                const Tenant& tenant, Figures& figures) {
  const int count = absl::GetFlag(FLAGS_idle_streams);
  // The broker inherited the limit main() raised; each stream is one descriptor there and
  // one here.
  figures.broker_open_files_limit = OpenFilesLimit(broker.process->pid());
  const int64_t own_limit = OpenFilesLimit(getpid());
  if (figures.broker_open_files_limit < count + kSpareFiles || own_limit < count + kSpareFiles) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--idle_streams=", count, " needs about ", count + kSpareFiles,
        " open files in the bench and in the broker; their limits are ", own_limit, " and ",
        figures.broker_open_files_limit, ": raise the hard limit (ulimit -Hn) or open fewer"));
  }
  const absl::Time registration_start = absl::Now();
  absl::StatusOr<std::vector<ConnectorCredentials>> connectors =
      RegisterConnectors(stack, broker, tenant, count);
  if (!connectors.ok()) return connectors.status();
  figures.idle_registration = absl::Now() - registration_start;
  std::fprintf(stderr, "  registered %d connectors in %.1f s; opening the streams\n", count,
               absl::ToDoubleSeconds(figures.idle_registration));

  struct IdleStream {
    std::unique_ptr<v1::AgentService::Stub> stub;
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::BrokerMessage>> stream;
  };
  std::vector<IdleStream> streams(count);
  const std::string tls_root = ReadFileOrEmpty(stack.pki("tls-ca.pem"));
  figures.rss_before_kib = RssKib(broker.process->pid());
  const int disconnects_before = CountDisconnects(*broker.process);
  absl::Mutex mu;
  absl::Status first_error;
  const LoadResult opened = RunClosedLoop(count, absl::GetFlag(FLAGS_idle_threads), [&](int i) {
    IdleStream& s = streams[i];
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = tls_root;
    tls.pem_cert_chain = (*connectors)[i].chain_pem;
    tls.pem_private_key = (*connectors)[i].key_pem;
    grpc::ChannelArguments args;
    args.SetInt("certbridge.bench.idle_stream", i);  // a connection of its own
    s.stub = v1::AgentService::NewStub(
        grpc::CreateCustomChannel(broker.agent_address(), grpc::SslCredentials(tls), args));
    s.context = std::make_unique<grpc::ClientContext>();
    s.context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Hours(1)));
    s.stream = s.stub->Connect(s.context.get());
    v1::AgentMessage hello;
    hello.mutable_hello()->set_agent_version("certbridge-bench");
    hello.mutable_hello()->set_host(absl::StrCat("idle-", i, ".bench.example"));
    hello.mutable_hello()->set_os("linux");
    hello.mutable_hello()->set_ca_identity(kIdentity);
    v1::BrokerMessage config;
    if (s.stream->Write(hello) && s.stream->Read(&config) && config.has_config()) return true;
    grpc::Status end = s.stream->Finish();
    s.stream.reset();
    absl::MutexLock lock(&mu);
    if (first_error.ok()) {
      first_error = absl::UnavailableError(
          absl::StrCat("idle stream ", i, " got no AgentConfig: ", end.error_message()));
    }
    return false;
  });
  figures.idle_accept = opened.wall;
  figures.idle_streams_open = count - opened.failures;
  figures.rss_after_kib = RssKib(broker.process->pid());
  figures.bench_rss_kib = RssKib(getpid());
  std::fprintf(stderr, "  %d streams open in %.1f s; end to end while they are held\n",
               figures.idle_streams_open, absl::ToDoubleSeconds(figures.idle_accept));
  absl::Status result = first_error;
  if (result.ok()) {
    const int n = absl::GetFlag(FLAGS_requests);
    absl::StatusOr<EndToEndRun> run = RunEndToEnd(stack, broker, tenant, "idle", n, 0);
    if (!run.ok()) {
      result = run.status();
    } else {
      figures.during_idle = std::move(run->load);
      figures.during_idle_requests = n;
      figures.during_idle_not_issued = run->not_issued;
      figures.during_idle_duplicates = run->duplicates;
    }
  }
  figures.idle_streams_ended_early = CountDisconnects(*broker.process) - disconnects_before;
  figures.idle_measured = result.ok();
  for (IdleStream& s : streams) {
    if (s.stream != nullptr) s.context->TryCancel();
  }
  for (IdleStream& s : streams) {
    if (s.stream != nullptr) (void)s.stream->Finish();
  }
  return result;
}

// Kills the broker (SIGKILL) once a third of the run is done and starts a new broker process
// (a new replica id) on the same database and the same ports, so that the agents and the
// clients find it where the old one was.
absl::Status MeasureRecovery(TestStack& stack, BrokerProcess& broker,
                             const std::vector<std::string>& broker_flags, const Tenant& tenant,
                             Figures& figures) {
  const int n = absl::GetFlag(FLAGS_requests);
  absl::StatusOr<std::vector<std::string>> csrs = MakeCsrs(n, "recovery");
  if (!csrs.ok()) return csrs.status();
  const ClientConfig client{ReadFileOrEmpty(stack.pki("tls-ca.pem")), broker.api_address(),
                            tenant.key, absl::GetFlag(FLAGS_verbose)};
  auto stub = CertificateClient(client.tls_root_pem, client.address);
  const std::string run = absl::StrCat(absl::ToUnixNanos(absl::Now()));
  std::atomic<int> done{0};
  absl::Mutex mu;
  absl::Time kill_time = absl::InfiniteFuture();
  absl::Time first_issued_after = absl::InfiniteFuture();
  absl::Status restart_status = absl::OkStatus();
  std::atomic<bool> restart_failed{false};
  std::thread killer([&] {
    testing::WaitUntil([&] { return done.load() >= n / 3; }, absl::Minutes(5));
    const absl::Time killed = absl::Now();
    broker.process->Signal(SIGKILL);
    broker.process->WaitForExit(absl::Seconds(10));
    {
      absl::MutexLock lock(&mu);
      kill_time = killed;
    }
    std::vector<std::string> flags = broker_flags;
    flags.push_back(absl::StrCat("--api_listen=127.0.0.1:", broker.api_port));
    flags.push_back(absl::StrCat("--agent_listen=127.0.0.1:", broker.agent_port));
    absl::StatusOr<BrokerProcess> replacement = stack.StartBroker(flags);
    absl::MutexLock lock(&mu);
    if (!replacement.ok()) {
      restart_status = replacement.status();
      restart_failed.store(true);
      return;
    }
    figures.recovery_restart = absl::Now() - killed;
    broker = *std::move(replacement);
  });
  IssuedLedger ledger;
  figures.recovery = RunClosedLoop(n, absl::GetFlag(FLAGS_concurrency), [&](int i) {
    if (restart_failed.load()) return false;  // no broker: the error below says why
    Outcome outcome = CreateUntilTerminal(
        *stub, client, CsrRequest(tenant, absl::StrCat("rec-", run, "-", i), (*csrs)[i]),
        absl::Seconds(90));
    ledger.Record(i, outcome);
    done.fetch_add(1);
    const bool issued = Issued(outcome);
    if (issued) {
      absl::MutexLock lock(&mu);
      // Only an answer to an attempt begun after the kill proves the new broker issues.
      if (outcome.last_attempt_start > kill_time) {
        first_issued_after = std::min(first_issued_after, absl::Now());
      }
    }
    return issued;
  });
  killer.join();
  if (!restart_status.ok()) return restart_status;
  figures.recovery_measured = true;
  figures.recovery_requests = n;
  figures.recovery_lost = ledger.not_issued();
  figures.recovery_duplicates = ledger.duplicates();
  figures.recovery_time = first_issued_after - kill_time;
  ledger.PrintErrors();
  return absl::OkStatus();
}

std::string Ms(absl::Duration d) { return absl::StrFormat("%.2f ms", absl::ToDoubleMilliseconds(d)); }

void PrintTable(const Figures& f, const std::string& load_at_start) {
  const int n = absl::GetFlag(FLAGS_requests);
  const int c = absl::GetFlag(FLAGS_concurrency);
  std::printf("\ncertbridge-bench — nproc %u, build type %s, requests %d, concurrency %d, agents %d "
              "(window %d each)\n",
              std::thread::hardware_concurrency(), CERTBRIDGE_BUILD_TYPE, n, c,
              absl::GetFlag(FLAGS_agents), absl::GetFlag(FLAGS_agent_window));
  std::printf("load average at start %s, at end %s (a shared machine makes figures indicative)\n",
              load_at_start.c_str(), LoadAverage().c_str());
  std::printf("%-52s %s\n", "figure", "value");
  auto row = [](const std::string& name, const std::string& value) {
    std::printf("%-52s %s\n", name.c_str(), value.c_str());
  };
  const absl::Duration raw_p50 = Quantile(f.raw.latencies, 0.5);
  const absl::Duration raw_p99 = Quantile(f.raw.latencies, 0.99);
  const absl::Duration e2e_p50 = Quantile(f.end_to_end.latencies, 0.5);
  const absl::Duration e2e_p99 = Quantile(f.end_to_end.latencies, 0.99);
  row("raw emulator: certificates/s", absl::StrFormat("%.1f", f.raw.per_second()));
  row("raw emulator: latency p50 / p99", Ms(raw_p50) + " / " + Ms(raw_p99));
  row("end to end: certificates/s", absl::StrFormat("%.1f", f.end_to_end.per_second()));
  row("end to end: latency p50 / p99", Ms(e2e_p50) + " / " + Ms(e2e_p99));
  row("ratio end-to-end / raw certificates/s",
      f.raw.per_second() > 0 ? absl::StrFormat("%.2f", f.end_to_end.per_second() / f.raw.per_second())
                             : "n/a");
  row("broker-added latency p50 / p99", Ms(e2e_p50 - raw_p50) + " / " + Ms(e2e_p99 - raw_p99));
  row("end to end: requests / not issued / duplicates",
      absl::StrCat(f.end_to_end_requests, " / ", f.end_to_end_not_issued, " / ",
                   f.end_to_end_duplicates));
  if (!f.raw_single.latencies.empty() && !f.end_to_end_single.latencies.empty()) {
    const absl::Duration raw1 = Quantile(f.raw_single.latencies, 0.5);
    const absl::Duration e2e1 = Quantile(f.end_to_end_single.latencies, 0.5);
    const absl::Duration raw1_99 = Quantile(f.raw_single.latencies, 0.99);
    const absl::Duration e2e1_99 = Quantile(f.end_to_end_single.latencies, 0.99);
    row("one caller: raw p50 / p99", Ms(raw1) + " / " + Ms(raw1_99));
    row("one caller: end to end p50 / p99", Ms(e2e1) + " / " + Ms(e2e1_99));
    row("one caller: broker-added latency p50 / p99 (target 3 / 15 ms)",
        Ms(e2e1 - raw1) + " / " + Ms(e2e1_99 - raw1_99));
  }
  row(absl::StrCat("broker-added latency p50 at ", c, " callers (target 10 ms)"),
      Ms(e2e_p50 - raw_p50));
  if (f.cost_measured) {
    const CostPerCertificate& k = f.cost;
    row("per certificate: transactions (commits+rollbacks; target 5)",
        absl::StrFormat("%.2f (%.2f rollbacks)", k.transactions, k.rollbacks));
    row("per certificate: durable commits (xids; target 3)",
        absl::StrFormat("%.2f", k.durable_commits));
    row("per certificate: commit records in the WAL (pg_waldump)",
        k.wal_commit_records < 0 ? std::string("n/a") : absl::StrFormat("%.2f", k.wal_commit_records));
    row("per certificate: rows inserted / updated",
        absl::StrFormat("%.2f / %.2f", k.rows_inserted, k.rows_updated));
    row("per certificate: WAL records / KiB / writes / syncs",
        absl::StrFormat("%.1f / %.2f / %.2f / %.2f", k.wal_records, k.wal_kib, k.wal_writes,
                        k.wal_syncs));
    row("per certificate CPU ms: PostgreSQL / broker",
        absl::StrFormat("%.2f / %.2f", k.postgres_cpu_ms, k.broker_cpu_ms));
    row("per certificate CPU ms: agents / emulator / bench",
        absl::StrFormat("%.2f / %.2f / %.2f", k.agents_cpu_ms, k.emulator_cpu_ms, k.bench_cpu_ms));
    row("per certificate CPU ms: broker+PostgreSQL+agents vs emulator",
        absl::StrFormat("%.2f vs %.2f", k.postgres_cpu_ms + k.broker_cpu_ms + k.agents_cpu_ms,
                        k.emulator_cpu_ms));
    row("raw run: emulator CPU ms per certificate", absl::StrFormat("%.2f", f.raw_emulator_cpu_ms));
    row("idle stack: transactions/s / durable commits/s",
        absl::StrFormat("%.1f / %.1f", f.idle_transactions_per_second,
                        f.idle_durable_commits_per_second));
  }
  if (f.two_tenants_measured) {
    row("one tenant: certificates/s", absl::StrFormat("%.1f", f.end_to_end.per_second()));
    row("two tenants, same total load: certificates/s A + B",
        absl::StrFormat("%.1f + %.1f = %.1f", f.tenant_a.per_second(), f.tenant_b.per_second(),
                        f.tenant_a.per_second() + f.tenant_b.per_second()));
    row("two tenants: not issued / duplicates",
        absl::StrCat(f.two_tenants_not_issued, " / ", f.two_tenants_duplicates));
  }
  if (f.idle_measured) {
    row("idle streams held by one broker / ended early",
        absl::StrCat(f.idle_streams_open, " / ", f.idle_streams_ended_early));
    row("broker RSS before / after", absl::StrCat(f.rss_before_kib, " KiB / ", f.rss_after_kib, " KiB"));
    row("broker RSS per idle stream",
        absl::StrFormat("%.1f KiB", f.idle_streams_open > 0
                                        ? static_cast<double>(f.rss_after_kib - f.rss_before_kib) /
                                              f.idle_streams_open
                                        : 0.0));
    row("idle streams: time to accept all / per second",
        absl::StrFormat("%.1f s / %.0f", absl::ToDoubleSeconds(f.idle_accept),
                        f.idle_streams_open / std::max(1e-9, absl::ToDoubleSeconds(f.idle_accept))));
    row("idle streams: connectors registered in",
        absl::StrFormat("%.1f s (%d threads)", absl::ToDoubleSeconds(f.idle_registration),
                        absl::GetFlag(FLAGS_idle_threads)));
    row("idle streams: broker open-files limit / bench RSS",
        absl::StrCat(f.broker_open_files_limit, " / ", f.bench_rss_kib, " KiB"));
    row("idle streams held: end-to-end certificates/s",
        absl::StrFormat("%.1f", f.during_idle.per_second()));
    row("idle streams held: end-to-end p50 / p99",
        Ms(Quantile(f.during_idle.latencies, 0.5)) + " / " +
            Ms(Quantile(f.during_idle.latencies, 0.99)));
    row("idle streams held: requests / not issued / duplicates",
        absl::StrCat(f.during_idle_requests, " / ", f.during_idle_not_issued, " / ",
                     f.during_idle_duplicates));
  } else {
    row("idle streams", "not measured");
  }
  if (f.neighbour_measured) {
    const absl::Duration alone_p99 = Quantile(f.neighbour.quiet_alone.latencies, 0.99);
    const absl::Duration flood_p99 = Quantile(f.neighbour.quiet_during_flood.latencies, 0.99);
    row("quiet tenant alone: List p50 / p99",
        Ms(Quantile(f.neighbour.quiet_alone.latencies, 0.5)) + " / " + Ms(alone_p99));
    row(absl::StrCat("quiet tenant, other tenant flooding (", absl::GetFlag(FLAGS_flood_callers),
                     absl::GetFlag(FLAGS_flood_process)
                         ? absl::StrCat(" callers, own process at nice ", absl::GetFlag(FLAGS_flood_nice))
                         : std::string(" callers, in bench"),
                     "): p50 / p99"),
        Ms(Quantile(f.neighbour.quiet_during_flood.latencies, 0.5)) + " / " + Ms(flood_p99));
    row("quiet tenant p99 during flood / alone (bound: 4.0)",
        alone_p99 > absl::ZeroDuration()
            ? absl::StrFormat("%.2f", absl::FDivDuration(flood_p99, alone_p99))
            : "n/a");
    row("flooding tenant: calls/s served / refused (RESOURCE_EXHAUSTED)",
        absl::StrFormat("%.0f / %d", f.neighbour.flood_ok / absl::ToDoubleSeconds(f.neighbour.flood_wall),
                        static_cast<int>(f.neighbour.flood_refused)));
    row("flooding tenant: calls failed otherwise", absl::StrCat(f.neighbour.flood_failed));
    row("quiet tenant failed calls alone / during flood",
        absl::StrCat(f.neighbour.quiet_alone.failures, " / ", f.neighbour.quiet_during_flood.failures));
  } else {
    row("noisy neighbour", "not measured");
  }
  if (f.recovery_measured) {
    row("recovery: kill -9 to new broker serving", Ms(f.recovery_restart));
    row("recovery: kill -9 to first certificate issued", Ms(f.recovery_time));
    row("recovery: requests / lost / duplicates",
        absl::StrCat(f.recovery_requests, " / ", f.recovery_lost, " / ", f.recovery_duplicates));
    row("recovery run: certificates/s (incl. outage)",
        absl::StrFormat("%.1f", f.recovery.per_second()));
    row("recovery run: latency p50 / max (incl. retries)",
        Ms(Quantile(f.recovery.latencies, 0.5)) + " / " + Ms(Quantile(f.recovery.latencies, 1.0)));
  } else {
    row("recovery", "not measured" + (f.recovery_skipped_reason.empty()
                                          ? std::string()
                                          : ": " + f.recovery_skipped_reason));
  }
}

// Registers --agents agents in `tenant`, assigns them its CA and starts them against the
// emulator; each is appended to `agents` once the broker shows it connected.
absl::Status StartAgents(TestStack& stack, const BrokerProcess& broker, const Tenant& tenant,
                         const EmulatorProcessHandle& emulator,
                         std::vector<std::unique_ptr<testing::ChildProcess>>& agents) {
  auto admin = stack.AdminStub(broker);
  for (int i = 0; i < absl::GetFlag(FLAGS_agents); ++i) {
    absl::StatusOr<RegisteredAgent> agent = stack.RegisterAgent(broker, tenant.key, kIdentity);
    if (!agent.ok()) return agent.status();
    v1::AssignCertificateAuthorityRequest assign;
    assign.set_ca_id(tenant.ca_id);
    assign.set_connector_id(agent->connector_id);
    v1::Connector connector;
    grpc::Status s =
        admin->AssignCertificateAuthority(CallContext(tenant.key).get(), assign, &connector);
    if (!s.ok()) return absl::InternalError("assign CA: " + s.error_message());
    absl::StatusOr<std::unique_ptr<testing::ChildProcess>> process = stack.StartAgent(
        *agent, emulator,
        {absl::StrCat("--max-concurrent-jobs=", absl::GetFlag(FLAGS_agent_window)),
         "--backoff-base-ms=100", "--backoff-max-ms=500"});
    if (!process.ok()) return process.status();
    if (absl::Status c = WaitConnected(stack, broker, tenant, agent->connector_id); !c.ok()) {
      return absl::Status(c.code(), absl::StrCat(c.message(), "\n", (*process)->Log()));
    }
    agents.push_back(*std::move(process));
  }
  return absl::OkStatus();
}

// This binary, which the noisy-neighbour run starts again as the flood process.
std::string SelfExe() {
  char path[4096];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : std::string();
}

int Run() {
  Figures figures;
  const std::string load_at_start = LoadAverage();
  auto step = [](const char* what) {
    std::fprintf(stderr, "[%s] %s\n", absl::FormatTime("%H:%M:%S", absl::Now(), absl::UTCTimeZone()).c_str(),
                 what);
  };
  step("starting PostgreSQL and making the PKI");
  absl::StatusOr<std::unique_ptr<TestStack>> stack = TestStack::Create();
  if (!stack.ok()) {
    std::fprintf(stderr, "certbridge-bench: cannot start the stack: %s\n", Message(stack.status()).c_str());
    return 2;
  }
  absl::StatusOr<EmulatorProcessHandle> emulator = (*stack)->StartEmulator(
      ReadFileOrEmpty(testing::SourcePath("agent/emulator/example-config.txtpb")));
  if (!emulator.ok()) {
    std::fprintf(stderr, "certbridge-bench: emulator: %s\n", Message(emulator.status()).c_str());
    return 2;
  }
  step("1/4 raw emulator rate");
  if (absl::Status s = MeasureRaw(*emulator, figures); !s.ok()) {
    std::fprintf(stderr, "certbridge-bench: raw: %s\n", Message(s).c_str());
    return 2;
  }
  const std::vector<std::string> broker_flags = {"--sweep_interval=1s", "--job_lease=5s",
                                                 "--heartbeat_interval_seconds=5"};
  absl::StatusOr<BrokerProcess> broker = (*stack)->StartBroker(broker_flags);
  if (!broker.ok()) {
    std::fprintf(stderr, "certbridge-bench: broker: %s\n", Message(broker.status()).c_str());
    return 2;
  }
  absl::StatusOr<Tenant> tenant = CreateTenant(**stack, *broker);
  if (!tenant.ok()) {
    std::fprintf(stderr, "certbridge-bench: tenant: %s\n", Message(tenant.status()).c_str());
    return 2;
  }
  std::vector<std::unique_ptr<testing::ChildProcess>> agents;
  if (absl::Status s = StartAgents(**stack, *broker, *tenant, *emulator, agents); !s.ok()) {
    std::fprintf(stderr, "certbridge-bench: %s\n", Message(s).c_str());
    return 2;
  }
  CostProcesses processes{.postgres = (*stack)->postgres_pid(),
                          .broker = broker->process->pid(),
                          .agents = {},
                          .emulator = emulator->process->pid()};
  for (const auto& agent : agents) processes.agents.push_back(agent->pid());
  step("2/4 end to end");
  if (absl::Status s = MeasureEndToEnd(**stack, *broker, *tenant, processes, figures); !s.ok()) {
    std::fprintf(stderr, "certbridge-bench: end to end: %s\n", Message(s).c_str());
    return 2;
  }
  if (absl::GetFlag(FLAGS_two_tenants)) {
    step("2a/4 one tenant vs two tenants at the same total load");
    absl::StatusOr<Tenant> second = CreateTenant(**stack, *broker);
    absl::Status s = second.status();
    if (s.ok()) s = StartAgents(**stack, *broker, *second, *emulator, agents);
    if (s.ok()) s = MeasureTwoTenants(**stack, *broker, *tenant, *second, figures);
    if (!s.ok()) std::fprintf(stderr, "certbridge-bench: two tenants: %s\n", Message(s).c_str());
  }
  if (absl::GetFlag(FLAGS_flood_callers) > 0) {
    step("2b/4 noisy neighbour");
    NeighbourOptions options{.flood_callers = absl::GetFlag(FLAGS_flood_callers),
                             .quiet_calls = absl::GetFlag(FLAGS_quiet_calls),
                             .flood_in_own_process = absl::GetFlag(FLAGS_flood_process),
                             .flood_nice = absl::GetFlag(FLAGS_flood_nice),
                             .self_exe = SelfExe()};
    if (absl::Status s = MeasureNoisyNeighbour(**stack, *broker, *tenant, options, figures.neighbour);
        s.ok()) {
      figures.neighbour_measured = true;
    } else {
      std::fprintf(stderr, "certbridge-bench: noisy neighbour: %s\n", Message(s).c_str());
    }
  }
  if (absl::GetFlag(FLAGS_idle_streams) > 0) {
    step("3/4 idle streams");
    if (absl::Status s = MeasureIdleStreams(**stack, *broker, *tenant, figures); !s.ok()) {
      std::fprintf(stderr, "certbridge-bench: idle streams: %s\n", Message(s).c_str());
    }
  }
  bool recovery_ok = true;
  if (absl::GetFlag(FLAGS_recovery)) {
    step("4/4 recovery after kill -9 of the broker");
    if (absl::Status s = MeasureRecovery(**stack, *broker, broker_flags, *tenant, figures); !s.ok()) {
      figures.recovery_skipped_reason = Message(s);
      recovery_ok = false;
    }
  } else {
    figures.recovery_skipped_reason = "--recovery=false";
  }
  PrintTable(figures, load_at_start);
  const bool failed = figures.end_to_end_not_issued > 0 || figures.idle_streams_ended_early > 0 ||
                      figures.end_to_end_duplicates > 0 || figures.during_idle_not_issued > 0 ||
                      figures.during_idle_duplicates > 0 ||
                      figures.two_tenants_not_issued > 0 || figures.two_tenants_duplicates > 0 ||
                      figures.raw.failures > 0 || figures.recovery_lost > 0 ||
                      figures.recovery_duplicates > 0 || !recovery_ok;
  if (failed) std::printf("\nFAILED: a request was not issued, was lost or was issued twice\n");
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace certbridge::bench

namespace {
// The stack's processes (broker, agents, emulator) are forked into our process group and
// outlive us unless told: on SIGINT/SIGTERM, pass SIGTERM to the whole group, ourselves
// included. PostgreSQL stops by itself when its owner (this process) is gone.
void StopProcessGroup(int) {
  ::signal(SIGTERM, SIG_DFL);
  ::kill(0, SIGTERM);
}

// Each idle stream is a descriptor here and one in the broker, and 10,000 of them exceed
// the usual soft limit of 1,024: raise ours to the hard limit before any child starts, so
// that the broker (and everything else the stack forks) inherits it.
void RaiseOpenFilesLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  rlim_t wanted = limit.rlim_max;
  if (wanted == RLIM_INFINITY) wanted = 1 << 20;  // the kernel's usual nr_open
  if (limit.rlim_cur >= wanted) return;
  limit.rlim_cur = wanted;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) std::perror("certbridge-bench: setrlimit");
}
}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_flood_only)) {
    // Stays in the bench's process group, so that StopProcessGroup reaches it too.
    return certbridge::bench::RunFloodProcess(
        absl::GetFlag(FLAGS_flood_address), absl::GetFlag(FLAGS_flood_key_file),
        absl::GetFlag(FLAGS_flood_tls_root), absl::GetFlag(FLAGS_flood_callers),
        absl::GetFlag(FLAGS_flood_nice));
  }
  // Lead a process group of our own so that StopProcessGroup reaches only what we started.
  (void)::setpgid(0, 0);
  ::signal(SIGINT, StopProcessGroup);
  ::signal(SIGTERM, StopProcessGroup);
  RaiseOpenFilesLimit();
  return certbridge::bench::Run();
}
