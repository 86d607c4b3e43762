#include "agent/client/agent_session.h"

#include <algorithm>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/client/agent_info.h"
#include "agent/client/broker_channel.h"
#include "agent/events/admin_events.h"
#include "certbridge/v1/agent.grpc.pb.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace certbridge::agent {
namespace {

namespace v1 = ::certbridge::v1;

// Upper bound on any writer wait, so that a wall-clock jump (suspend/resume) is noticed.
constexpr absl::Duration kMaxWriterWait = absl::Minutes(1);
// How long to wait for the reader after the writer stopped for a reason of its own.
constexpr absl::Duration kReaderDrainTimeout = absl::Seconds(10);
// Journaled results carried in Hello at most; the rest follow as JobResult messages. Well
// under the broker's 1 MiB default message limit (--max_message_bytes): a Hello over it is
// refused, and a connector with a large journal would never connect again.
constexpr size_t kMaxHelloResultBytes = 256 << 10;

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

std::string Millis(absl::Duration d) { return std::to_string(absl::ToInt64Milliseconds(d)); }

absl::StatusOr<pki::CertificateInfo> LeafOf(absl::string_view chain_pem,
                                           const std::string& path) {
  absl::StatusOr<std::vector<std::string>> chain = pki::SplitPemChain(chain_pem);
  absl::StatusOr<pki::CertificateInfo> leaf =
      chain.ok() ? pki::ParseCertificate(chain->front()) : chain.status();
  if (!leaf.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("\"", path, "\" holds no readable certificate (", leaf.status().message(),
                     "): re-register with `certbridge-agent register --force`"));
  }
  return leaf;
}

}  // namespace

AgentSession::AgentSession(AgentSessionOptions options, const Clock& clock, Uniform01 uniform01)
    : options_(std::move(options)),
      clock_(clock),
      uniform01_(std::move(uniform01)),
      dir_(options_.state_dir) {}

AgentSession::~AgentSession() {
  if (options_.jobs != nullptr) options_.jobs->SetResultSink(nullptr);
}

void AgentSession::QueueResult(const v1::JobResult& result) {
  absl::MutexLock lock(&mu_);
  outbox_.push_back(result);
}

void AgentSession::HandleJob(const v1::Job& job) {
  if (options_.jobs != nullptr) {
    options_.jobs->Dispatch(job);
    return;
  }
  v1::JobResult refused;
  refused.set_job_id(job.job_id());
  refused.set_error_code("FAILED_PRECONDITION");
  refused.set_error_message("this agent was started without a job executor");
  QueueResult(refused);
}

void AgentSession::Stop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  if (context_ != nullptr) context_->TryCancel();
}

bool AgentSession::SleepUnlessStopped(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
  mu_.AwaitWithTimeout(absl::Condition(&stopping), d);
  return !stopping_;
}

absl::Status AgentSession::ExpiredError(absl::Time not_after) const {
  return absl::UnauthenticatedError(absl::StrCat(
      "the agent certificate expired on ", FormatUtc(not_after),
      " while the agent was offline, so it cannot be renewed. Ask a tenant admin for a new "
      "enrollment token and re-register: certbridge-agent register --force --token-file "
      "<file with the new token> --broker ", registration_.broker_address, " --broker-ca ",
      dir_.FilePath(StateDir::kBrokerCaFile), " --state-dir ", dir_.path()));
}

