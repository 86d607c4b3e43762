// certbridge-broker: wires the real store, PKI and gRPC servers together.
//
// Two TLS listeners: the API port (MDM back ends, admins, the operator; API keys) and the
// agent port (agents; client certificates checked per stream against the connector CA).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <vector>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "broker/metrics/prometheus/prometheus_broker_metrics.h"
#include "broker/scep/postgres_scep_store.h"
#include "broker/scep/ra_key_vault.h"
#include "broker/scep/scep_back_end.h"
#include "broker/scep/scep_enrollment.h"
#include "broker/scep/scep_enrollment_service.h"
#include "broker/scep/scep_grpc_service.h"
#include "broker/scep/scep_profile_api.h"
#include "broker/scep/scep_ra_certificates.h"
#include "broker/scep/scep_http_server.h"
#include "broker/service/admin_api.h"
#include "broker/service/admin_grpc_service.h"
#include "broker/service/agent_api.h"
#include "broker/service/agent_grpc_service.h"
#include "broker/service/api_call_gate.h"
#include "broker/service/api_key_auth.h"
#include "broker/service/certificate_api.h"
#include "broker/service/certificate_grpc_service.h"
#include "broker/service/job_dispatcher.h"
#include "broker/service/fleet_statistics_reporter.h"
#include "broker/service/request_change_waiters.h"
#include "broker/service/sweeper.h"
#include "broker/service/connector_ca.h"
#include "broker/service/worker_pool.h"
#include "broker/store/postgres/migrations.h"
#include "broker/store/postgres/postgres_fleet_statistics.h"
#include "broker/store/postgres/postgres_store.h"
#include "broker/store/record_publishing_certificate_store.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/pki/pki.h"

ABSL_FLAG(std::string, api_listen, "0.0.0.0:8443", "address:port of the API port (port 0 picks one)");
ABSL_FLAG(std::string, agent_listen, "0.0.0.0:8444", "address:port of the agent port (port 0 picks one)");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain the broker presents on both ports");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, connector_ca_cert, "", "PEM certificate of the CA that signs agent certificates");
ABSL_FLAG(std::string, connector_ca_key, "", "PEM private key of --connector_ca_cert");
ABSL_FLAG(std::string, operator_key_file, "",
          "file holding the operator API keys, one per line (32+ characters each); re-read "
          "while the broker runs, so a key is rotated by adding the new one, then removing "
          "the old one");
ABSL_FLAG(absl::Duration, operator_key_reload_interval, absl::Seconds(10),
          "how often --operator_key_file is checked for changes");
ABSL_FLAG(std::string, database_url, "",
          "PostgreSQL connection URI; default from env CERTBRIDGE_DATABASE_URL");
ABSL_FLAG(bool, migrate_only, false, "apply database migrations and exit (Kubernetes migration job)");
ABSL_FLAG(absl::Duration, agent_certificate_lifetime, absl::Hours(7 * 24),
          "lifetime of agent certificates; agents renew at two thirds of it");
ABSL_FLAG(absl::Duration, registration_code_ttl, absl::Minutes(30),
          "how long an agent's registration code can be approved");
ABSL_FLAG(std::string, registration_url_base, "https://certbridge.invalid/connectors/approve",
          "URL shown to agents for approval; ?code=XXXX-XXXX is appended");
ABSL_FLAG(int, heartbeat_interval_seconds, 30, "how often agents send heartbeats");
ABSL_FLAG(std::string, replica_id, "", "name of this replica in session rows; default host-pid");
ABSL_FLAG(std::string, port_file, "",
          "write the bound ports here as api=N and agent=N lines (and metrics=N with "
          "--metrics_listen, health=N with --health_listen, scep=N with --scep_listen)");
ABSL_FLAG(std::string, health_listen, "",
          "address:port of a plaintext gRPC port serving only grpc.health.v1 (port 0 picks "
          "one), for Kubernetes gRPC probes, which cannot check the broker's TLS ports; "
          "NOT_SERVING once the broker drains; empty: none");
ABSL_FLAG(std::string, scep_listen, "",
          "address:port of the SCEP listener (/scep/<profile>/pkiclient.exe, RFC 8894; port 0 "
          "picks one; docs/scep.md); empty: no SCEP");
