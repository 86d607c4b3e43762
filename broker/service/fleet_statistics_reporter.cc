#include "broker/service/fleet_statistics_reporter.h"

#include "common/log.h"

namespace certbridge::broker {

FleetStatisticsReporter::FleetStatisticsReporter(FleetStatisticsSource* source,
                                                 BrokerMetrics* metrics, const Clock* clock,
                                                 FleetStatisticsReporterOptions options)
    : source_(source), metrics_(metrics), clock_(clock), options_(options) {}

FleetStatisticsReporter::~FleetStatisticsReporter() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void FleetStatisticsReporter::Start() {
  thread_ = std::thread([this] {
    do {
      ReportOnce();
    } while (!stop_.WaitForNotificationWithTimeout(options_.period));
  });
}

void FleetStatisticsReporter::ReportOnce() {
  const absl::Time now = clock_->Now();
  absl::StatusOr<FleetStatistics> statistics = source_->Read(now - options_.session_liveness);
  if (!statistics.ok()) {
    LogWarning("metrics.fleet_read_failed", {{"error", statistics.status().message()}});
  }
  metrics_->FleetRead(statistics, now);
}

}  // namespace certbridge::broker