absl::Status AgentSession::Run() {
  ASSIGN_OR_RETURN(registration_, dir_.LoadRegistration());
  proxy_ = options_.proxy.empty() ? registration_.proxy : options_.proxy;
  ASSIGN_OR_RETURN(std::unique_ptr<StateDirLock> lock, dir_.Lock());
  ReconnectBackoff backoff(options_.backoff, uniform01_);
  if (options_.jobs != nullptr) {
    options_.jobs->SetResultSink([this](const v1::JobResult& r) { QueueResult(r); });
  }
  // Results produced after Run() returns stay in the journal.
  struct SinkReset {
    JobExecutor* jobs;
    ~SinkReset() {
      if (jobs != nullptr) jobs->SetResultSink(nullptr);
    }
  } sink_reset{options_.jobs};
  LogInfo("agent.starting", {{"connector_id", registration_.connector_id},
                             {"tenant_id", registration_.tenant_id},
                             {"broker", registration_.broker_address},
                             {"version", AgentVersion()}});
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    // Reloaded every time: a renewal on the previous stream replaced the files.
    ASSIGN_OR_RETURN(AgentCredentials credentials, dir_.LoadCredentials());
    ASSIGN_OR_RETURN(pki::CertificateInfo leaf,
                     LeafOf(credentials.chain_pem, dir_.FilePath(StateDir::kChainFile)));
    if (clock_.Now() >= leaf.not_after) {
      absl::Status expired = ExpiredError(leaf.not_after);
      LogError("agent.certificate_expired", {{"connector_id", registration_.connector_id},
                                             {"not_after", FormatUtc(leaf.not_after)}});
      return expired;
    }

    StreamOutcome outcome = RunStream(registration_, credentials, leaf);
    if (outcome.stopped) break;
    backoff.StreamEnded(outcome.uptime);

    absl::Duration delay;
    const grpc::Status& s = outcome.status;
    std::string code = std::to_string(static_cast<int>(s.error_code()));
    if (outcome.drained) {
      backoff.Reset();
      delay = outcome.reconnect_after;
    } else if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED &&
               absl::StrContains(s.error_message(), "expired")) {
      LogError("agent.certificate_expired", {{"connector_id", registration_.connector_id},
                                             {"message", s.error_message()}});
      return ExpiredError(leaf.not_after);
    } else if (s.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
               s.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
               s.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
      // Disabled, still pending, or not trusted: only an admin can fix it, so keep asking
      // slowly rather than hammering the broker.
      delay = backoff.CappedDelay();
      LogWarning("agent.connector_not_active",
                 {{"connector_id", registration_.connector_id}, {"code", code},
                  {"message", s.error_message()},
                  {"remedy", "a tenant admin can check the connector with "
                             "`certbridgectl connectors list` and enable or approve it"}});
    } else {
      delay = backoff.NextDelay();
      LogWarning("agent.stream_ended", {{"connector_id", registration_.connector_id},
                                        {"code", code},
                                        {"message", s.error_message()},
                                        {"uptime_ms", Millis(outcome.uptime)}});
    }
    LogInfo("agent.reconnect_scheduled",
            {{"connector_id", registration_.connector_id}, {"delay_ms", Millis(delay)}});
    // Only a stream that was up: failed attempts while the broker stays away would flood
    // the event log (they are in the JSON log).
    if (outcome.connected && options_.event_log != nullptr) {
      options_.event_log->Report(DisconnectedEvent(
          registration_.broker_address,
          outcome.drained ? "DRAINED"
                          : absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code())),
          outcome.drained ? "the broker asked the agent to reconnect to another replica"
                          : s.error_message(),
          delay));
    }
    if (!SleepUnlessStopped(delay)) break;
  }
  LogInfo("agent.stopped", {{"connector_id", registration_.connector_id}});
  return absl::OkStatus();
}