ABSL_FLAG(std::string, scep_tls_cert_file, "",
          "PEM certificate chain for HTTPS on --scep_listen; empty (with --scep_tls_key_file "
          "empty): plain HTTP, SCEP protecting its own payload");
ABSL_FLAG(std::string, scep_tls_key_file, "", "PEM private key of --scep_tls_cert_file");
ABSL_FLAG(std::string, scep_ra_secret_file, "",
          "file holding the secret (>= 32 bytes, the same on every replica; e.g. `openssl rand "
          "-hex 32`) from which the keys sealing SCEP RA private keys in the database are "
          "derived (HKDF-SHA-256); needed for SCEP enrollment and RA certificate renewal");
ABSL_FLAG(std::string, scep_ra_previous_secret_file, "",
          "file holding the secret --scep_ra_secret_file had before a rotation: it still opens "
          "RA keys sealed with it, never seals, and the RA round seals those keys again with "
          "the current secret; remove it once every key is re-sealed (docs/scep.md, "
          "\"Rotating the RA secret\"); empty: none");
ABSL_FLAG(absl::Duration, scep_ra_renewal_interval, absl::Minutes(1),
          "how often the SCEP RA certificates are checked: requested for new profiles, "
          "installed once issued, renewed at half their lifetime");
ABSL_FLAG(absl::Duration, scep_enrollment_wait, absl::Seconds(5),
          "how long a SCEP PKCSReq waits for the CA before the device is told PENDING and polls");
ABSL_FLAG(std::string, metrics_listen, "",
          "address:port of the Prometheus metrics port (GET /metrics, plain HTTP; port 0 picks "
          "one); empty: no metrics port");
ABSL_FLAG(absl::Duration, fleet_statistics_interval, absl::Seconds(10),
          "with --metrics_listen: how often this replica reads the backlog figures (waiting "
          "requests and jobs, unserved CAs, agent certificate expiry) from the database");
ABSL_FLAG(int, worker_threads, 16, "threads for blocking work (database, signing)");
ABSL_FLAG(int, db_pool_size, 8, "PostgreSQL connections");
ABSL_FLAG(int, max_message_bytes, 1 << 20, "largest request message accepted on either port");
ABSL_FLAG(absl::Duration, queue_timeout, absl::Minutes(5),
          "a request no connected connector takes within this time fails with the reason");
ABSL_FLAG(absl::Duration, dispatch_timeout, absl::Hours(24),
          "a request taken to the CA whose answer no connector reports within this time "
          "becomes EXPIRED (DISPATCH_TIMEOUT)");
ABSL_FLAG(absl::Duration, pending_approval_timeout, absl::Hours(24 * 30),
          "a request no CA officer approves or denies within this time becomes EXPIRED "
          "(PENDING_APPROVAL_TIMEOUT); its RETRIEVE retries stop");
ABSL_FLAG(int, per_ca_concurrency, 32, "jobs in flight per CA across all agents and replicas");
ABSL_FLAG(absl::Duration, job_lease, absl::Minutes(2),
          "how long an agent holds a job before it is offered again");
ABSL_FLAG(int, max_watch_streams_per_tenant, 16,
          "Watch streams one tenant may hold open on this replica (more: RESOURCE_EXHAUSTED)");
ABSL_FLAG(int, max_registration_polls, 2000,
          "open GetRegistration long-polls on this replica (unauthenticated callers)");
ABSL_FLAG(int, max_registration_polls_per_source, 32,
          "open GetRegistration long-polls from one source address on this replica");
ABSL_FLAG(double, tenant_calls_per_second, 1000,
          "API calls per second one tenant may make across its keys (burst: twice this)");
ABSL_FLAG(double, api_key_calls_per_second, 500,
          "API calls per second one API key may make (burst: twice this)");
ABSL_FLAG(int, max_queued_calls_per_api_key, 256,
          "calls of one API key waiting for a worker thread; more are refused at once");
ABSL_FLAG(absl::Duration, sweep_interval, absl::Seconds(2),
          "period of the safety-net sweep (expired leases, overdue requests, lost wake-ups)");
ABSL_FLAG(absl::Duration, watch_retention, absl::Hours(7 * 24),
          "how long request changes are kept for Watch: a Watch cursor older than this is "
          "refused (FAILED_PRECONDITION) and the client lists again (docs/certificates.md)");
