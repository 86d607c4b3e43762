// What the broker measures, as calls from the service code: the seam between the services
// and a metrics system. PrometheusBrokerMetrics (broker/metrics/prometheus/) is the real
// one and only broker/main.cc creates it; NoBrokerMetrics records nothing (unit tests,
// tools). Services take a `BrokerMetrics*` in their options, as leveldb's Options carries
// an Env*: nullptr means NoBrokerMetrics.
//
// Cardinality: no method takes a tenant, connector, CA or request id. Per-tenant figures
// come from the admin API and SQL (docs/monitoring.md), not from labels.
//
// Thread-safety: all methods may be called concurrently from any thread, including gRPC
// reactor threads; none blocks or allocates per call in the real implementation (metric
// objects are created once, when the implementation is built).
#ifndef CERTBRIDGE_BROKER_METRICS_BROKER_METRICS_H_
#define CERTBRIDGE_BROKER_METRICS_BROKER_METRICS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "broker/store/certificate_store.h"
#include "broker/store/fleet_statistics.h"

namespace certbridge::broker {

class BrokerMetrics {
 public:
  virtual ~BrokerMetrics() = default;

  // A request entered `state` through this replica: QUEUED (created), PENDING_APPROVAL,
  // or a terminal state. DISPATCHED is counted only in the fleet figures.
  // `key_generation`: the agent makes the key (else the caller sent a CSR).
  virtual void RequestEntered(RequestState state, bool key_generation) = 0;

  // A request got its CA's first answer and ended with it (not via pending approval).
  // `total`: creation to the recorded answer. `at_agent`: the part between the broker
  // handing the job to an agent and the agent's result arriving (the agent and the CA);
  // the rest (`total - at_agent`) is what the broker and the database added.
  virtual void RequestAnswered(bool key_generation, absl::Duration total,
                               absl::Duration at_agent) = 0;

  // An agent reported what the CA answered to a job (`ca_answered`), or that it could
  // not reach the CA (then `hresult` may be 0).
  virtual void CaOutcome(JobKind kind, bool ca_answered, uint32_t hresult) = 0;

  // An agent stream got its dispatcher slot (after Hello) / lost it.
  virtual void AgentConnected() = 0;
  virtual void AgentDisconnected() = 0;
  // A Hello from a connector that had been connected before (to any replica).
  virtual void AgentReconnected() = 0;

  // The dispatcher claimed `jobs` jobs for one agent in one store call.
  virtual void JobsClaimed(int jobs) = 0;

  // A WatchCertificateRequests stream opened / closed on this replica.
  virtual void WatchStreamOpened() = 0;
  virtual void WatchStreamClosed() = 0;

  // One store call held a database connection for `duration`.
  virtual void DatabaseCall(absl::Duration duration) = 0;

  // The periodic fleet read (FleetStatisticsReporter): its figures, or its failure (the
  // replica cannot reach the database). `now` turns times into ages.
  virtual void FleetRead(const absl::StatusOr<FleetStatistics>& statistics, absl::Time now) = 0;
};

// Records nothing.
class NoBrokerMetrics final : public BrokerMetrics {
 public:
  void RequestEntered(RequestState, bool) override {}
  void RequestAnswered(bool, absl::Duration, absl::Duration) override {}
  void CaOutcome(JobKind, bool, uint32_t) override {}
  void AgentConnected() override {}
  void AgentDisconnected() override {}
  void AgentReconnected() override {}
  void JobsClaimed(int) override {}
  void WatchStreamOpened() override {}
  void WatchStreamClosed() override {}
  void DatabaseCall(absl::Duration) override {}
  void FleetRead(const absl::StatusOr<FleetStatistics>&, absl::Time) override {}
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_METRICS_BROKER_METRICS_H_
