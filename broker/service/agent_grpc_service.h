// AgentService on the agent port, over the gRPC callback API: no thread per stream, and no
// blocking work on gRPC threads (store and signing run on the WorkerPool).
//
// Connect: the client certificate is checked against the connector CA and the connector
// row (ACTIVE) when the stream opens and again whenever the connector changes
// (ConnectorChanged), so disabling or deleting a connector ends its stream at once.
// Messages of one stream are handled one at a time, in order; the next read starts when
// the previous message is done, which bounds what one agent can queue.
//
// GetRegistration long-polls, unauthenticated: it is answered when the connector is
// approved or rejected (ConnectorChanged, which every replica hears through the store's
// notifications), when wait_seconds pass, or by a slow re-read that covers a lost
// notification. Open polls are capped per source address and in total.
#ifndef CERTBRIDGE_BROKER_SERVICE_AGENT_GRPC_SERVICE_H_
#define CERTBRIDGE_BROKER_SERVICE_AGENT_GRPC_SERVICE_H_

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "broker/service/agent_api.h"
#include "broker/service/connector_events.h"
#include "broker/service/job_dispatcher.h"
#include "broker/service/pending_call.h"
#include "broker/service/worker_pool.h"
#include "certbridge/v1/agent.grpc.pb.h"
#include "common/clock.h"

namespace certbridge::broker {

struct AgentServiceLimits {
  // Open GetRegistration long-polls on this replica, in total and from one source address;
  // more are refused with RESOURCE_EXHAUSTED (agents poll again after a pause).
  int max_registration_polls = 2000;
  int max_registration_polls_per_source = 32;
  // Stream rebalancing: a Connect stream older than this, with +-10% jitter per stream, is
  // sent Drain (reconnect after a random 0-1 s) and ended, so that the agent reconnects on
  // a new connection, which the load balancer may place on another replica (a replica
  // added since). InfiniteDuration: streams are never aged out.
  absl::Duration max_stream_age = absl::InfiniteDuration();
};

class AgentGrpcService final : public v1::AgentService::CallbackService, public ConnectorEvents {
 public:
  // Nothing is owned; all must outlive this. `replica_id` names this broker process in
  // session rows.
  AgentGrpcService(AgentApi* api, JobDispatcher* dispatcher, WorkerPool* pool, const Clock* clock,
                   std::string replica_id, AgentServiceLimits limits = {});
  ~AgentGrpcService() override;

  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* context,
                                     const v1::RegisterRequest* request,
                                     v1::RegisterResponse* response) override;
  grpc::ServerUnaryReactor* GetRegistration(grpc::CallbackServerContext* context,
                                            const v1::GetRegistrationRequest* request,
                                            v1::GetRegistrationResponse* response) override;
  grpc::ServerBidiReactor<v1::AgentMessage, v1::BrokerMessage>* Connect(
      grpc::CallbackServerContext* context) override;

  void ConnectorChanged(const std::string& connector_id) override;

  // Graceful shutdown: tells every agent to reconnect (elsewhere) after `reconnect_after_ms`
  // and ends the streams; answers pending long-polls.
  void Drain(int reconnect_after_ms);

  // Live streams on this replica.
  size_t StreamCount() const;
  // Open registration long-polls on this replica.
  size_t RegistrationPollCount() const;

 private:
  class ConnectStream;
  friend class ConnectStream;
  using RegistrationPoll = PendingCall<v1::GetRegistrationResponse>;

  void AddStream(const std::string& connector_id, ConnectStream* stream);
  void RemoveStream(const std::string& connector_id, ConnectStream* stream);
  // One live stream per connector: ends the connector's other streams on this replica
  // (the newest wins; a stream on another replica ends at its next heartbeat).
  void EndOlderStreams(const std::string& connector_id, ConnectStream* newest);
  void RemovePoll(const std::string& connector_id, const std::string& source,
                  RegistrationPoll* poll);
  // Drains the streams older than their (jittered) limits_.max_stream_age.
  void DrainAgedStreamsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TickerLoop();

  AgentApi* api_;
  JobDispatcher* dispatcher_;
  WorkerPool* pool_;
  const Clock* clock_;
  const std::string replica_id_;
  const AgentServiceLimits limits_;

  mutable absl::Mutex mu_;
  std::multimap<std::string, ConnectStream*> streams_ ABSL_GUARDED_BY(mu_);
  std::multimap<std::string, std::shared_ptr<RegistrationPoll>> polls_ ABSL_GUARDED_BY(mu_);
  // Open polls by source address (PeerHost); entries at zero are erased.
  std::map<std::string, int> polls_per_source_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  // Jitter for limits_.max_stream_age and the reconnect delay of an aged-out stream.
  absl::BitGen random_ ABSL_GUARDED_BY(mu_);

  absl::Notification stop_ticker_;
  std::thread ticker_;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_AGENT_GRPC_SERVICE_H_
