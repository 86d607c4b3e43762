#include "broker/metrics/prometheus/prometheus_broker_metrics.h"

#include <string>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certbridge::broker {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class PrometheusBrokerMetricsTest : public ::testing::Test {
 protected:
  // What GET /metrics would answer.
  std::string Exposition() {
    return prometheus::TextSerializer().Serialize(registry_.Collect());
  }

  prometheus::Registry registry_;
  PrometheusBrokerMetrics metrics_{registry_, "1.2.3"};
};

TEST_F(PrometheusBrokerMetricsTest, EverySeriesExistsBeforeAnythingHappens) {
  const std::string text = Exposition();
  EXPECT_THAT(text, HasSubstr("certbridge_replica_info{version=\"1.2.3\"} 1"));
  EXPECT_THAT(text, HasSubstr("certbridge_requests_total{mode=\"csr\",state=\"ISSUED\"} 0"));
  EXPECT_THAT(text, HasSubstr(
                        "certbridge_requests_total{mode=\"key_generation\",state=\"QUEUED\"} 0"));
  EXPECT_THAT(text, Not(HasSubstr("certbridge_requests_total{mode=\"csr\",state=\"DISPATCHED\"}")));
  EXPECT_THAT(text, HasSubstr("certbridge_requests_waiting{state=\"DISPATCHED\"} 0"));
  EXPECT_THAT(text, HasSubstr(
                        "certbridge_ca_outcomes_total{hresult=\"0x80094800\",kind=\"SUBMIT\"} 0"));
  EXPECT_THAT(text, HasSubstr("certbridge_connected_agents 0"));
  EXPECT_THAT(text, HasSubstr("certbridge_agent_certificate_expiry_seconds{connected=\"true\"} +Inf"));
  EXPECT_THAT(text, HasSubstr("certbridge_database_up 0"));
}

TEST_F(PrometheusBrokerMetricsTest, RequestsCountByStateAndMode) {
  metrics_.RequestEntered(RequestState::kQueued, /*key_generation=*/false);
  metrics_.RequestEntered(RequestState::kQueued, /*key_generation=*/false);
  metrics_.RequestEntered(RequestState::kIssued, /*key_generation=*/true);
  metrics_.RequestEntered(RequestState::kDispatched, /*key_generation=*/true);  // not counted
  const std::string text = Exposition();
  EXPECT_THAT(text, HasSubstr("certbridge_requests_total{mode=\"csr\",state=\"QUEUED\"} 2"));
  EXPECT_THAT(text,
              HasSubstr("certbridge_requests_total{mode=\"key_generation\",state=\"ISSUED\"} 1"));
  EXPECT_THAT(text, Not(HasSubstr("state=\"DISPATCHED\"} 1")));
}

TEST_F(PrometheusBrokerMetricsTest, CaOutcomesKeepAFixedSetOfHresults) {
  metrics_.CaOutcome(JobKind::kSubmit, /*ca_answered=*/true, 0);
  metrics_.CaOutcome(JobKind::kSubmit, /*ca_answered=*/true, 0x80094800);
  metrics_.CaOutcome(JobKind::kRevoke, /*ca_answered=*/false, 0x800706BA);
  metrics_.CaOutcome(JobKind::kSubmit, /*ca_answered=*/false, 0);
  metrics_.CaOutcome(JobKind::kSubmit, /*ca_answered=*/true, 0x12345678);  // made up
  metrics_.CaOutcome(JobKind::kSubmit, /*ca_answered=*/true, 0x87654321);  // made up
  const std::string text = Exposition();
  EXPECT_THAT(text, HasSubstr("certbridge_ca_outcomes_total{hresult=\"0x00000000\",kind=\"SUBMIT\"} 1"));
  EXPECT_THAT(text, HasSubstr("certbridge_ca_outcomes_total{hresult=\"0x80094800\",kind=\"SUBMIT\"} 1"));
  EXPECT_THAT(text, HasSubstr("certbridge_ca_outcomes_total{hresult=\"0x800706BA\",kind=\"REVOKE\"} 1"));
  EXPECT_THAT(text, HasSubstr("certbridge_ca_outcomes_total{hresult=\"none\",kind=\"SUBMIT\"} 1"));
  EXPECT_THAT(text, HasSubstr("certbridge_ca_outcomes_total{hresult=\"other\",kind=\"SUBMIT\"} 2"));
  EXPECT_THAT(text, Not(HasSubstr("0x12345678")));
}

