#include "broker/metrics/prometheus/prometheus_broker_metrics.h"

#include <algorithm>
#include <limits>

#include <prometheus/family.h>

#include "absl/strings/ascii.h"
#include "common/adcs/error_catalog.h"

namespace certbridge::broker {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

constexpr const char* kModes[2] = {"csr", "key_generation"};

// End to end: a CA answers in well under a second; a slow CA, a retry after an
// unreachable CA or a queue behind per_ca_concurrency takes minutes.
Histogram::BucketBoundaries RequestBuckets() {
  return {
      0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
}
// What the broker adds: claims, database writes and notifications, milliseconds.
Histogram::BucketBoundaries BrokerAddedBuckets() {
  return {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}
Histogram::BucketBoundaries DatabaseBuckets() {
  return {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
}
// Jobs per claim: at most an agent's credit window (64).
Histogram::BucketBoundaries ClaimBuckets() {
  return {0, 1, 2, 4, 8, 16, 32, 64};
}

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

}  // namespace

PrometheusBrokerMetrics::PrometheusBrokerMetrics(prometheus::Registry& registry,
                                                 const std::string& version) {
  BuildGauge()
      .Name("certbridge_replica_info")
      .Help("Always 1; the labels describe this broker replica.")
      .Register(registry)
      .Add({{"version", version}})
      .Set(1);

  auto& requests = BuildCounter()
                       .Name("certbridge_requests_total")
                       .Help("Certificate requests that entered a state through this replica "
                             "(QUEUED: created). DISPATCHED is not counted here; see "
                             "certbridge_requests_waiting.")
                       .Register(registry);
  for (int s = 0; s < kStates; ++s) {
    const auto state = static_cast<RequestState>(s);
    if (state == RequestState::kDispatched) continue;
    for (int m = 0; m < 2; ++m) {
      requests_[s][m] =
          &requests.Add({{"state", std::string(RequestStateName(state))}, {"mode", kModes[m]}});
    }
  }

  auto& outcomes =
      BuildCounter()
          .Name("certbridge_ca_outcomes_total")
          .Help("CA answers reported by agents, by job kind and HRESULT (0x00000000: the CA "
                "answered without error; \"none\": the agent could not reach the CA and has "
                "no HRESULT; \"other\": an HRESULT outside the AD CS catalog).")
          .Register(registry);
  auto add_kinds = [&](const std::string& hresult) {
    PerKind per_kind{};
    for (int k = 0; k < kKinds; ++k) {
      per_kind[k] = &outcomes.Add(
          {{"kind", std::string(JobKindName(static_cast<JobKind>(k)))}, {"hresult", hresult}});
    }
    return per_kind;
  };
  ca_outcomes_[adcs::kHresultOk] = add_kinds(adcs::FormatHresult(adcs::kHresultOk));
  for (const adcs::CatalogEntry& entry : adcs::AllEntries()) {
    ca_outcomes_[entry.hresult] = add_kinds(adcs::FormatHresult(entry.hresult));
  }
  ca_outcomes_other_ = add_kinds("other");
  ca_outcomes_none_ = add_kinds("none");

  auto& duration = BuildHistogram()
                       .Name("certbridge_request_duration_seconds")
                       .Help("Creation to the CA's answer being recorded, for requests the CA "
                             "answered at once (not those that waited for approval).")
                       .Register(registry);
  auto& added = BuildHistogram()
                    .Name("certbridge_request_broker_added_seconds")
                    .Help("The part of certbridge_request_duration_seconds spent in the broker "
                          "and the database, i.e. not at the agent or the CA.")
                    .Register(registry);
  for (int m = 0; m < 2; ++m) {
    request_duration_[m] = &duration.Add({{"mode", kModes[m]}}, RequestBuckets());
    broker_added_[m] = &added.Add({{"mode", kModes[m]}}, BrokerAddedBuckets());
  }

  connected_agents_ = &BuildGauge()
                           .Name("certbridge_connected_agents")
                           .Help("Agent streams on this replica that said Hello and take work.")
                           .Register(registry)
                           .Add({});
  reconnects_ = &BuildCounter()
                     .Name("certbridge_agent_stream_reconnects_total")
                     .Help("Agent streams opened on this replica by connectors that had been "
                           "connected before (to any replica).")
                     .Register(registry)
                     .Add({});
  claim_batch_ = &BuildHistogram()
                      .Name("certbridge_claim_batch_size")
                      .Help("Jobs the dispatcher claimed for one agent in one database call.")
                      .Register(registry)
                      .Add({}, ClaimBuckets());
  watch_streams_ = &BuildGauge()
                        .Name("certbridge_watch_streams")
                        .Help("Open WatchCertificateRequests streams on this replica.")
                        .Register(registry)
                        .Add({});
  database_call_ = &BuildHistogram()
                        .Name("certbridge_database_call_duration_seconds")
                        .Help("Time one store call held its PostgreSQL connection.")
                        .Register(registry)
                        .Add({}, DatabaseBuckets());
  database_up_ = &BuildGauge()
                      .Name("certbridge_database_up")
                      .Help("1 when this replica's last periodic read of the database "
                            "succeeded, 0 when it failed.")
                      .Register(registry)
                      .Add({});

  auto& waiting = BuildGauge()
                      .Name("certbridge_requests_waiting")
                      .Help("Requests in a waiting state, all tenants (every replica reports "
                            "the same figure: use max()).")
                      .Register(registry);
  requests_queued_ = &waiting.Add({{"state", "QUEUED"}});
  requests_dispatched_ = &waiting.Add({{"state", "DISPATCHED"}});
  requests_pending_approval_ = &waiting.Add({{"state", "PENDING_APPROVAL"}});
  auto& jobs = BuildGauge()
                   .Name("certbridge_jobs")
                   .Help("Jobs READY for an agent (including those backing off) or LEASED to "
                         "one, all tenants (same on every replica: use max()).")
                   .Register(registry);
  jobs_ready_ = &jobs.Add({{"state", "READY"}});
  jobs_leased_ = &jobs.Add({{"state", "LEASED"}});
  oldest_pending_approval_ =
      &BuildGauge()
           .Name("certbridge_pending_approval_oldest_age_seconds")
           .Help("Age of the oldest request waiting for a CA officer's approval; 0 when none.")
           .Register(registry)
           .Add({});
  unserved_cas_ = &BuildGauge()
                       .Name("certbridge_unserved_cas")
                       .Help("CAs with READY jobs and no ACTIVE assigned connector connected: "
                             "work nobody can take.")
                       .Register(registry)
                       .Add({});
  auto& expiry = BuildGauge()
                     .Name("certbridge_agent_certificate_expiry_seconds")
                     .Help("Seconds until the earliest agent certificate of an ACTIVE connector "
                           "expires, among connected and disconnected connectors; +Inf when "
                           "there is none.")
                     .Register(registry);
  certificate_expiry_connected_ = &expiry.Add({{"connected", "true"}});
  certificate_expiry_disconnected_ = &expiry.Add({{"connected", "false"}});
  certificate_expiry_connected_->Set(std::numeric_limits<double>::infinity());
  certificate_expiry_disconnected_->Set(std::numeric_limits<double>::infinity());
}

void PrometheusBrokerMetrics::RequestEntered(RequestState state, bool key_generation) {
  prometheus::Counter* counter = requests_[static_cast<int>(state)][key_generation ? 1 : 0];
  if (counter != nullptr) counter->Increment();
}

void PrometheusBrokerMetrics::RequestAnswered(bool key_generation, absl::Duration total,
                                              absl::Duration at_agent) {
  const int m = key_generation ? 1 : 0;
  request_duration_[m]->Observe(Seconds(total));
  broker_added_[m]->Observe(Seconds(std::max(absl::ZeroDuration(), total - at_agent)));
}

void PrometheusBrokerMetrics::CaOutcome(JobKind kind, bool ca_answered, uint32_t hresult) {
  const int k = static_cast<int>(kind);
  if (!ca_answered && hresult == 0) {
    ca_outcomes_none_[k]->Increment();
    return;
  }
  auto it = ca_outcomes_.find(hresult);
  (it == ca_outcomes_.end() ? ca_outcomes_other_ : it->second)[k]->Increment();
}

void PrometheusBrokerMetrics::AgentConnected() { connected_agents_->Increment(); }
void PrometheusBrokerMetrics::AgentDisconnected() { connected_agents_->Decrement(); }
void PrometheusBrokerMetrics::AgentReconnected() { reconnects_->Increment(); }
void PrometheusBrokerMetrics::JobsClaimed(int jobs) { claim_batch_->Observe(jobs); }
void PrometheusBrokerMetrics::WatchStreamOpened() { watch_streams_->Increment(); }
void PrometheusBrokerMetrics::WatchStreamClosed() { watch_streams_->Decrement(); }

void PrometheusBrokerMetrics::DatabaseCall(absl::Duration duration) {
  database_call_->Observe(Seconds(duration));
}

void PrometheusBrokerMetrics::FleetRead(const absl::StatusOr<FleetStatistics>& statistics,
                                        absl::Time now) {
  database_up_->Set(statistics.ok() ? 1 : 0);
  if (!statistics.ok()) return;  // the last figures stay: they are the best known
  requests_queued_->Set(static_cast<double>(statistics->requests_queued));
  requests_dispatched_->Set(static_cast<double>(statistics->requests_dispatched));
  requests_pending_approval_->Set(static_cast<double>(statistics->requests_pending_approval));
  jobs_ready_->Set(static_cast<double>(statistics->jobs_ready));
  jobs_leased_->Set(static_cast<double>(statistics->jobs_leased));
  oldest_pending_approval_->Set(
      statistics->oldest_pending_approval.has_value()
          ? std::max(0.0, Seconds(now - *statistics->oldest_pending_approval))
          : 0.0);
  unserved_cas_->Set(static_cast<double>(statistics->unserved_cas_with_ready_jobs));
  auto seconds_to = [&](const std::optional<absl::Time>& t) {
    return t.has_value() ? Seconds(*t - now) : std::numeric_limits<double>::infinity();
  };
  certificate_expiry_connected_->Set(seconds_to(statistics->earliest_certificate_expiry_connected));
  certificate_expiry_disconnected_->Set(
      seconds_to(statistics->earliest_certificate_expiry_disconnected));
}

}  // namespace certbridge::broker