ABSL_FLAG(absl::Duration, max_connection_age, absl::Minutes(30),
          "stream rebalancing: an agent stream older than this (+-10% jitter) is sent Drain "
          "and reconnects, possibly to a replica added since; an API connection older than "
          "this is sent an HTTP/2 GOAWAY; 0: never (docs/kubernetes.md)");
ABSL_FLAG(absl::Duration, max_connection_age_grace, absl::Minutes(1),
          "after a GOAWAY for age, how long calls still open on the old connection may run "
          "before it is closed");

namespace certbridge::broker {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& flag, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, " is required"));
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("--", flag, ": cannot read ", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

int Fail(absl::string_view what, const absl::Status& status) {
  LogError("broker.start_failed", {{"step", what}, {"error", status.message()}});
  std::cerr << "certbridge-broker: " << what << ": " << status.message() << "\n";
  return 1;
}

// Re-reads the operator key file every `interval` until `stop`: Kubernetes updates a mounted
// Secret in place, so a rotation needs no restart. A file that cannot be read or holds no
// valid key keeps the keys in use (logged), so a half-written edit locks nobody out.
void WatchOperatorKeyFile(const std::string& path, std::string loaded_text,
                          absl::Duration interval, ApiKeyAuthenticator* auth,
                          absl::Notification* stop) {
  while (!stop->WaitForNotificationWithTimeout(interval)) {
    absl::StatusOr<std::string> text = ReadFile("operator_key_file", path);
    if (text.ok() && *text == loaded_text) continue;
    absl::StatusOr<std::vector<std::string>> keys =
        text.ok() ? ParseOperatorKeys(*text) : text.status();
    if (!keys.ok()) {
      LogWarning("broker.operator_keys_not_reloaded", {{"error", keys.status().message()}});
      continue;
    }
    auth->ReplaceOperatorKeys(*keys);
    loaded_text = *std::move(text);
    LogInfo("broker.operator_keys_reloaded", {{"keys", absl::StrCat(keys->size())}});
  }
}

// The metrics port: plain HTTP (civetweb inside prometheus-cpp), GET /metrics. The
// Exposer reports a port it cannot bind by throwing; that becomes a status here.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsPort(
    const std::string& address, const std::shared_ptr<prometheus::Registry>& registry) {
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ": ", e.what()));
  }
  if (exposer->GetListeningPorts().empty()) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address));
  }
  exposer->RegisterCollectable(registry);
  return exposer;
}

// The agent port holds one mostly idle TLS connection per agent, 10,000 per replica in the
// sizing (docs/benchmarks.md, docs/kubernetes.md), so what each connection keeps matters
// more there than throughput: agent messages are small (a job, a result, a certificate).
void ConfigureAgentPortMemory(grpc::ServerBuilder& builder) {
  // gRPC's TLS frame protector keeps one buffer of this size per connection for as long as
  // the connection lives (16 KiB by default); 4 KiB records cut the broker's RSS per idle
  // agent from 133 to 124 KiB (certbridge-bench, 10,000 streams) and cost a few more
  // records per large message.
  builder.AddChannelArgument(GRPC_ARG_TSI_MAX_FRAME_SIZE, 4096);
  // Not set here, measured to change nothing for idle agents (docs/benchmarks.md): the
  // HTTP/2 BDP probe, the TCP read chunk sizes, and GRPC_ARG_MAX_CONCURRENT_STREAMS (which
  // would also throttle an HTTP/2 proxy that multiplexes many agents on one connection).
  // No ResourceQuota: under memory pressure gRPC 1.51 reclaims by cancelling streams and
  // closing transports, i.e. by dropping agents.
}

void MarkServing(grpc::Server& server, const std::vector<std::string>& services) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  if (health == nullptr) return;
  for (const std::string& service : services) health->SetServingStatus(service, true);
}

void ConfigureServer(grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_message_bytes));
  // Agents hold streams open for hours, mostly idle: accept their keepalive pings however
  // often they come (else gRPC ends them with too_many_pings) and ping them ourselves.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
}

