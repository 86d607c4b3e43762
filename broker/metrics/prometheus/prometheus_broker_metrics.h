// BrokerMetrics on prometheus-cpp: every series the broker exports, created once in the
// constructor (a Family::Add per label set there, never on a call), so a call is an
// atomic add on a cached reference. docs/monitoring.md lists the series; the Grafana
// dashboard and the alert rules in deploy/monitoring/ use them.
//
//   prometheus::Registry registry;
//   PrometheusBrokerMetrics metrics(registry, "0.1.0");
//   options.metrics = &metrics;  // services take a BrokerMetrics*
//   exposer.RegisterCollectable(std::shared_ptr<prometheus::Registry>(&registry, [](auto*) {}));
//
// Thread-safety: as BrokerMetrics. The registry must outlive this object.
#ifndef CERTBRIDGE_BROKER_METRICS_PROMETHEUS_PROMETHEUS_BROKER_METRICS_H_
#define CERTBRIDGE_BROKER_METRICS_PROMETHEUS_PROMETHEUS_BROKER_METRICS_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "broker/metrics/broker_metrics.h"

namespace certbridge::broker {

class PrometheusBrokerMetrics final : public BrokerMetrics {
 public:
  // Registers every family in `registry`. `version` is the broker's version
  // (certbridge_replica_info).
  PrometheusBrokerMetrics(prometheus::Registry& registry, const std::string& version);

  void RequestEntered(RequestState state, bool key_generation) override;
  void RequestAnswered(bool key_generation, absl::Duration total,
                       absl::Duration at_agent) override;
  void CaOutcome(JobKind kind, bool ca_answered, uint32_t hresult) override;
  void AgentConnected() override;
  void AgentDisconnected() override;
  void AgentReconnected() override;
  void JobsClaimed(int jobs) override;
  void WatchStreamOpened() override;
  void WatchStreamClosed() override;
  void DatabaseCall(absl::Duration duration) override;
  void FleetRead(const absl::StatusOr<FleetStatistics>& statistics, absl::Time now) override;

 private:
  static constexpr int kStates = static_cast<int>(RequestState::kCancelled) + 1;
  static constexpr int kKinds = static_cast<int>(JobKind::kRevoke) + 1;
  using PerMode = std::array<prometheus::Counter*, 2>;  // [key_generation]
  using PerKind = std::array<prometheus::Counter*, kKinds>;

  // [state][key_generation]; nullptr for DISPATCHED (not counted).
  std::array<PerMode, kStates> requests_{};
  // By HRESULT for every HRESULT of the AD CS catalog and 0; others share "other", and a
  // CA that was not reached (no HRESULT) is "none". A fixed set: an agent cannot grow the
  // number of series by reporting made-up numbers.
  std::map<uint32_t, PerKind> ca_outcomes_;
  PerKind ca_outcomes_other_{};
  PerKind ca_outcomes_none_{};
  std::array<prometheus::Histogram*, 2> request_duration_{};
  std::array<prometheus::Histogram*, 2> broker_added_{};
  prometheus::Gauge* connected_agents_;
  prometheus::Counter* reconnects_;
  prometheus::Histogram* claim_batch_;
  prometheus::Gauge* watch_streams_;
  prometheus::Histogram* database_call_;
  prometheus::Gauge* database_up_;
  prometheus::Gauge* requests_queued_;
  prometheus::Gauge* requests_dispatched_;
  prometheus::Gauge* requests_pending_approval_;
  prometheus::Gauge* jobs_ready_;
  prometheus::Gauge* jobs_leased_;
  prometheus::Gauge* oldest_pending_approval_;
  prometheus::Gauge* unserved_cas_;
  prometheus::Gauge* certificate_expiry_connected_;
  prometheus::Gauge* certificate_expiry_disconnected_;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_METRICS_PROMETHEUS_PROMETHEUS_BROKER_METRICS_H_
