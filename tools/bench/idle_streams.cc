#include "tools/bench/idle_streams.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "certbridge/v1/admin.grpc.pb.h"
#include "certbridge/v1/agent.grpc.pb.h"
#include "common/pki/pki.h"
#include "tools/bench/end_to_end.h"
#include "tools/bench/flags.h"
#include "tools/bench/load.h"
#include "tools/bench/proc_figures.h"

namespace certbridge::bench {
namespace {

using testing::BrokerProcess;
using testing::CallContext;
using testing::ReadFileOrEmpty;
using testing::TestStack;

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

}  // namespace

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

}  // namespace certbridge::bench