// Rebalancing (docs/kubernetes.md). A connection older than `age` gets a GOAWAY; new calls go
// on a new connection, which the load balancer may send to another replica; calls still
// open are cut after --max_connection_age_grace. gRPC adds +-10% jitter to the age
// (channel_idle_filter), so clients that connected together do not all leave together.
void ConfigureConnectionAge(grpc::ServerBuilder& builder, absl::Duration age) {
  if (age <= absl::ZeroDuration() || age == absl::InfiniteDuration()) return;
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             static_cast<int>(std::min<int64_t>(
                                 absl::ToInt64Milliseconds(age), INT32_MAX)));
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
      static_cast<int>(std::clamp<int64_t>(
          absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_max_connection_age_grace)), 0,
          INT32_MAX)));
}

int Run() {
  std::string dsn = absl::GetFlag(FLAGS_database_url);
  if (dsn.empty() && std::getenv("CERTBRIDGE_DATABASE_URL") != nullptr) {
    dsn = std::getenv("CERTBRIDGE_DATABASE_URL");
  }
  if (dsn.empty()) {
    return Fail("config", absl::InvalidArgumentError(
                              "--database_url or CERTBRIDGE_DATABASE_URL is required"));
  }
  if (absl::Status s = MigrateDatabase(dsn); !s.ok()) return Fail("migrate", s);
  LogInfo("broker.migrated");
  if (absl::GetFlag(FLAGS_migrate_only)) return 0;

  absl::StatusOr<std::string> tls_cert = ReadFile("tls_cert", absl::GetFlag(FLAGS_tls_cert));
  if (!tls_cert.ok()) return Fail("config", tls_cert.status());
  absl::StatusOr<std::string> tls_key = ReadFile("tls_key", absl::GetFlag(FLAGS_tls_key));
  if (!tls_key.ok()) return Fail("config", tls_key.status());
  absl::StatusOr<std::string> ca_cert =
      ReadFile("connector_ca_cert", absl::GetFlag(FLAGS_connector_ca_cert));
  if (!ca_cert.ok()) return Fail("config", ca_cert.status());
  absl::StatusOr<std::string> ca_key =
      ReadFile("connector_ca_key", absl::GetFlag(FLAGS_connector_ca_key));
  if (!ca_key.ok()) return Fail("config", ca_key.status());
  const std::string operator_key_file = absl::GetFlag(FLAGS_operator_key_file);
  std::string operator_key_text;
  std::vector<std::string> operator_keys;
  if (!operator_key_file.empty()) {
    absl::StatusOr<std::string> text = ReadFile("operator_key_file", operator_key_file);
    if (!text.ok()) return Fail("config", text.status());
    absl::StatusOr<std::vector<std::string>> keys = ParseOperatorKeys(*text);
    if (!keys.ok()) return Fail("config", keys.status());
    operator_key_text = *std::move(text);
    operator_keys = *std::move(keys);
  }

  absl::StatusOr<std::unique_ptr<pki::SigningCa>> signing_ca = pki::SigningCa::Load(*ca_cert, *ca_key);
  if (!signing_ca.ok()) return Fail("connector CA", signing_ca.status());

  // Every series exists even without --metrics_listen (the services always have somewhere
  // to count); only the port is optional.
  auto registry = std::make_shared<prometheus::Registry>();
  PrometheusBrokerMetrics metrics(*registry, CERTBRIDGE_VERSION);

  PostgresStoreOptions store_options;
  store_options.dsn = dsn;
  store_options.pool_size = absl::GetFlag(FLAGS_db_pool_size);
  store_options.metrics = &metrics;
  absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Create(store_options);
  if (!store.ok()) return Fail("database", store.status());
  // Certificate requests are written through this: a request's record reaches the calls
  // waiting for it on this replica as the write returns, before its NOTIFY comes back
  // (record_publishing_certificate_store.h). Its SetChangeListener sets the store's too.
  RecordPublishingCertificateStore requests(store->get());

  std::string replica_id = absl::GetFlag(FLAGS_replica_id);
  if (replica_id.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    replica_id = absl::StrCat(host, "-", getpid());
  }

  RealClock clock;
  WorkerPool pool(absl::GetFlag(FLAGS_worker_threads));
  ConnectorCa connector_ca(*std::move(signing_ca), absl::GetFlag(FLAGS_agent_certificate_lifetime));
  ApiKeyAuthenticator auth(store->get(), "", &clock);
  auth.ReplaceOperatorKeys(operator_keys);
  absl::Notification stop_reloading;
  std::thread operator_key_reloader;
  if (!operator_key_file.empty()) {
    operator_key_reloader = std::thread([&] {
      WatchOperatorKeyFile(operator_key_file, operator_key_text,
                           absl::GetFlag(FLAGS_operator_key_reload_interval), &auth,
                           &stop_reloading);
    });
  }
  ApiCallLimits call_limits;
  call_limits.tenant_calls_per_second = absl::GetFlag(FLAGS_tenant_calls_per_second);
  call_limits.tenant_burst = 2 * call_limits.tenant_calls_per_second;
  call_limits.key_calls_per_second = absl::GetFlag(FLAGS_api_key_calls_per_second);
  call_limits.key_burst = 2 * call_limits.key_calls_per_second;
  call_limits.max_queued_per_key =
      static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_max_queued_calls_per_api_key)));
  ApiCallGate gate(&auth, &pool, &clock, call_limits);

  AgentApiOptions agent_options;
  agent_options.registration_code_ttl = absl::GetFlag(FLAGS_registration_code_ttl);
  agent_options.registration_url_base = absl::GetFlag(FLAGS_registration_url_base);
  agent_options.heartbeat_interval_seconds = absl::GetFlag(FLAGS_heartbeat_interval_seconds);
  agent_options.metrics = &metrics;
  agent_options.delivery_certificates = store->get();
  AgentApi agent_api(store->get(), &clock, &connector_ca, agent_options);
  JobDispatcherOptions dispatcher_options;
  dispatcher_options.lease = absl::GetFlag(FLAGS_job_lease);
  dispatcher_options.per_ca_limit = absl::GetFlag(FLAGS_per_ca_concurrency);
  dispatcher_options.metrics = &metrics;
  JobDispatcher dispatcher(store->get(), &requests, &pool, &clock, dispatcher_options);
  AgentServiceLimits agent_limits;
  agent_limits.max_registration_polls = absl::GetFlag(FLAGS_max_registration_polls);
  agent_limits.max_registration_polls_per_source =
      absl::GetFlag(FLAGS_max_registration_polls_per_source);
  if (absl::GetFlag(FLAGS_max_connection_age) > absl::ZeroDuration()) {
    agent_limits.max_stream_age = absl::GetFlag(FLAGS_max_connection_age);
  }
  AgentGrpcService agent_service(&agent_api, &dispatcher, &pool, &clock, replica_id,
                                 agent_limits);

  const absl::Duration session_liveness =
      absl::Seconds(3 * absl::GetFlag(FLAGS_heartbeat_interval_seconds));
  AdminApiOptions admin_options;
  admin_options.session_liveness = session_liveness;
  // Every replica holds the connector CA key: ids and page tokens read on any replica.
  admin_options.opaque_id_secret = *ca_key;
  AdminApi admin_api(store->get(), &requests, &clock, &connector_ca, &agent_service,
                     admin_options);
  AdminGrpcService admin_service(&admin_api, &gate);

  CertificateApiOptions certificate_options;
  certificate_options.queue_timeout = absl::GetFlag(FLAGS_queue_timeout);
  certificate_options.session_liveness = session_liveness;
  certificate_options.opaque_id_secret = *ca_key;
  certificate_options.dispatch_timeout = absl::GetFlag(FLAGS_dispatch_timeout);
  certificate_options.pending_approval_timeout = absl::GetFlag(FLAGS_pending_approval_timeout);
  certificate_options.metrics = &metrics;
  CertificateApi certificate_api(store->get(), &requests, &clock, certificate_options);
  CertificateServiceLimits certificate_limits;
  certificate_limits.max_watch_streams_per_tenant =
      absl::GetFlag(FLAGS_max_watch_streams_per_tenant);
  certificate_limits.metrics = &metrics;
  CertificateGrpcService certificate_service(&certificate_api, &requests, &gate, &pool, &clock,
                                             certificate_limits);
  // The SCEP back end (docs/scep.md): profiles and challenges in their own tables, RA keys
  // sealed under keys derived from --scep_ra_secret_file (without it: profiles can be
  // managed, but no enrollment and no RA certificate).
  scep::PostgresScepStoreOptions scep_store_options;
  scep_store_options.dsn = dsn;
  absl::StatusOr<std::unique_ptr<scep::PostgresScepStore>> scep_store =
      scep::PostgresScepStore::Create(scep_store_options);
  if (!scep_store.ok()) return Fail("database (SCEP)", scep_store.status());
  scep::ScepProfileApi scep_profile_api(store->get(), scep_store->get(), &clock);
  scep::ScepGrpcService scep_grpc_service(&scep_profile_api, &gate);
  // Enroll waits on the SCEP listener's connection threads for the request to settle,
  // woken by the store's change notifications through the fanout below.
  RequestChangeWaiters scep_waiters;
  std::unique_ptr<scep::RaKeyVault> ra_vault;
  std::unique_ptr<scep::ScepEnrollmentService> scep_enrollment_service;
  std::unique_ptr<scep::ScepRaCertificates> scep_ra;
  std::unique_ptr<scep::ScepRaRenewalTask> scep_ra_task;
  if (const std::string secret_file = absl::GetFlag(FLAGS_scep_ra_secret_file);
      !secret_file.empty()) {
    absl::StatusOr<std::string> secret = ReadFile("scep_ra_secret_file", secret_file);
    if (!secret.ok()) return Fail("config", secret.status());
    std::vector<std::string> previous_secrets;
    if (const std::string previous_file = absl::GetFlag(FLAGS_scep_ra_previous_secret_file);
        !previous_file.empty()) {
      absl::StatusOr<std::string> previous =
          ReadFile("scep_ra_previous_secret_file", previous_file);
      if (!previous.ok()) return Fail("config", previous.status());
      previous_secrets.push_back(*std::move(previous));
    }
    absl::StatusOr<scep::RaKeyVault> vault = scep::RaKeyVault::Create(*secret, previous_secrets);
    if (!vault.ok()) return Fail("config", vault.status());
    ra_vault = std::make_unique<scep::RaKeyVault>(*std::move(vault));
    const scep::ScepBackEnd scep_back_end{.store = store->get(),
                                          .requests = &requests,
                                          .scep_store = scep_store->get(),
                                          .certificates = &certificate_api,
                                          .vault = ra_vault.get(),
                                          .clock = &clock};
    scep::ScepEnrollmentOptions enrollment_options;
    enrollment_options.wait = absl::GetFlag(FLAGS_scep_enrollment_wait);
    enrollment_options.changes = &scep_waiters;
    scep_enrollment_service =
        std::make_unique<scep::ScepEnrollmentService>(scep_back_end, enrollment_options);
    scep_ra = std::make_unique<scep::ScepRaCertificates>(scep_back_end);
    scep_ra_task = std::make_unique<scep::ScepRaRenewalTask>(
        scep_ra.get(), absl::GetFlag(FLAGS_scep_ra_renewal_interval));
  } else if (!absl::GetFlag(FLAGS_scep_ra_previous_secret_file).empty()) {
    return Fail("config", absl::InvalidArgumentError(
                              "--scep_ra_previous_secret_file needs --scep_ra_secret_file (the "
                              "current secret; docs/scep.md)"));
  }
  ChangeFanout fanout(&dispatcher, &certificate_service, &agent_service, &scep_waiters);
  requests.SetChangeListener(&fanout);
  if (absl::GetFlag(FLAGS_watch_retention) <= absl::ZeroDuration()) {
    return Fail("--watch_retention", absl::InvalidArgumentError(
                                         "--watch_retention must be positive (default 168h)"));
  }
  Sweeper sweeper(&requests, &certificate_api, &dispatcher, &clock,
                  absl::GetFlag(FLAGS_sweep_interval), absl::GetFlag(FLAGS_watch_retention));
  // The backlog gauges read the database on a connection of their own, only when someone
  // can scrape them.
  const std::string metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  std::unique_ptr<PostgresFleetStatistics> fleet_statistics;
  std::unique_ptr<FleetStatisticsReporter> fleet_reporter;
  if (!metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<PostgresFleetStatistics>> fleet =
        PostgresFleetStatistics::Create(dsn, store_options.connect_timeout);
    if (!fleet.ok()) return Fail("metrics", fleet.status());
    fleet_statistics = *std::move(fleet);
    FleetStatisticsReporterOptions fleet_options;
    fleet_options.period = absl::GetFlag(FLAGS_fleet_statistics_interval);
    fleet_options.session_liveness = session_liveness;
    fleet_reporter = std::make_unique<FleetStatisticsReporter>(fleet_statistics.get(), &metrics,
                                                               &clock, fleet_options);
    fleet_reporter->Start();
  }

  grpc::EnableDefaultHealthCheckService(true);
  // A ServerBuilder takes the registered plugins when it is constructed: the agent port's
  // builder comes first so that only the API port (operators' network) offers reflection,
  // not the port that faces the internet without authentication.
  grpc::ServerBuilder agent_builder;
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::SslServerCredentialsOptions api_tls;
  api_tls.pem_key_cert_pairs.push_back({*tls_key, *tls_cert});
  int api_port = 0;
  grpc::ServerBuilder api_builder;
  ConfigureServer(api_builder);
  ConfigureConnectionAge(api_builder, absl::GetFlag(FLAGS_max_connection_age));
  api_builder.AddListeningPort(absl::GetFlag(FLAGS_api_listen), grpc::SslServerCredentials(api_tls),
                               &api_port);
  api_builder.RegisterService(&admin_service);
  api_builder.RegisterService(&certificate_service);
  api_builder.RegisterService(&scep_grpc_service);
  std::unique_ptr<grpc::Server> api_server = api_builder.BuildAndStart();
  if (!api_server || api_port == 0) {
    return Fail("api port", absl::UnavailableError(absl::StrCat(
                                "cannot listen on ", absl::GetFlag(FLAGS_api_listen))));
  }

  // The agent port asks for a client certificate but lets the handshake through without
  // one: Register needs none, and Connect checks it itself so that a wrong certificate
  // gets an error that says what is wrong instead of a bare TLS failure.
  grpc::SslServerCredentialsOptions agent_tls(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  agent_tls.pem_key_cert_pairs.push_back({*tls_key, *tls_cert});
  agent_tls.pem_root_certs = *ca_cert;
  int agent_port = 0;
  ConfigureServer(agent_builder);
  ConfigureAgentPortMemory(agent_builder);
  // Agent streams are aged out by the service itself (AgentServiceLimits::max_stream_age),
  // with a Drain the agent understands; the transport's GOAWAY, at twice the age, is only
  // the backstop for a client that ignores Drain.
  ConfigureConnectionAge(agent_builder, 2 * absl::GetFlag(FLAGS_max_connection_age));
  agent_builder.AddListeningPort(absl::GetFlag(FLAGS_agent_listen),
                                 grpc::SslServerCredentials(agent_tls), &agent_port);
  agent_builder.RegisterService(&agent_service);
  std::unique_ptr<grpc::Server> agent_server = agent_builder.BuildAndStart();
  if (!agent_server || agent_port == 0) {
    return Fail("agent port", absl::UnavailableError(absl::StrCat(
                                  "cannot listen on ", absl::GetFlag(FLAGS_agent_listen))));
  }

  // Health answers for "" and for each service by name, on every port that serves it.
  const std::vector<std::string> api_services = {"", v1::AdminService::service_full_name(),
                                                 v1::CertificateService::service_full_name()};
  const std::vector<std::string> agent_services = {"", v1::AgentService::service_full_name()};
  MarkServing(*api_server, api_services);
  MarkServing(*agent_server, agent_services);
  int health_port = 0;
  std::unique_ptr<grpc::Server> health_server;
  if (const std::string health_listen = absl::GetFlag(FLAGS_health_listen);
      !health_listen.empty()) {
    grpc::ServerBuilder health_builder;
    health_builder.AddListeningPort(health_listen, grpc::InsecureServerCredentials(),
                                    &health_port);
    health_server = health_builder.BuildAndStart();
    if (!health_server || health_port == 0) {
      return Fail("health port", absl::UnavailableError(
                                     absl::StrCat("cannot listen on ", health_listen)));
    }
    std::vector<std::string> all = api_services;
    all.insert(all.end(), agent_services.begin() + 1, agent_services.end());
    MarkServing(*health_server, all);
  }

  // The SCEP listener (docs/scep.md). scep_enrollment is the ScepEnrollment implementation
  // (profiles, challenges, RA certificate, the request pipeline), constructed with the other
  // services; without one --scep_listen is refused rather than serving nothing.
  scep::ScepEnrollment* scep_enrollment = scep_enrollment_service.get();
  int scep_port = 0;
  std::unique_ptr<scep::ScepHttpServer> scep_server;
  if (const std::string scep_listen = absl::GetFlag(FLAGS_scep_listen); !scep_listen.empty()) {
    if (scep_enrollment == nullptr) {
      return Fail("SCEP port", absl::FailedPreconditionError(
                                   "--scep_listen needs --scep_ra_secret_file (the secret "
                                   "the SCEP RA keys are sealed with; docs/scep.md)"));
    }
    absl::StatusOr<std::unique_ptr<scep::ScepHttpServer>> started = scep::StartScepServer(
        {.listen = scep_listen,
         .tls_cert_file = absl::GetFlag(FLAGS_scep_tls_cert_file),
         .tls_key_file = absl::GetFlag(FLAGS_scep_tls_key_file)},
        scep_enrollment);
    if (!started.ok()) return Fail("SCEP port", started.status());
    scep_server = *std::move(started);
    scep_port = scep_server->port();
  }

  int metrics_port = 0;
  std::unique_ptr<prometheus::Exposer> exposer;
  if (!metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<prometheus::Exposer>> started =
        StartMetricsPort(metrics_listen, registry);
    if (!started.ok()) return Fail("metrics port", started.status());
    exposer = *std::move(started);
    metrics_port = exposer->GetListeningPorts().front();
  }

  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    const std::string path = absl::GetFlag(FLAGS_port_file);
    const std::string tmp = path + ".tmp";
    std::ofstream(tmp) << "api=" << api_port << "\nagent=" << agent_port << "\n"
                       << (metrics_port != 0 ? absl::StrCat("metrics=", metrics_port, "\n") : "")
                       << (health_port != 0 ? absl::StrCat("health=", health_port, "\n") : "")
                       << (scep_port != 0 ? absl::StrCat("scep=", scep_port, "\n") : "");
    std::rename(tmp.c_str(), path.c_str());
  }
  LogInfo("broker.serving", {{"api_port", absl::StrCat(api_port)},
                             {"agent_port", absl::StrCat(agent_port)},
                             {"metrics_port", absl::StrCat(metrics_port)},
                             {"health_port", absl::StrCat(health_port)},
                             {"scep_port", absl::StrCat(scep_port)},
                             {"replica_id", replica_id}});

  // SIGTERM/SIGINT were blocked in main() before any thread started; wait for one here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  LogInfo("broker.draining", {{"signal", absl::StrCat(signal_number)}});
  // Readiness fails first, so that Kubernetes stops sending new connections here.
  for (grpc::Server* server : {api_server.get(), agent_server.get(), health_server.get()}) {
    if (server != nullptr && server->GetHealthCheckService() != nullptr) {
      server->GetHealthCheckService()->Shutdown();
    }
  }

  // SCEP first: it stops accepting and waits for the Enroll/Poll calls in progress, which
  // need the worker pool and the store still running; their waits end at once (PENDING:
  // the device polls another replica).
  scep_waiters.Drain();
  scep_server.reset();
  agent_service.Drain(/*reconnect_after_ms=*/1000);
  certificate_service.Drain();
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(5);
  agent_server->Shutdown(deadline);
  api_server->Shutdown(deadline);
  if (health_server != nullptr) health_server->Shutdown(deadline);
  requests.SetChangeListener(nullptr);
  pool.Shutdown();
  stop_reloading.Notify();
  if (operator_key_reloader.joinable()) operator_key_reloader.join();
  LogInfo("broker.stopped");
  return 0;
}

}  // namespace
}  // namespace certbridge::broker

int main(int argc, char** argv) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  absl::SetProgramUsageMessage(
      "certbridge-broker --database_url=URI --tls_cert=F --tls_key=F "
      "--connector_ca_cert=F --connector_ca_key=F [--operator_key_file=F]");
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil is built without NDEBUG, so every absl::Mutex::Lock, ours and gRPC's,
  // ran the debug deadlock detector: a process-wide spinlock and a graph lookup per lock
  // (1-3% of the broker's CPU in a profile, docs/benchmarks.md), and an abort of the
  // serving broker on a suspected lock-order cycle. Lock order is checked at build time
  // (-Wthread-safety) and by the TSan tests instead; tests keep the detector.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  certbridge::SetLogComponent("broker");
  return certbridge::broker::Run();
}
