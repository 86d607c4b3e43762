#include "broker/service/fleet_statistics_reporter.h"

#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace certbridge::broker {
namespace {

// Answers what it was told to and remembers what it was asked.
class ScriptedFleetStatistics final : public FleetStatisticsSource {
 public:
  void SetAnswer(absl::StatusOr<FleetStatistics> answer) {
    absl::MutexLock lock(&mu_);
    answer_ = std::move(answer);
  }
  std::vector<absl::Time> asked() {
    absl::MutexLock lock(&mu_);
    return asked_;
  }
  absl::StatusOr<FleetStatistics> Read(absl::Time live_after) override {
    absl::MutexLock lock(&mu_);
    asked_.push_back(live_after);
    return answer_;
  }

 private:
  absl::Mutex mu_;
  absl::StatusOr<FleetStatistics> answer_ ABSL_GUARDED_BY(mu_) = FleetStatistics{};
  std::vector<absl::Time> asked_ ABSL_GUARDED_BY(mu_);
};

// Keeps the last FleetRead.
class LastFleetRead final : public BrokerMetrics {
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
  void FleetRead(const absl::StatusOr<FleetStatistics>& statistics, absl::Time now) override {
    absl::MutexLock lock(&mu_);
    last_ = statistics;
    now_ = now;
    ++reads_;
  }
  absl::Mutex mu_;
  absl::StatusOr<FleetStatistics> last_ ABSL_GUARDED_BY(mu_) = absl::UnknownError("never read");
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  int reads_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(FleetStatisticsReporterTest, PassesFiguresAndFailuresWithLivenessFromTheClock) {
  FakeClock clock;
  ScriptedFleetStatistics source;
  LastFleetRead metrics;
  FleetStatisticsReporterOptions options;
  options.session_liveness = absl::Seconds(90);
  FleetStatisticsReporter reporter(&source, &metrics, &clock, options);

  FleetStatistics figures;
  figures.jobs_ready = 7;
  source.SetAnswer(figures);
  reporter.ReportOnce();
  {
    absl::MutexLock lock(&metrics.mu_);
    ASSERT_TRUE(metrics.last_.ok());
    EXPECT_EQ(metrics.last_->jobs_ready, 7);
    EXPECT_EQ(metrics.now_, clock.Now());
  }
  ASSERT_EQ(source.asked().size(), 1u);
  EXPECT_EQ(source.asked()[0], clock.Now() - absl::Seconds(90));

  source.SetAnswer(absl::UnavailableError("database down"));
  reporter.ReportOnce();
  absl::MutexLock lock(&metrics.mu_);
  EXPECT_EQ(metrics.last_.status().code(), absl::StatusCode::kUnavailable);
}

TEST(FleetStatisticsReporterTest, StartReadsAtOnceAndStopsWhenDestroyed) {
  FakeClock clock;
  ScriptedFleetStatistics source;
  LastFleetRead metrics;
  FleetStatisticsReporterOptions options;
  options.period = absl::Hours(1);  // only the first read can happen within the test
  {
    FleetStatisticsReporter reporter(&source, &metrics, &clock, options);
    reporter.Start();
    absl::MutexLock lock(&metrics.mu_);
    auto read_once = [&metrics]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(metrics.mu_) {
      return metrics.reads_ >= 1;
    };
    ASSERT_TRUE(metrics.mu_.AwaitWithTimeout(absl::Condition(&read_once), absl::Seconds(30)));
  }  // the destructor must not wait for the hour
  EXPECT_EQ(source.asked().size(), 1u);
}

}  // namespace
}  // namespace certbridge::broker