AgentSession::StreamOutcome AgentSession::RunStream(const AgentRegistration& registration,
                                                    const AgentCredentials& credentials,
                                                    const pki::CertificateInfo& leaf) {
  StreamOutcome outcome;
  // Everything finished but unacknowledged is in the journal and goes in Hello; the
  // outbox would only repeat it.
  bool stopping;
  {
    absl::MutexLock lock(&mu_);
    outbox_.clear();
    stopping = stopping_;
  }
  std::vector<v1::JobResult> journal_results;
  if (options_.jobs != nullptr && !stopping) journal_results = options_.jobs->PrepareHello();
  auto channel = CreateBrokerChannel({.address = registration.broker_address,
                                      .broker_ca_pem = credentials.broker_ca_pem,
                                      .client_key_pem = credentials.key_pem,
                                      .client_chain_pem = credentials.chain_pem,
                                      .proxy = proxy_});
  auto stub = v1::AgentService::NewStub(channel);
  grpc::ClientContext ctx;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      outcome.stopped = true;
      return outcome;
    }
    context_ = &ctx;
    stream_ = StreamState();
    stream_.heartbeat_interval = options_.default_heartbeat_interval;
    stream_.cert_not_before = leaf.not_before;
    stream_.cert_not_after = leaf.not_after;
  }
  absl::Time started = clock_.Now();
  LogInfo("agent.connecting", {{"connector_id", registration.connector_id},
                               {"broker", registration.broker_address},
                               {"proxy", proxy_.empty() ? "none" : proxy_},
                               {"certificate_serial", leaf.serial_hex},
                               {"certificate_not_after", FormatUtc(leaf.not_after)}});

  std::unique_ptr<Stream> stream = stub->Connect(&ctx);
  v1::AgentMessage hello;
  hello.mutable_hello()->set_agent_version(AgentVersion());
  hello.mutable_hello()->set_host(registration.host.empty() ? LocalHostName()
                                                            : registration.host);
  hello.mutable_hello()->set_os(OsDescription());
  hello.mutable_hello()->set_ca_identity(registration.ca_identity);
  if (options_.jobs != nullptr) {
    hello.mutable_hello()->set_max_concurrent_jobs(options_.jobs->max_concurrent_jobs());
  }
  {
    // Hello stays well under the broker's message limit; what does not fit follows as
    // JobResult messages (the broker reads them after Hello).
    size_t bytes = 0;
    absl::MutexLock lock(&mu_);
    for (v1::JobResult& r : journal_results) {
      bytes += r.ByteSizeLong();
      if (bytes <= kMaxHelloResultBytes) {
        *hello.mutable_hello()->add_journal_results() = std::move(r);
      } else {
        outbox_.push_back(std::move(r));
      }
    }
  }
  if (!journal_results.empty()) {
    LogInfo("agent.journal_results", {{"connector_id", registration.connector_id},
                                      {"count", std::to_string(journal_results.size())}});
  }
  bool hello_sent = stream->Write(hello);

  std::thread reader([this, &stream] { ReadLoop(*stream); });
  if (hello_sent) WriteLoop(*stream);

  {
    absl::MutexLock lock(&mu_);
    bool drain = stream_.drain_requested && !stopping_;
    auto reader_done_or_stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stream_.reader_done || stopping_;
    };
    if (drain) {
      // Half-close so the broker can end the call cleanly with OK.
      mu_.Unlock();
      stream->WritesDone();
      mu_.Lock();
      mu_.AwaitWithTimeout(absl::Condition(&reader_done_or_stopping),
                           options_.drain_close_timeout);
    } else {
      // The writer stopped because the reader ended, the call broke, or Stop(): in the
      // first two cases the status is on its way; wait for it rather than cancel it away.
      mu_.AwaitWithTimeout(absl::Condition(&reader_done_or_stopping), kReaderDrainTimeout);
    }
    if (!stream_.reader_done) ctx.TryCancel();
  }
  reader.join();
  outcome.status = stream->Finish();
  outcome.uptime = clock_.Now() - started;

  absl::MutexLock lock(&mu_);
  context_ = nullptr;
  outcome.stopped = stopping_;
  outcome.drained = stream_.drain_requested;
  outcome.connected = stream_.configured;
  outcome.reconnect_after = stream_.drain_delay;
  // A renewal still outstanding is abandoned with its key; the next stream starts over.
  stream_.pending_key.reset();
  return outcome;
}

absl::Time AgentSession::NextWriterWakeup(absl::Time last_heartbeat) const {
  absl::Time wakeup = last_heartbeat + stream_.heartbeat_interval;
  // Renewal is judged by clock_, which may be a test clock; convert the distance into
  // real time for the wait.
  absl::Time renew_at = std::max(
      RenewalTime(stream_.cert_not_before, stream_.cert_not_after, options_.renew_fraction),
      stream_.next_renewal_attempt);
  absl::Duration until_renewal = std::max(renew_at - clock_.Now(), absl::ZeroDuration());
  wakeup = std::min(wakeup, absl::Now() + until_renewal);
  return std::min(wakeup, absl::Now() + kMaxWriterWait);
}