TEST_F(PrometheusBrokerMetricsTest, LatencyHistogramsSplitTheBrokersShare) {
  metrics_.RequestAnswered(/*key_generation=*/false, absl::Milliseconds(800),
                           /*at_agent=*/absl::Milliseconds(795));
  const std::string text = Exposition();
  EXPECT_THAT(text, HasSubstr("certbridge_request_duration_seconds_bucket{mode=\"csr\",le=\"0.5\"} 0"));
  EXPECT_THAT(text, HasSubstr("certbridge_request_duration_seconds_bucket{mode=\"csr\",le=\"1\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("certbridge_request_broker_added_seconds_bucket{mode=\"csr\",le=\"0.0025\"} 0"));
  EXPECT_THAT(text,
              HasSubstr("certbridge_request_broker_added_seconds_bucket{mode=\"csr\",le=\"0.005\"} 1"));
}

TEST_F(PrometheusBrokerMetricsTest, GaugesGoUpAndDown) {
  metrics_.AgentConnected();
  metrics_.AgentConnected();
  metrics_.AgentDisconnected();
  metrics_.WatchStreamOpened();
  metrics_.AgentReconnected();
  metrics_.JobsClaimed(3);
  const std::string text = Exposition();
  EXPECT_THAT(text, HasSubstr("certbridge_connected_agents 1"));
  EXPECT_THAT(text, HasSubstr("certbridge_watch_streams 1"));
  EXPECT_THAT(text, HasSubstr("certbridge_agent_stream_reconnects_total 1"));
  EXPECT_THAT(text, HasSubstr("certbridge_claim_batch_size_bucket{le=\"2\"} 0"));
  EXPECT_THAT(text, HasSubstr("certbridge_claim_batch_size_bucket{le=\"4\"} 1"));
}

TEST_F(PrometheusBrokerMetricsTest, FleetReadSetsBacklogAndAgesFromNow) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  FleetStatistics s;
  s.requests_queued = 4;
  s.requests_pending_approval = 2;
  s.jobs_ready = 5;
  s.jobs_leased = 1;
  s.unserved_cas_with_ready_jobs = 1;
  s.oldest_pending_approval = now - absl::Hours(2);
  s.earliest_certificate_expiry_connected = now + absl::Hours(24);
  metrics_.FleetRead(s, now);
  std::string text = Exposition();
  EXPECT_THAT(text, HasSubstr("certbridge_database_up 1"));
  EXPECT_THAT(text, HasSubstr("certbridge_requests_waiting{state=\"QUEUED\"} 4"));
  EXPECT_THAT(text, HasSubstr("certbridge_requests_waiting{state=\"PENDING_APPROVAL\"} 2"));
  EXPECT_THAT(text, HasSubstr("certbridge_jobs{state=\"READY\"} 5"));
  EXPECT_THAT(text, HasSubstr("certbridge_jobs{state=\"LEASED\"} 1"));
  EXPECT_THAT(text, HasSubstr("certbridge_unserved_cas 1"));
  EXPECT_THAT(text, HasSubstr("certbridge_pending_approval_oldest_age_seconds 7200"));
  EXPECT_THAT(text, HasSubstr("certbridge_agent_certificate_expiry_seconds{connected=\"true\"} 86400"));
  EXPECT_THAT(text,
              HasSubstr("certbridge_agent_certificate_expiry_seconds{connected=\"false\"} +Inf"));

  // A failed read says so and keeps the last known figures.
  metrics_.FleetRead(absl::UnavailableError("down"), now + absl::Seconds(10));
  text = Exposition();
  EXPECT_THAT(text, HasSubstr("certbridge_database_up 0"));
  EXPECT_THAT(text, HasSubstr("certbridge_requests_waiting{state=\"QUEUED\"} 4"));
}

}  // namespace
}  // namespace certbridge::broker
