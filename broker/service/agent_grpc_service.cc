#include "broker/service/agent_grpc_service.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "broker/service/stream_outbox.h"
#include "common/adcs/ca_identity.h"
#include "common/api_error.h"
#include "common/log.h"

namespace certbridge::broker {
namespace {
constexpr int kDefaultWaitSeconds = 30;
constexpr int kMaxWaitSeconds = 60;
constexpr size_t kMaxConnectorId = 64;
constexpr size_t kMaxPollSecret = 256;
// Without a lost notification a poll is answered by ConnectorChanged; this re-read is the
// safety net, so it can be slow.
constexpr int kPollSafetyNetTicks = 15;

// "ipv4:192.0.2.7:53122" -> "ipv4:192.0.2.7"; "ipv6:[::1]:4000" -> "ipv6:[::1]". The
// source address that per-source limits count.
std::string PeerHost(const std::string& peer) {
  const size_t colon = peer.rfind(':');
  const size_t first = peer.find(':');
  if (colon == std::string::npos || colon == first) return peer;
  return peer.substr(0, colon);
}
}  // namespace

// One agent's Connect stream. Deletes itself when gRPC is done with it and no pool task
// holds a reference.
class AgentGrpcService::ConnectStream final
    : public OutboxReactor<grpc::ServerBidiReactor<v1::AgentMessage, v1::BrokerMessage>,
                           v1::BrokerMessage>,
      public JobSink {
 public:
  ConnectStream(AgentGrpcService* service, grpc::CallbackServerContext* context)
      : service_(service), connect_time_(service->clock_->Now()) {
    std::string peer_certificate;
    if (auto auth = context->auth_context()) {
      for (const auto& value : auth->FindPropertyValues("x509_pem_cert")) {
        peer_certificate.assign(value.data(), value.size());
      }
    }
    peer_ = context->peer();
    Ref();
    service_->pool_->Post([this, peer_certificate] {
      Authenticate(peer_certificate);
      Unref();
    });
  }

  // Re-checks the connector row after an admin change; ends the stream if it is no longer
  // ACTIVE, else sends the (possibly changed) config.
  void Recheck() {
    Ref();
    service_->pool_->Post([this] {
      if (registered_) {
        absl::StatusOr<ConnectorRecord> connector = service_->api_->CheckStreamConnector(
            {identity_.tenant_id, identity_.connector_id});
        if (!connector.ok()) {
          End(ToGrpcStatusWithDetails(connector.status()));
        } else {
          SetConnector(*connector);
          SendConfig();
          const int64_t slot = slot_.load();
          if (slot != 0) service_->dispatcher_->UpdateAgentCas(slot, connector->ca_ids);
        }
      }
      Unref();
    });
  }

  void SendJob(v1::Job job) override {
    v1::BrokerMessage message;
    *message.mutable_job() = std::move(job);
    Send(std::move(message));
  }

  // Tells the agent to reconnect after `reconnect_after_ms` and ends the stream UNAVAILABLE
  // with `reason` (BROKER_DRAINING, STREAM_AGED_OUT) and `why` as the message.
  void Drain(int reconnect_after_ms, absl::string_view reason, absl::string_view why) {
    v1::BrokerMessage message;
    message.mutable_drain()->set_reconnect_after_ms(reconnect_after_ms);
    Send(std::move(message));
    End(ToGrpcStatusWithDetails(ApiError(absl::StatusCode::kUnavailable, reason, why)
                                    .RetryAfter(absl::Milliseconds(reconnect_after_ms))));
  }

  absl::Time connect_time() const { return connect_time_; }
  // When the stream is aged out (AgentServiceLimits::max_stream_age). Read and written
  // only under service_->mu_, from AddStream on.
  absl::Time age_out_time = absl::InfiniteFuture();

  // A newer stream of the same connector, from `newest_peer`, connected to this replica.
  // REQUIRES: service_->mu_ held (the stream is registered, so not yet freed).
  void EndReplaced(const std::string& newest_peer) {
    LogWarning("agent.stream_replaced", {{"connector_id", identity_.connector_id},
                                         {"tenant_id", identity_.tenant_id},
                                         {"peer", peer_},
                                         {"newer_peer", newest_peer}});
    Ref();
    service_->pool_->Post([this, newest_peer] {
      service_->api_->ReportStreamReplaced(
          CurrentConnector(), absl::StrCat("the stream from ", peer_, " was ended: a newer "
                                           "stream from ", newest_peer, " took over"));
      Unref();
    });
    End(ToGrpcStatusWithDetails(
        ApiError(absl::StatusCode::kAborted, "CONNECTOR_STREAM_REPLACED",
                 absl::StrCat("connector \"", identity_.connector_id,
                              "\": a newer stream of this connector connected; only one "
                              "agent may run per registration (if two machines share one "
                              "state directory, register each)"))
            .Metadata("connector_id", identity_.connector_id)));
  }

  const std::string& peer() const { return peer_; }

  void OnReadDone(bool ok) override {
    if (!ok) {
      End(grpc::Status::OK);  // the agent closed its side or the connection broke
      return;
    }
    Ref();
    service_->pool_->Post([this] {
      Handle(in_);
      Unref();
    });
  }

  // OnDone may run before Authenticate (the agent left while its stream was starting):
  // Authenticate then does not register, so no freed stream is left in streams_.
  void OnDone() override {
    done_.store(true);
    const bool was_registered = MarkDone();
    if (const int64_t slot = slot_.load(); slot != 0) service_->dispatcher_->RemoveAgent(slot);
    if (was_registered) {
      service_->RemoveStream(identity_.connector_id, this);
      std::string connector_id = identity_.connector_id;
      AgentGrpcService* service = service_;
      const absl::Time connect_time = connect_time_;
      service_->pool_->Post([service, connector_id, connect_time] {
        absl::Status s = service->api_->EndSession(connector_id, service->replica_id_,
                                                   connect_time);
        if (!s.ok()) LogWarning("session.end_failed", {{"connector_id", connector_id},
                                                      {"error", s.message()}});
      });
      LogInfo("agent.disconnected", {{"connector_id", identity_.connector_id},
                                     {"tenant_id", identity_.tenant_id}});
    }
    Unref();
  }

 private:
  // On the pool.
  void Authenticate(const std::string& peer_certificate) {
    absl::StatusOr<ConnectorRecord> connector =
        service_->api_->AuthenticateStream(peer_certificate);
    if (!connector.ok()) {
      LogWarning("agent.stream_refused", {{"peer", peer_}, {"error", connector.status().message()}});
      End(ToGrpcStatusWithDetails(connector.status()));
      return;
    }
    identity_ = {connector->tenant_id, connector->connector_id};
    SetConnector(*connector);
    if (!RegisterUnlessDone([this] {
          service_->AddStream(identity_.connector_id, this);
          return true;
        })) {
      return;  // the agent already left; nothing to read
    }
    registered_ = true;
    LogInfo("agent.connected", {{"connector_id", identity_.connector_id},
                                {"tenant_id", identity_.tenant_id}, {"peer", peer_}});
    service_->EndOlderStreams(identity_.connector_id, this);
    StartReadUnlessEnding(&in_);
  }

  // On the pool, one message at a time.
  void Handle(const v1::AgentMessage& message) {
    const ConnectorRecord connector = CurrentConnector();
    absl::Status status;
    switch (message.body_case()) {
      case v1::AgentMessage::kHello:
        status = service_->api_->RecordHello(connector, message.hello(), service_->replica_id_,
                                             connect_time_);
        if (status.ok()) {
          SendConfig();
          status = StartJobs(connector, message.hello());
        }
        break;
      case v1::AgentMessage::kJobResult: {
        const int64_t slot = slot_.load();
        if (slot == 0) {
          status = ApiError(absl::StatusCode::kFailedPrecondition, "HELLO_REQUIRED",
                            "JobResult before Hello");
          break;
        }
        status = service_->dispatcher_->HandleResult(slot, message.job_result());
        if (status.ok()) SendJobAck(message.job_result().job_id());
        break;
      }
      case v1::AgentMessage::kHeartbeat: {
        status = service_->api_->RecordHeartbeat(connector, service_->replica_id_, connect_time_);
        const int64_t slot = slot_.load();
        if (status.ok() && slot != 0) status = service_->dispatcher_->ExtendLeases(slot);
        break;
      }
      case v1::AgentMessage::kRenewalRequest: {
        absl::StatusOr<v1::RenewedCertificate> renewed =
            service_->api_->Renew(connector, message.renewal_request());
        if (renewed.ok()) {
          v1::BrokerMessage out;
          *out.mutable_renewed_certificate() = *std::move(renewed);
          Send(std::move(out));
          LogInfo("agent.certificate_renewed", {{"connector_id", connector.connector_id}});
        } else {
          status = renewed.status();
        }
        break;
      }
      case v1::AgentMessage::BODY_NOT_SET:
        status = ApiError(absl::StatusCode::kInvalidArgument, "AGENT_MESSAGE_UNKNOWN",
                          "empty AgentMessage: this broker does not understand the agent's "
                          "message; upgrade the broker or downgrade the agent");
        break;
    }
    if (!status.ok()) {
      // Store outages end the stream (the agent reconnects with backoff); bad input ends
      // it with the reason so the agent log says what was wrong.
      LogWarning("agent.message_failed", {{"connector_id", connector.connector_id},
                                          {"error", status.message()}});
      End(ToGrpcStatusWithDetails(status));
      return;
    }
    StartReadUnlessEnding(&in_);
  }

  // After Hello: records what the agent finished while it had no stream, then takes work.
  absl::Status StartJobs(const ConnectorRecord& connector, const v1::Hello& hello) {
    if (slot_.load() != 0) return absl::OkStatus();  // a second Hello changes nothing
    AgentSlotInfo info;
    info.tenant_id = connector.tenant_id;
    info.connector_id = connector.connector_id;
    // RecordHello refused a Hello whose identity differs from the approved one.
    info.ca_identity = connector.ca_identity.empty() ? adcs::NormalizeCaIdentity(hello.ca_identity())
                                                     : connector.ca_identity;
    info.ca_ids = connector.ca_ids;
    info.window = hello.max_concurrent_jobs() > 0 ? std::min(hello.max_concurrent_jobs(), 64) : 4;
    const int64_t slot = service_->dispatcher_->AddAgent(info, this);
    slot_.store(slot);
    if (done_.load()) {  // the stream ended meanwhile: OnDone may have missed the slot
      service_->dispatcher_->RemoveAgent(slot);
      return absl::OkStatus();
    }
    for (const v1::JobResult& result : hello.journal_results()) {
      absl::Status s = service_->dispatcher_->HandleResult(slot, result);
      if (!s.ok()) return s;
      SendJobAck(result.job_id());
    }
    service_->dispatcher_->ResendLeased(slot);
    return absl::OkStatus();
  }

  void SendJobAck(int64_t job_id) {
    v1::BrokerMessage ack;
    ack.mutable_job_ack()->set_job_id(job_id);
    Send(std::move(ack));
  }

  void SendConfig() {
    absl::StatusOr<v1::AgentConfig> config = service_->api_->ConfigFor(CurrentConnector());
    if (!config.ok()) {
      End(ToGrpcStatusWithDetails(config.status()));
      return;
    }
    v1::BrokerMessage out;
    *out.mutable_config() = *std::move(config);
    Send(std::move(out));
  }

  AgentGrpcService* service_;
  const absl::Time connect_time_;
  std::string peer_;

  ConnectorRecord CurrentConnector() {
    absl::MutexLock lock(&connector_mu_);
    return connector_;
  }
  void SetConnector(ConnectorRecord connector) {
    absl::MutexLock lock(&connector_mu_);
    connector_ = std::move(connector);
  }

  // Set once on the pool before registered_ becomes true; constant afterwards.
  AgentIdentity identity_;
  std::atomic<bool> registered_{false};
  // The dispatcher slot, once Hello arrived; 0 before.
  std::atomic<int64_t> slot_{0};
  std::atomic<bool> done_{false};
  // Refreshed by Recheck while messages are handled.
  absl::Mutex connector_mu_;
  ConnectorRecord connector_ ABSL_GUARDED_BY(connector_mu_);

  v1::AgentMessage in_;

};

AgentGrpcService::AgentGrpcService(AgentApi* api, JobDispatcher* dispatcher, WorkerPool* pool,
                                   const Clock* clock, std::string replica_id,
                                   AgentServiceLimits limits)
    : api_(api),
      dispatcher_(dispatcher),
      pool_(pool),
      clock_(clock),
      replica_id_(std::move(replica_id)),
      limits_(limits) {
  ticker_ = std::thread([this] { TickerLoop(); });
}

AgentGrpcService::~AgentGrpcService() {
  stop_ticker_.Notify();
  ticker_.join();
}

grpc::ServerUnaryReactor* AgentGrpcService::Register(grpc::CallbackServerContext* context,
                                                     const v1::RegisterRequest* request,
                                                     v1::RegisterResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  pool_->Post([this, reactor, request, response] {
    absl::StatusOr<v1::RegisterResponse> result = api_->Register(*request);
    if (result.ok()) {
      *response = *std::move(result);
      LogInfo("connector.registered", {{"connector_id", response->connector_id()},
                                       {"host", request->host()}});
    }
    reactor->Finish(ToGrpcStatusWithDetails(result.status()));
  });
  return reactor;
}

grpc::ServerUnaryReactor* AgentGrpcService::GetRegistration(
    grpc::CallbackServerContext* context, const v1::GetRegistrationRequest* request,
    v1::GetRegistrationResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Unauthenticated: bounded before anything is read or stored.
  if (request->connector_id().size() > kMaxConnectorId ||
      request->poll_secret().size() > kMaxPollSecret) {
    reactor->Finish(ToGrpcStatusWithDetails(
        ApiError(absl::StatusCode::kInvalidArgument, "FIELD_TOO_LONG",
                 absl::StrCat("connector_id is at most ", kMaxConnectorId,
                              " bytes and poll_secret at most ", kMaxPollSecret))
            .Field(request->connector_id().size() > kMaxConnectorId ? "connector_id"
                                                                    : "poll_secret",
                   "too long")));
    return reactor;
  }
  int wait = request->wait_seconds() <= 0 ? kDefaultWaitSeconds : request->wait_seconds();
  if (wait > kMaxWaitSeconds) wait = kMaxWaitSeconds;
  const std::string connector_id = request->connector_id();
  RegistrationPoll::Hooks hooks;
  hooks.read = [this, request](int64_t*) { return api_->CheckRegistration(*request); };
  hooks.settled = [](const v1::GetRegistrationResponse& r) {
    return r.state() != v1::GetRegistrationResponse::STATE_PENDING;
  };
  const std::string source = PeerHost(context->peer());
  hooks.forget = [this, connector_id, source](RegistrationPoll* poll) {
    RemovePoll(connector_id, source, poll);
  };
  auto poll = std::make_shared<RegistrationPoll>(pool_, clock_, reactor, response,
                                                 clock_->Now() + absl::Seconds(wait),
                                                 std::move(hooks));
  bool draining;
  {
    absl::MutexLock lock(&mu_);
    int& from_source = polls_per_source_[source];
    if (static_cast<int>(polls_.size()) >= limits_.max_registration_polls ||
        from_source >= limits_.max_registration_polls_per_source) {
      if (from_source == 0) polls_per_source_.erase(source);
      reactor->Finish(ToGrpcStatusWithDetails(
          ApiError(absl::StatusCode::kResourceExhausted, "REGISTRATION_POLL_LIMIT",
                   "too many registration polls are open (from this address or in total); "
                   "poll again in 10 seconds")
              .RetryAfter(absl::Seconds(10))));
      return reactor;
    }
    draining = draining_;
    if (!draining) {
      polls_.emplace(connector_id, poll);
      ++from_source;
    } else if (from_source == 0) {
      polls_per_source_.erase(source);
    }
  }
  poll->Evaluate(/*force_answer=*/draining);
  return reactor;
}

grpc::ServerBidiReactor<v1::AgentMessage, v1::BrokerMessage>* AgentGrpcService::Connect(
    grpc::CallbackServerContext* context) {
  return new ConnectStream(this, context);
}

void AgentGrpcService::ConnectorChanged(const std::string& connector_id) {
  absl::MutexLock lock(&mu_);
  auto [pb, pe] = polls_.equal_range(connector_id);
  for (auto it = pb; it != pe; ++it) it->second->Evaluate(false);
  auto [sb, se] = streams_.equal_range(connector_id);
  for (auto it = sb; it != se; ++it) it->second->Recheck();
}

void AgentGrpcService::Drain(int reconnect_after_ms) {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  for (auto& [id, poll] : polls_) poll->Evaluate(/*force_answer=*/true);
  for (auto& [id, stream] : streams_) {
    stream->Drain(reconnect_after_ms, "BROKER_DRAINING", "broker is shutting down; reconnect");
  }
}

void AgentGrpcService::DrainAgedStreamsLocked() {
  if (draining_) return;
  const absl::Time now = clock_->Now();
  for (auto& [id, stream] : streams_) {
    if (stream->age_out_time > now) continue;
    stream->age_out_time = absl::InfiniteFuture();  // once
    const int reconnect_after_ms = absl::Uniform(random_, 0, 1000);
    LogInfo("agent.stream_aged_out",
            {{"connector_id", id}, {"peer", stream->peer()},
             {"age_s", absl::StrCat(absl::ToInt64Seconds(now - stream->connect_time()))},
             {"reconnect_after_ms", absl::StrCat(reconnect_after_ms)}});
    stream->Drain(reconnect_after_ms, "STREAM_AGED_OUT",
                  "the stream reached the broker's --max_connection_age; reconnect, possibly "
                  "to another replica");
  }
}

size_t AgentGrpcService::StreamCount() const {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

void AgentGrpcService::AddStream(const std::string& connector_id, ConnectStream* stream) {
  absl::MutexLock lock(&mu_);
  if (limits_.max_stream_age != absl::InfiniteDuration()) {
    // +-10%, as gRPC jitters GRPC_ARG_MAX_CONNECTION_AGE_MS: agents that connected
    // together (after a restart) do not all move together.
    stream->age_out_time =
        stream->connect_time() + limits_.max_stream_age * absl::Uniform(random_, 0.9, 1.1);
  }
  streams_.emplace(connector_id, stream);
}

void AgentGrpcService::EndOlderStreams(const std::string& connector_id,
                                       ConnectStream* newest) {
  absl::MutexLock lock(&mu_);
  auto [b, e] = streams_.equal_range(connector_id);
  for (auto it = b; it != e; ++it) {
    if (it->second != newest) it->second->EndReplaced(newest->peer());
  }
}

void AgentGrpcService::RemoveStream(const std::string& connector_id, ConnectStream* stream) {
  absl::MutexLock lock(&mu_);
  auto [b, e] = streams_.equal_range(connector_id);
  for (auto it = b; it != e; ++it) {
    if (it->second == stream) {
      streams_.erase(it);
      return;
    }
  }
}

void AgentGrpcService::RemovePoll(const std::string& connector_id, const std::string& source,
                                  RegistrationPoll* poll) {
  absl::MutexLock lock(&mu_);
  auto [b, e] = polls_.equal_range(connector_id);
  for (auto it = b; it != e; ++it) {
    if (it->second.get() == poll) {
      polls_.erase(it);
      auto count = polls_per_source_.find(source);
      if (count != polls_per_source_.end() && --count->second <= 0) {
        polls_per_source_.erase(count);
      }
      return;
    }
  }
}

size_t AgentGrpcService::RegistrationPollCount() const {
  absl::MutexLock lock(&mu_);
  return polls_.size();
}

void AgentGrpcService::TickerLoop() {
  // Approvals, on this replica or another, arrive as ConnectorChanged; here polls whose
  // wait is over are answered, and every poll is re-read now and then in case a
  // notification was lost. Not once a second each: that was a database read per open
  // poll per second, which anyone on the internet could multiply.
  int ticks = 0;
  while (!stop_ticker_.WaitForNotificationWithTimeout(absl::Seconds(1))) {
    const bool safety_net = ++ticks % kPollSafetyNetTicks == 0;
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    for (auto& [id, poll] : polls_) {
      if (safety_net || poll->deadline() <= now) poll->Evaluate(false);
    }
    DrainAgedStreamsLocked();
  }
}

}  // namespace certbridge::broker