void AgentSession::WriteLoop(Stream& stream) {
  absl::Time last_heartbeat = absl::Now();
  std::deque<v1::JobResult> results;
  while (true) {
    if (std::optional<std::string> csr = StartRenewalIfDue()) {
      v1::AgentMessage msg;
      msg.mutable_renewal_request()->set_csr_pem(*csr);
      if (!stream.Write(msg)) return;
    }
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || stream_.reader_done || stream_.drain_requested ||
               stream_.config_changed || !outbox_.empty();
      };
      mu_.AwaitWithDeadline(absl::Condition(&wake), NextWriterWakeup(last_heartbeat));
      if (stopping_ || stream_.reader_done || stream_.drain_requested) return;
      if (!outbox_.empty()) {
        results.swap(outbox_);
      } else if (stream_.config_changed) {
        stream_.config_changed = false;  // new interval: recompute the deadline
        continue;
      }
      if (results.empty() && absl::Now() < last_heartbeat + stream_.heartbeat_interval) continue;
    }
    if (!results.empty()) {
      // A result that fails to go out stays in the journal for the next Hello.
      for (v1::JobResult& r : results) {
        v1::AgentMessage out;
        *out.mutable_job_result() = std::move(r);
        if (!stream.Write(out)) return;
      }
      results.clear();
      continue;
    }
    v1::AgentMessage msg;
    absl::Time now = clock_.Now();
    msg.mutable_heartbeat()->mutable_agent_time()->set_seconds(absl::ToUnixSeconds(now));
    msg.mutable_heartbeat()->mutable_agent_time()->set_nanos(
        static_cast<int32_t>(absl::ToInt64Nanoseconds(now - absl::FromUnixSeconds(
                                                                 absl::ToUnixSeconds(now)))));
    if (!stream.Write(msg)) return;
    last_heartbeat = absl::Now();
  }
}

std::optional<std::string> AgentSession::StartRenewalIfDue() {
  absl::Time not_after;
  {
    absl::MutexLock lock(&mu_);
    absl::Time now = clock_.Now();
    if (!RenewalDue(stream_.cert_not_before, stream_.cert_not_after, now,
                    options_.renew_fraction) ||
        now < stream_.next_renewal_attempt) {
      return std::nullopt;
    }
    // Whatever happens next, do not try again before the retry interval.
    stream_.next_renewal_attempt = now + options_.renewal_retry_interval;
    not_after = stream_.cert_not_after;
  }
  absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  absl::StatusOr<std::string> csr =
      key.ok() ? pki::CreateCsrPem(*key, {.subject = absl::StrCat(
                                              "CN=", registration_.host.empty()
                                                         ? LocalHostName()
                                                         : registration_.host),
                                          .sans = {}})
               : key.status();
  if (!csr.ok()) {
    LogError("agent.certificate_renewal_failed", {{"connector_id", registration_.connector_id},
                                                  {"error", csr.status().ToString()}});
    return std::nullopt;
  }
  {
    absl::MutexLock lock(&mu_);
    stream_.pending_key = std::move(*key);
  }
  LogInfo("agent.certificate_renewal_requested",
          {{"connector_id", registration_.connector_id},
           {"current_not_after", FormatUtc(not_after)}});
  return std::move(*csr);
}

void AgentSession::ReadLoop(Stream& stream) {
  v1::BrokerMessage msg;
  while (stream.Read(&msg)) {
    switch (msg.body_case()) {
      case v1::BrokerMessage::kConfig:
        HandleConfig(msg.config());
        break;
      case v1::BrokerMessage::kRenewedCertificate:
        HandleRenewedCertificate(msg.renewed_certificate());
        break;
      case v1::BrokerMessage::kJob:
        HandleJob(msg.job());
        break;
      case v1::BrokerMessage::kJobAck:
        if (options_.jobs != nullptr) options_.jobs->Acknowledge(msg.job_ack().job_id());
        break;
      case v1::BrokerMessage::kDrain: {
        absl::Duration delay =
            absl::Milliseconds(std::max(0, msg.drain().reconnect_after_ms()));
        LogInfo("agent.drain_requested",
                {{"connector_id", registration_.connector_id}, {"reconnect_after_ms",
                                                                 Millis(delay)}});
        absl::MutexLock lock(&mu_);
        stream_.drain_requested = true;
        stream_.drain_delay = delay;
        break;
      }
      default:
        // A message from a newer broker: ignore it rather than drop the stream.
        break;
    }
  }
  absl::MutexLock lock(&mu_);
  stream_.reader_done = true;
}

