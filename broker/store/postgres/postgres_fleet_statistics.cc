#include "broker/store/postgres/postgres_fleet_statistics.h"

#include <utility>

#include "broker/store/postgres/pg_connection.h"
#include "common/status_macros.h"

namespace certbridge::broker {
namespace {

using pg::Rows;
using pg::Statement;

// A connector "serves" a CA when it is ACTIVE, assigned to it and has a live session;
// the same definition as the one ClaimJobs callers rely on (CertificateApi's
// WhyCaIsNotServed).
#define CB_LIVE_SESSION(c)                                                        \
  "EXISTS (SELECT 1 FROM connector_session s WHERE s.connector_id = " c           \
  ".connector_id AND s.heartbeat_time > $1::timestamptz)"
constexpr Statement kFleetStatistics = {
    "fleet_statistics",
    "SELECT "
    "(SELECT count(*) FROM certificate_request WHERE state = 'QUEUED'), "
    "(SELECT count(*) FROM certificate_request WHERE state = 'DISPATCHED'), "
    "(SELECT count(*) FROM certificate_request WHERE state = 'PENDING_APPROVAL'), "
    "(SELECT count(*) FROM job WHERE state = 'READY'), "
    "(SELECT count(*) FROM job WHERE state = 'LEASED'), "
    "(SELECT extract(epoch from min(create_time)) FROM certificate_request "
    "   WHERE state = 'PENDING_APPROVAL'), "
    "(SELECT count(*) FROM (SELECT DISTINCT j.ca_id FROM job j WHERE j.state = 'READY' "
    "   AND NOT EXISTS (SELECT 1 FROM ca_assignment a JOIN connector c "
    "     ON c.connector_id = a.connector_id AND c.tenant_id = a.tenant_id "
    "     WHERE a.ca_id = j.ca_id AND a.tenant_id = j.tenant_id AND c.state = 'ACTIVE' AND "
    CB_LIVE_SESSION("c") ")) unserved), "
    "(SELECT extract(epoch from min(c.certificate_expire_time)) FROM connector c "
    "   WHERE c.state = 'ACTIVE' AND " CB_LIVE_SESSION("c") "), "
    "(SELECT extract(epoch from min(c.certificate_expire_time)) FROM connector c "
    "   WHERE c.state = 'ACTIVE' AND NOT " CB_LIVE_SESSION("c") ")"};
#undef CB_LIVE_SESSION

absl::StatusOr<FleetStatistics> FromRow(const Rows& rows) {
  if (rows.size() != 1) return absl::InternalError("fleet statistics: expected one row");
  FleetStatistics out;
  ASSIGN_OR_RETURN(out.requests_queued, rows.Int(0, 0));
  ASSIGN_OR_RETURN(out.requests_dispatched, rows.Int(0, 1));
  ASSIGN_OR_RETURN(out.requests_pending_approval, rows.Int(0, 2));
  ASSIGN_OR_RETURN(out.jobs_ready, rows.Int(0, 3));
  ASSIGN_OR_RETURN(out.jobs_leased, rows.Int(0, 4));
  ASSIGN_OR_RETURN(out.oldest_pending_approval, rows.OptionalTime(0, 5));
  ASSIGN_OR_RETURN(out.unserved_cas_with_ready_jobs, rows.Int(0, 6));
  ASSIGN_OR_RETURN(out.earliest_certificate_expiry_connected, rows.OptionalTime(0, 7));
  ASSIGN_OR_RETURN(out.earliest_certificate_expiry_disconnected, rows.OptionalTime(0, 8));
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresFleetStatistics>> PostgresFleetStatistics::Create(
    const std::string& dsn, absl::Duration connect_timeout) {
  if (dsn.empty()) return absl::InvalidArgumentError("fleet statistics: empty dsn");
  return std::unique_ptr<PostgresFleetStatistics>(
      new PostgresFleetStatistics(dsn, connect_timeout));
}

PostgresFleetStatistics::PostgresFleetStatistics(std::string dsn, absl::Duration connect_timeout)
    : dsn_(std::move(dsn)), connect_timeout_(connect_timeout) {}

PostgresFleetStatistics::~PostgresFleetStatistics() = default;

absl::StatusOr<FleetStatistics> PostgresFleetStatistics::Read(absl::Time live_after) {
  absl::MutexLock lock(&mu_);
  if (conn_ == nullptr || !conn_->healthy() || !conn_->StillOpenWhileIdle()) {
    conn_.reset();
    ASSIGN_OR_RETURN(conn_, pg::Connection::Open(dsn_, connect_timeout_));
  }
  absl::StatusOr<Rows> rows = conn_->Exec(kFleetStatistics, {pg::TimeParam(live_after)});
  if (!rows.ok()) {
    if (!conn_->healthy()) conn_.reset();
    return rows.status();
  }
  return FromRow(*rows);
}

}  // namespace certbridge::broker
