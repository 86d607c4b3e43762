// Figures across every tenant that an operator watches (the broker's backlog gauges and
// alerts): how much work waits, and whether anything can take it. Read-only.
//
// Every replica reads the same figures, so dashboards and alerts take max() over
// replicas, not sum(). PostgresFleetStatistics (broker/store/postgres/) is the real one.
//
// Errors: UNAVAILABLE when the database cannot be reached (retry later), INTERNAL else.
// Thread-safety: Read may be called concurrently.
#ifndef CERTBRIDGE_BROKER_STORE_FLEET_STATISTICS_H_
#define CERTBRIDGE_BROKER_STORE_FLEET_STATISTICS_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace certbridge::broker {

struct FleetStatistics {
  // Requests in the waiting states.
  int64_t requests_queued = 0;
  int64_t requests_dispatched = 0;
  int64_t requests_pending_approval = 0;
  // Jobs READY (including those backing off until not_before) and LEASED to an agent.
  int64_t jobs_ready = 0;
  int64_t jobs_leased = 0;
  // create_time of the oldest PENDING_APPROVAL request; nullopt when there is none.
  std::optional<absl::Time> oldest_pending_approval;
  // CAs with READY jobs and no ACTIVE assigned connector whose session heartbeat is newer
  // than `live_after`: work nobody can take.
  int64_t unserved_cas_with_ready_jobs = 0;
  // The earliest agent certificate expiry among ACTIVE connectors with a live session
  // (renewal should have happened) and without one (the agent is gone and will need to
  // register again once it expires); nullopt when there is no such connector.
  std::optional<absl::Time> earliest_certificate_expiry_connected;
  std::optional<absl::Time> earliest_certificate_expiry_disconnected;
};

class FleetStatisticsSource {
 public:
  virtual ~FleetStatisticsSource() = default;
  // A session counts as live when its heartbeat is newer than `live_after`.
  virtual absl::StatusOr<FleetStatistics> Read(absl::Time live_after) = 0;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_FLEET_STATISTICS_H_