void AgentSession::HandleConfig(const v1::AgentConfig& config) {
  std::vector<std::string> cas;
  for (const v1::AssignedCa& ca : config.assigned_cas()) {
    cas.push_back(ca.display_name().empty()
                      ? ca.config_string()
                      : absl::StrCat(ca.display_name(), " (", ca.config_string(), ")"));
  }
  absl::Duration interval = config.heartbeat_interval_seconds() > 0
                                ? absl::Seconds(config.heartbeat_interval_seconds())
                                : options_.default_heartbeat_interval;
  bool first;
  {
    absl::MutexLock lock(&mu_);
    first = !stream_.configured;
    stream_.configured = true;
    stream_.heartbeat_interval = interval;
    stream_.config_changed = true;
  }
  std::string joined = absl::StrJoin(cas, ", ");
  LogInfo(first ? "agent.connected" : "agent.config_received",
          {{"connector_id", config.connector_id().empty() ? registration_.connector_id
                                                          : config.connector_id()},
           {"tenant_id", config.tenant_id()},
           {"assigned_cas", joined},
           {"assigned_ca_count", std::to_string(cas.size())},
           {"heartbeat_interval_s", std::to_string(absl::ToInt64Seconds(interval))}});
  if (first && options_.event_log != nullptr) {
    options_.event_log->Report(ConnectedEvent(registration_.broker_address,
                                              registration_.connector_id, proxy_));
  }
}

void AgentSession::HandleRenewedCertificate(const v1::RenewedCertificate& renewed) {
  std::optional<pki::PrivateKey> key;
  {
    absl::MutexLock lock(&mu_);
    key = std::move(stream_.pending_key);
    stream_.pending_key.reset();
  }
  auto reject = [&](absl::string_view reason) {
    LogError("agent.certificate_renewal_rejected",
             {{"connector_id", registration_.connector_id}, {"reason", reason}});
  };
  if (!key.has_value()) {
    reject("a renewed certificate arrived but no renewal is outstanding");
    return;
  }
  absl::StatusOr<std::vector<std::string>> chain =
      pki::SplitPemChain(renewed.certificate_chain_pem());
  absl::StatusOr<pki::CertificateInfo> leaf =
      chain.ok() ? pki::ParseCertificate(chain->front()) : chain.status();
  bool matches = leaf.ok() && pki::KeyMatchesCertificate(*key, chain->front());
  if (!matches) {
    reject(leaf.ok() ? "the certificate is not for the key this agent sent"
                     : std::string(leaf.status().message()));
    // Keep the key: the broker may still send the right answer for it.
    absl::MutexLock lock(&mu_);
    if (!stream_.pending_key.has_value()) stream_.pending_key = std::move(key);
    return;
  }
  absl::Status saved = dir_.ReplaceKeyAndChain(key->ToPem(), renewed.certificate_chain_pem());
  if (!saved.ok()) {
    // The old pair stays on disk and is still valid; try again after the retry interval.
    LogError("agent.certificate_renewal_failed",
             {{"connector_id", registration_.connector_id}, {"error", saved.ToString()}});
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    // Measured from receipt: a broker that back-dates notBefore for clock skew must not
    // make a short-lived certificate look due at once.
    stream_.cert_not_before = std::max(leaf->not_before, clock_.Now());
    stream_.cert_not_after = leaf->not_after;
    stream_.next_renewal_attempt = absl::InfinitePast();
  }
  LogInfo("agent.certificate_renewed", {{"connector_id", registration_.connector_id},
                                        {"serial", leaf->serial_hex},
                                        {"not_before", FormatUtc(leaf->not_before)},
                                        {"not_after", FormatUtc(leaf->not_after)}});
  if (options_.event_log != nullptr) {
    options_.event_log->Report(CertificateRenewedEvent(leaf->serial_hex, leaf->not_after));
  }
}

}  // namespace certbridge::agent
