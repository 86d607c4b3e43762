// Reads the fleet figures (FleetStatisticsSource) every `period` on its own thread and
// hands them, or the read's failure, to BrokerMetrics::FleetRead: the backlog gauges and
// certbridge_database_up (an alert fires when a replica cannot read its database).
#ifndef CERTBRIDGE_BROKER_SERVICE_FLEET_STATISTICS_REPORTER_H_
#define CERTBRIDGE_BROKER_SERVICE_FLEET_STATISTICS_REPORTER_H_

#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "broker/metrics/broker_metrics.h"
#include "broker/store/fleet_statistics.h"
#include "common/clock.h"

namespace certbridge::broker {

struct FleetStatisticsReporterOptions {
  // How often to read; every replica reads, so this is per replica.
  absl::Duration period = absl::Seconds(10);
  // A connector counts as connected while its heartbeat is younger than this.
  absl::Duration session_liveness = absl::Seconds(90);
};

class FleetStatisticsReporter {
 public:
  // Nothing is owned; all must outlive this. Does not start a thread: see Start.
  FleetStatisticsReporter(FleetStatisticsSource* source, BrokerMetrics* metrics,
                          const Clock* clock, FleetStatisticsReporterOptions options);
  // Stops and joins the thread, if started.
  ~FleetStatisticsReporter();

  // Reads once now, then every period on a thread.
  void Start();
  // One read (also what the thread runs). Blocking.
  void ReportOnce();

 private:
  FleetStatisticsSource* source_;
  BrokerMetrics* metrics_;
  const Clock* clock_;
  const FleetStatisticsReporterOptions options_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_FLEET_STATISTICS_REPORTER_H_
