// PostgresStore's CertificateStore half: certificate requests, jobs, change sequence
// numbers and change notifications.
//
// Locks are always taken in this order, so that no two transactions deadlock:
//   per-CA advisory lock (claims only) -> job rows -> certificate_request rows.
// Every write of a request appends a request_change row through the triggers of migration
// 0005; Watch reads those in (xid, change_id) order, and no tenant-wide row is written.
//
// Notifications: one pg_notify('certbridge_events', payload) per writing transaction,
// sent in the COMMIT round trip; notify_payload.h defines the payload.
//
// Round trips: BEGIN travels with a transaction's first statements (pg::Connection::Begin),
// and statements that do not need an earlier one's result go together (ExecPipeline). So
// a write transaction is two round trips, its statements and the NOTIFY + COMMIT, plus one
// for each statement that needs an earlier result (mostly the reads that explain a
// refusal).

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "broker/store/postgres/notify_payload.h"
#include "broker/store/postgres/pg_connection.h"
#include "broker/store/postgres/postgres_store.h"
#include "broker/store/postgres/postgres_store_internal.h"
#include "broker/store/record_validation.h"
#include "common/status_macros.h"

namespace certbridge::broker {
namespace {

using pg::AllRows;
using pg::Param;
using pg::Rows;
using pg::Statement;
using pg::TimeParam;

constexpr char kChannel[] = "certbridge_events";
// The first key of the two-key advisory locks ClaimJobs takes per (tenant, CA); the
// second is a hash. Fixed forever: every replica must use the same.
constexpr int kClaimLockClass = 73121502;
// ListRequestChanges' waits for changes hidden behind a still-open older transaction:
// 1 + 2 + 4 ms at most.
constexpr absl::Duration kHiddenChangeBackoff = absl::Milliseconds(1);
constexpr int kHiddenChangeAttempts = 4;

// ---- SQL. Statements are built once from the column lists below, so that the request
// columns are spelled in one place.

// The request's identity columns, then its mutable ones from `p` (the request row "r." or
// one of its changes "c."), as RequestFromRow reads them.
#define CB_IDENTITY_COLUMNS                                                                  \
  "r.name, r.tenant_id, r.request_id, r.ca_id, r.template_name, r.params_fingerprint, "     \
  "r.csr_pem, r.key_type, r.subject, array_to_string(r.subject_alt_names, E'\\x1f'), "      \
  "r.pkcs12_profile, r.sid, r.device_id, "                                                 \
  "(SELECT string_agg(l.key || E'\\x1f' || l.value, E'\\x1e' ORDER BY l.key) "            \
  " FROM jsonb_each_text(r.labels) l), "                                                   \
  "r.attributes, extract(epoch from r.create_time), extract(epoch from r.queue_deadline), "
#define CB_MUTABLE_COLUMNS(p)                                                                \
  p "state, extract(epoch from " p "update_time), " p "ca_request_id, " p "disposition, "    \
  p "hresult, " p "disposition_message, " p "error_code, " p "error_message, " p "remedy, "  \
  p "waiting_reason, " p "connector_id, " p "ca_identity, " p "certificate_pem, "           \
  p "chain_pem, " p "serial_hex, extract(epoch from " p "not_after), encode(" p "pkcs12, "   \
  "'hex'), encode(" p "enveloped_password, 'hex'), " p "revocation_reason, "               \
  "extract(epoch from " p "revoke_time), "

constexpr char kRequestColumns[] =
    CB_IDENTITY_COLUMNS CB_MUTABLE_COLUMNS("r.") "r.seq, r.change_seq ";
// A request as it was at one change: its change_id is the record's change_seq.
constexpr char kChangeColumns[] =
    CB_IDENTITY_COLUMNS CB_MUTABLE_COLUMNS("c.") "r.seq, c.change_id ";

#undef CB_IDENTITY_COLUMNS
#undef CB_MUTABLE_COLUMNS

// The mutable request fields after `state`, in MutableParams order: column and value
// expression ("$" is replaced by the parameter number).
constexpr std::pair<const char*, const char*> kMutableColumns[] = {
    {"update_time", "$::timestamptz"},
    {"ca_request_id", "$::bigint"},
    {"disposition", "$::integer"},
    {"hresult", "$::bigint"},
    {"disposition_message", "$"},
    {"error_code", "$"},
    {"error_message", "$"},
    {"remedy", "$"},
    {"waiting_reason", "$"},
    {"connector_id", "$"},
    {"ca_identity", "$"},
    {"certificate_pem", "$"},
    {"chain_pem", "$"},
    {"serial_hex", "$"},
    {"not_after", "$::timestamptz"},
    {"pkcs12", "decode($, 'hex')"},
    {"enveloped_password", "decode($, 'hex')"},
    {"revocation_reason", "$::integer"},
    {"revoke_time", "$::timestamptz"},
};
constexpr int kMutableCount = sizeof(kMutableColumns) / sizeof(kMutableColumns[0]);

std::string MutableValue(int i, int param) {
  return absl::StrReplaceAll(kMutableColumns[i].second, {{"$", absl::StrCat("$", param)}});
}

std::string MutableSetList(int first_param) {
  std::vector<std::string> parts;
  for (int i = 0; i < kMutableCount; ++i) {
    parts.push_back(absl::StrCat(kMutableColumns[i].first, " = ", MutableValue(i, first_param + i)));
  }
  return absl::StrJoin(parts, ", ");
}

std::vector<Param> MutableParams(const CertificateRequestRecord& r) {
  return {TimeParam(r.update_time),
          absl::StrCat(r.ca_request_id),
          absl::StrCat(r.disposition),
          absl::StrCat(r.hresult),
          r.disposition_message,
          r.error_code,
          r.error_message,
          r.remedy,
          r.waiting_reason,
          r.connector_id,
          r.ca_identity,
          r.certificate_pem,
          r.chain_pem,
          r.serial_hex,
          TimeParam(r.not_after),
          absl::BytesToHexString(r.pkcs12),
          absl::BytesToHexString(r.enveloped_password),
          absl::StrCat(r.revocation_reason),
          TimeParam(r.revoke_time)};
}

struct OwnedStatement {
  std::string name;
  std::string sql;
  Statement get() const { return {name.c_str(), sql.c_str()}; }
};

// $1 name, $2 tenant, $3..$17 identity fields, $18..$36 mutable fields, $37..$46 the job.
// Returns the request's seq and change_seq, both NULL when the request id was taken. The
// change_seq written here is a placeholder: the change trigger (migration 0005) numbers it.
// A missing tenant fails the foreign key (NOT_FOUND).
const OwnedStatement& CreateRequestStatement() {
  static const OwnedStatement* const kStatement = [] {
    std::vector<std::string> columns, values;
    for (int i = 0; i < kMutableCount; ++i) {
      columns.push_back(kMutableColumns[i].first);
      values.push_back(MutableValue(i, 18 + i));
    }
    return new OwnedStatement{
        "create_certificate_request",
        absl::StrCat(
            "WITH ins AS (INSERT INTO certificate_request AS r (name, tenant_id, request_id, ca_id, "
            "template_name, params_fingerprint, csr_pem, key_type, subject, subject_alt_names, "
            "pkcs12_profile, sid, device_id, labels, attributes, create_time, queue_deadline, "
            "state, ",
            absl::StrJoin(columns, ", "),
            ", change_seq) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, "
            "string_to_array($10, E'\\x1f'), $11, $12, $13, "
            "jsonb_object(string_to_array($14, E'\\x1f')), $15, $16::timestamptz, "
            "$17::timestamptz, 'QUEUED', ",
            absl::StrJoin(values, ", "),
            ", 0 ON CONFLICT (tenant_id, request_id) DO NOTHING "
            "RETURNING r.seq, r.change_seq), "
            "job AS (INSERT INTO job (tenant_id, request_name, ca_id, kind, state, "
            "required_identity, connector_id, lease_until, not_before, attempts, serial_hex, "
            "revocation_reason, create_time) SELECT $2, $1, $37, $38, 'READY', $39, $40, "
            "$41::timestamptz, $42::timestamptz, $43::integer, $44, $45::integer, "
            "$46::timestamptz FROM ins RETURNING job_id) "
            "SELECT (SELECT seq FROM ins), (SELECT change_seq FROM ins)")};
  }();
  return *kStatement;
}

// $1 tenant, $2 name, $3 new state, $4..$22 mutable fields, $23 allowed states
// (comma-separated).
const OwnedStatement& UpdateRequestStatement() {
  static const OwnedStatement* const kStatement = new OwnedStatement{
      "update_certificate_request",
      absl::StrCat("UPDATE certificate_request r SET state = $3, ", MutableSetList(4),
                   " WHERE r.tenant_id = $1 AND r.name = $2 "
                   "AND r.state = ANY (string_to_array($23, ',')) RETURNING ",
                   kRequestColumns)};
  return *kStatement;
}

const OwnedStatement& SelectRequestsStatement(const char* name, const char* where) {
  // One per call site; the callers keep the result in a function-local static.
  return *new OwnedStatement{name,
                             absl::StrCat("SELECT ", kRequestColumns,
                                          "FROM certificate_request r ", where)};
}

#define CB_REQUEST_QUERY(fn, name, where)                                     \
  const OwnedStatement& fn() {                                                \
    static const OwnedStatement& kStatement = SelectRequestsStatement(name, where); \
    return kStatement;                                                        \
  }

CB_REQUEST_QUERY(GetRequestStatement, "get_certificate_request",
                 "WHERE r.tenant_id = $1 AND r.name = $2")
CB_REQUEST_QUERY(GetRequestByRequestIdStatement, "get_certificate_request_by_request_id",
                 "WHERE r.tenant_id = $1 AND r.request_id = $2")
CB_REQUEST_QUERY(GetRequestBySerialStatement, "get_certificate_request_by_serial",
                 "WHERE r.tenant_id = $1 AND r.ca_id = $2 AND r.serial_hex = $3 "
                 "AND r.serial_hex <> '' ORDER BY r.seq DESC LIMIT 1")
CB_REQUEST_QUERY(ListRequestsStatement, "list_certificate_requests",
                 "WHERE r.tenant_id = $1 AND ($2::bigint <= 0 OR r.seq < $2::bigint) "
                 "AND ($3::text = '' OR r.state = $3::text) "
                 "AND ($4::text = '' OR r.ca_id = $4::text) "
                 "AND ($5::text = '' OR r.device_id = $5::text) "
                 "ORDER BY r.seq DESC LIMIT $6::integer")
CB_REQUEST_QUERY(ListOverdueStatement, "list_overdue_queued_requests",
                 "WHERE r.state = 'QUEUED' AND r.queue_deadline < $1::timestamptz "
                 "ORDER BY r.queue_deadline, r.name COLLATE \"C\" LIMIT $2::integer")
CB_REQUEST_QUERY(ListWaitingByAgeStatement, "list_waiting_requests_by_age",
                 "WHERE r.state = $1::text AND r.state IN ('DISPATCHED', 'PENDING_APPROVAL') "
                 "AND r.create_time < $2::timestamptz "
                 "ORDER BY r.create_time, r.name COLLATE \"C\" LIMIT $3::integer")

#undef CB_REQUEST_QUERY

// $1 tenant, $2 cursor (a change_id of the tenant, or 0: from the oldest kept), $3 limit.
// Only changes of transactions older than the oldest one still in progress: any change
// not yet readable sorts after every change returned (the rule in migration 0005).
const OwnedStatement& ListChangesStatement() {
  static const OwnedStatement* const kStatement = new OwnedStatement{
      "list_request_changes",
      absl::StrCat(
          "SELECT ", kChangeColumns,
          "FROM request_change c JOIN certificate_request r "
          "ON r.tenant_id = c.tenant_id AND r.name = c.request_name "
          "WHERE c.tenant_id = $1 AND c.xid < pg_snapshot_xmin(pg_current_snapshot()) "
          "AND ($2::bigint = 0 OR (c.xid, c.change_id) > (SELECT p.xid, p.change_id "
          " FROM request_change p WHERE p.tenant_id = $1 AND p.change_id = $2::bigint)) "
          "ORDER BY c.xid, c.change_id LIMIT $3::integer")};
  return *kStatement;
}

constexpr Statement kSetDelivery = {
    "set_delivery_certificate",
    "UPDATE tenant SET delivery_certificate_pem = $2 WHERE tenant_id = $1"};
constexpr Statement kGetDelivery = {
    "get_delivery_certificate", "SELECT delivery_certificate_pem FROM tenant WHERE tenant_id = $1"};
// The tenant exists; its newest readable change (NULL if none).
constexpr Statement kLatestChangeSeq = {
    "latest_change_seq",
    "SELECT EXISTS (SELECT 1 FROM tenant WHERE tenant_id = $1), "
    "(SELECT c.change_id FROM request_change c WHERE c.tenant_id = $1 "
    " AND c.xid < pg_snapshot_xmin(pg_current_snapshot()) "
    " ORDER BY c.xid DESC, c.change_id DESC LIMIT 1)"};
// Whether the cursor is one of the tenant's kept changes, and whether the tenant has
// committed changes that are not readable yet (an older transaction is still open).
constexpr Statement kChangeCursorState = {
    "change_cursor_state",
    "SELECT EXISTS (SELECT 1 FROM request_change WHERE tenant_id = $1 "
    " AND change_id = $2::bigint), "
    "EXISTS (SELECT 1 FROM request_change WHERE tenant_id = $1 "
    " AND xid >= pg_snapshot_xmin(pg_current_snapshot()))"};
// The retention sweep, oldest first, a bounded batch per transaction.
constexpr Statement kDeleteChangesBefore = {
    "delete_request_changes_before",
    "DELETE FROM request_change WHERE change_id IN (SELECT change_id FROM request_change "
    " WHERE update_time < $1::timestamptz ORDER BY change_id LIMIT $2::integer)"};
constexpr Statement kRequestState = {
    "certificate_request_state",
    "SELECT state FROM certificate_request WHERE tenant_id = $1 AND name = $2"};
constexpr Statement kJobState = {
    "job_state", "SELECT state FROM job WHERE tenant_id = $1 AND job_id = $2::bigint"};
// Locks the jobs in id order first (the lock order), then fails them.
constexpr Statement kFailOpenJobs = {
    "fail_open_jobs",
    "UPDATE job SET state = 'FAILED' WHERE job_id IN (SELECT job_id FROM job "
    "WHERE tenant_id = $1 AND request_name = $2 AND state IN ('READY', 'LEASED') "
    "ORDER BY job_id FOR UPDATE)"};
constexpr Statement kInsertJob = {
    "insert_job",
    "INSERT INTO job (tenant_id, request_name, ca_id, kind, state, required_identity, "
    "connector_id, lease_until, not_before, attempts, serial_hex, revocation_reason, "
    "create_time) VALUES ($1, $2, $3, $4, 'READY', $5, $6, $7, $8, $9, $10, $11, $12) "
    "RETURNING job_id"};
// $1 tenant, $2 job, $3 new state, $4 retry not_before, $5 now. `old` locks the row and
// keeps its state before the update. The third column: the job left LEASED (freeing a
// place under the per-CA limit) while other READY jobs of its CA are claimable now; no
// notification may be coming for those, so the caller reports the CA ready (issue 9).
constexpr Statement kCompleteJob = {
    "complete_job",
    "WITH old AS (SELECT job_id, state FROM job WHERE tenant_id = $1 AND job_id = $2::bigint "
    " AND state IN ('READY', 'LEASED') FOR UPDATE) "
    "UPDATE job j SET state = $3::text, "
    "connector_id = CASE WHEN $3::text = 'READY' THEN '' ELSE j.connector_id END, "
    "lease_until = CASE WHEN $3::text = 'READY' THEN '-infinity'::timestamptz "
    "ELSE j.lease_until END, "
    "not_before = CASE WHEN $3::text = 'READY' THEN $4::timestamptz ELSE j.not_before END "
    "FROM old WHERE j.job_id = old.job_id AND j.state IN ('READY', 'LEASED') "
    "RETURNING j.request_name, j.ca_id, old.state = 'LEASED' AND EXISTS (SELECT 1 FROM job r "
    " WHERE r.tenant_id = $1 AND r.ca_id = j.ca_id AND r.state = 'READY' "
    " AND r.job_id <> j.job_id AND r.not_before <= $5::timestamptz)"};
constexpr Statement kExpireLeases = {
    "expire_leases",
    "WITH e AS (UPDATE job j SET state = 'READY', connector_id = '', "
    " lease_until = '-infinity', required_identity = CASE "
    "  WHEN j.kind = 'SUBMIT' AND r.ca_identity <> '' THEN r.ca_identity "
    "  ELSE j.required_identity END "
    " FROM certificate_request r WHERE j.job_id IN (SELECT job_id FROM job "
    "  WHERE state = 'LEASED' AND lease_until < $1::timestamptz "
    "  ORDER BY job_id FOR UPDATE SKIP LOCKED) "
    " AND r.tenant_id = j.tenant_id AND r.name = j.request_name "
    " RETURNING j.tenant_id, j.ca_id) "
    "SELECT tenant_id, ca_id, count(*) FROM e GROUP BY tenant_id, ca_id "
    "ORDER BY tenant_id COLLATE \"C\", ca_id COLLATE \"C\""};
// What the listener reads each time LISTEN takes effect: the newest change number, and
// per tenant the newest change numbered after $1 (the newest at the previous LISTEN):
// those tenants changed while notifications could not arrive.
constexpr Statement kNewestChange = {
    "newest_request_change", "SELECT coalesce(max(change_id), 0) FROM request_change"};
constexpr Statement kTenantsChangedSince = {
    "tenants_changed_since",
    "SELECT tenant_id, max(change_id) FROM request_change WHERE change_id > $1::bigint "
    "GROUP BY tenant_id"};
constexpr Statement kListCasWithReadyJobs = {
    "list_cas_with_ready_jobs",
    "SELECT tenant_id, ca_id FROM job WHERE state = 'READY' AND not_before <= $1::timestamptz "
    "GROUP BY tenant_id, ca_id ORDER BY tenant_id COLLATE \"C\", ca_id COLLATE \"C\""};
// The job columns, as JobFromColumns reads them.
#define CB_JOB_COLUMNS                                                                       \
  "j.job_id, j.tenant_id, j.request_name, j.ca_id, j.kind, j.state, "                       \
  "j.required_identity, j.connector_id, extract(epoch from j.lease_until), "                 \
  "extract(epoch from j.not_before), j.attempts, j.serial_hex, j.revocation_reason, "       \
  "extract(epoch from j.create_time) "
#define CB_JOB_SELECT "SELECT " CB_JOB_COLUMNS "FROM job j "
constexpr Statement kGetJob = {"get_job",
                               CB_JOB_SELECT "WHERE j.tenant_id = $1 AND j.job_id = $2::bigint"};
// The request's columns (kRequestColumns), then the job's from kJobFirstColumn on.
constexpr int kJobFirstColumn = 39;
const OwnedStatement& GetJobAndRequestStatement() {
  static const OwnedStatement* const kStatement = new OwnedStatement{
      "get_job_and_request",
      absl::StrCat("SELECT ", kRequestColumns, ", " CB_JOB_COLUMNS
                   "FROM job j JOIN certificate_request r "
                   "ON r.tenant_id = j.tenant_id AND r.name = j.request_name "
                   "WHERE j.tenant_id = $1 AND j.job_id = $2::bigint")};
  return *kStatement;
}
// $1 kClaimLockClass, $2 the second keys, ascending (an integer[] literal). ORDER BY: the
// volatile lock calls run after the sort, so every claim locks in key order.
constexpr Statement kClaimLocks = {
    "claim_locks",
    "SELECT pg_advisory_xact_lock($1::integer, k) FROM unnest($2::integer[]) AS k ORDER BY k"};
// $1 tenant, $2 CA ids joined by \x1f, $3 ca_identity, $4 now, $5 connector, $6 limit,
// $7 per-CA limit, $8 lease_until. Per CA: its oldest claimable jobs up to the CA's free
// capacity (LEASED counted after the advisory locks, which kClaimLocks took in an earlier
// statement of the transaction, so it is exact); of those, the oldest $6. SKIP LOCKED: a
// job another transaction holds is left to it. Each claimed SUBMIT's request still QUEUED
// becomes DISPATCHED (its change is numbered by the trigger), in the same statement, after
// its job (the lock order). One row per claimed job: the dispatched request's columns
// (kRequestColumns; all NULL if none), then the job's from kJobFirstColumn on; the request
// is returned whole, so that the dispatcher needs no read to describe the job.
const OwnedStatement& ClaimJobsStatement() {
  static const OwnedStatement* const kStatement = new OwnedStatement{
      "claim_jobs",
      absl::StrCat(
          "WITH cas AS (SELECT DISTINCT unnest(string_to_array($2, E'\\x1f')) AS ca_id), "
          "picked AS (SELECT p.job_id FROM cas CROSS JOIN LATERAL ("
          " SELECT j.job_id FROM job j WHERE j.tenant_id = $1 AND j.ca_id = cas.ca_id "
          " AND j.state = 'READY' AND j.not_before <= $4::timestamptz "
          " AND (j.required_identity IN ('', $3, $3::text || E'\\x1f' || $5::text)) "
          " ORDER BY j.job_id "
          " LIMIT greatest(0, $7::integer - (SELECT count(*) FROM job l WHERE l.tenant_id = $1 "
          "   AND l.ca_id = cas.ca_id AND l.state = 'LEASED')) "
          " FOR UPDATE OF j SKIP LOCKED) p ORDER BY p.job_id LIMIT $6::integer), "
          "claimed AS (UPDATE job j SET state = 'LEASED', connector_id = $5, "
          " lease_until = $8::timestamptz, attempts = j.attempts + 1 FROM picked "
          " WHERE j.job_id = picked.job_id RETURNING " CB_JOB_COLUMNS "), "
          "dispatched AS (UPDATE certificate_request r SET state = 'DISPATCHED', "
          " connector_id = $5, ca_identity = $3, update_time = $4::timestamptz FROM claimed c "
          " WHERE r.tenant_id = $1 AND r.name = c.request_name AND c.kind = 'SUBMIT' "
          " AND r.state = 'QUEUED' RETURNING ",
          kRequestColumns,
          ") SELECT d.*, c.* FROM claimed c LEFT JOIN dispatched d ON d.name = c.request_name")};
  return *kStatement;
}
constexpr Statement kExtendLeases = {
    "extend_leases",
    "UPDATE job SET lease_until = greatest(lease_until, $3::timestamptz) "
    "WHERE tenant_id = $1 AND connector_id = $2 AND state = 'LEASED'"};
constexpr Statement kListLeasedJobs = {
    "list_leased_jobs",
    CB_JOB_SELECT
    "WHERE j.tenant_id = $1 AND j.connector_id = $2 AND j.state = 'LEASED' ORDER BY j.job_id"};

// ---- Rows to records.

std::vector<std::string> SplitJoined(const std::string& joined, char separator) {
  if (joined.empty()) return {};
  return absl::StrSplit(joined, separator);
}

std::string JoinLabels(const std::map<std::string, std::string>& labels) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : labels) {
    parts.push_back(key);
    parts.push_back(value);
  }
  return absl::StrJoin(parts, "\x1f");
}

absl::StatusOr<CertificateRequestRecord> RequestFromRow(const Rows& rows, int r) {
  CertificateRequestRecord c;
  c.name = rows.Text(r, 0);
  c.tenant_id = rows.Text(r, 1);
  c.request_id = rows.Text(r, 2);
  c.ca_id = rows.Text(r, 3);
  c.template_name = rows.Text(r, 4);
  c.params_fingerprint = rows.Text(r, 5);
  c.csr_pem = rows.Text(r, 6);
  c.key_type = rows.Text(r, 7);
  c.subject = rows.Text(r, 8);
  c.subject_alt_names = SplitJoined(rows.Text(r, 9), '\x1f');
  c.pkcs12_profile = rows.Text(r, 10);
  c.sid = rows.Text(r, 11);
  c.device_id = rows.Text(r, 12);
  for (const std::string& pair : SplitJoined(rows.Text(r, 13), '\x1e')) {
    std::pair<std::string, std::string> kv = absl::StrSplit(pair, absl::MaxSplits('\x1f', 1));
    c.labels[kv.first] = kv.second;
  }
  c.attributes = rows.Text(r, 14);
  ASSIGN_OR_RETURN(c.create_time, rows.Time(r, 15));
  ASSIGN_OR_RETURN(c.queue_deadline, rows.Time(r, 16));
  std::optional<RequestState> state = RequestStateFromName(rows.Text(r, 17));
  if (!state.has_value()) {
    return absl::InternalError(
        absl::StrCat("certificate request \"", c.name, "\": unknown state in the database"));
  }
  c.state = *state;
  ASSIGN_OR_RETURN(c.update_time, rows.Time(r, 18));
  ASSIGN_OR_RETURN(c.ca_request_id, rows.Int(r, 19));
  ASSIGN_OR_RETURN(int64_t disposition, rows.Int(r, 20));
  c.disposition = static_cast<int32_t>(disposition);
  ASSIGN_OR_RETURN(int64_t hresult, rows.Int(r, 21));
  c.hresult = static_cast<uint32_t>(hresult);
  c.disposition_message = rows.Text(r, 22);
  c.error_code = rows.Text(r, 23);
  c.error_message = rows.Text(r, 24);
  c.remedy = rows.Text(r, 25);
  c.waiting_reason = rows.Text(r, 26);
  c.connector_id = rows.Text(r, 27);
  c.ca_identity = rows.Text(r, 28);
  c.certificate_pem = rows.Text(r, 29);
  c.chain_pem = rows.Text(r, 30);
  c.serial_hex = rows.Text(r, 31);
  ASSIGN_OR_RETURN(c.not_after, rows.Time(r, 32));
  // Selected as encode(..., 'hex'): PostgreSQL writes well-formed hex.
  c.pkcs12 = absl::HexStringToBytes(rows.Text(r, 33));
  c.enveloped_password = absl::HexStringToBytes(rows.Text(r, 34));
  ASSIGN_OR_RETURN(int64_t revocation_reason, rows.Int(r, 35));
  c.revocation_reason = static_cast<int32_t>(revocation_reason);
  ASSIGN_OR_RETURN(c.revoke_time, rows.Time(r, 36));
  ASSIGN_OR_RETURN(c.seq, rows.Int(r, 37));
  ASSIGN_OR_RETURN(c.change_seq, rows.Int(r, 38));
  return c;
}

// The job in the 14 columns from `first_column` on (CB_JOB_COLUMNS).
absl::StatusOr<JobRecord> JobFromColumns(const Rows& rows, int r, int first_column) {
  JobRecord j;
  ASSIGN_OR_RETURN(j.job_id, rows.Int(r, first_column + 0));
  j.tenant_id = rows.Text(r, first_column + 1);
  j.request_name = rows.Text(r, first_column + 2);
  j.ca_id = rows.Text(r, first_column + 3);
  std::optional<JobKind> kind = JobKindFromName(rows.Text(r, first_column + 4));
  std::optional<JobState> state = JobStateFromName(rows.Text(r, first_column + 5));
  if (!kind.has_value() || !state.has_value()) {
    return absl::InternalError(
        absl::StrCat("job ", j.job_id, ": unknown kind or state in the database"));
  }
  j.kind = *kind;
  j.state = *state;
  j.required_identity = rows.Text(r, first_column + 6);
  j.connector_id = rows.Text(r, first_column + 7);
  ASSIGN_OR_RETURN(j.lease_until, rows.Time(r, first_column + 8));
  ASSIGN_OR_RETURN(j.not_before, rows.Time(r, first_column + 9));
  ASSIGN_OR_RETURN(int64_t attempts, rows.Int(r, first_column + 10));
  j.attempts = static_cast<int32_t>(attempts);
  j.serial_hex = rows.Text(r, first_column + 11);
  ASSIGN_OR_RETURN(int64_t revocation_reason, rows.Int(r, first_column + 12));
  j.revocation_reason = static_cast<int32_t>(revocation_reason);
  ASSIGN_OR_RETURN(j.create_time, rows.Time(r, first_column + 13));
  return j;
}

absl::StatusOr<JobRecord> JobFromRow(const Rows& rows, int r) { return JobFromColumns(rows, r, 0); }

std::vector<Param> JobInsertParams(const JobRecord& job) {
  return {job.tenant_id,
          job.request_name,
          job.ca_id,
          std::string(JobKindName(job.kind)),
          job.required_identity,
          job.connector_id,
          TimeParam(job.lease_until),
          TimeParam(job.not_before),
          absl::StrCat(job.attempts),
          job.serial_hex,
          absl::StrCat(job.revocation_reason),
          TimeParam(job.create_time)};
}

// ---- Transactions that notify.

// How often a transaction that PostgreSQL aborted for a conflict (serialization failure,
// deadlock) is run again before ABORTED reaches the caller. The change trigger's
// per-request order check (migration 0005) is such a conflict: it only needs a newer
// transaction id, which the next attempt has.
constexpr int kConflictAttempts = 3;

absl::Status WriteTransactionOnce(pg::Connection& conn,
                                  const std::function<absl::Status(std::vector<NotifyEvent>*,
                                                                   bool*)>& fn);

// BEGIN, fn(&events), then one round trip with the NOTIFY (if any event) and COMMIT.
// BEGIN goes with fn's first statements (pg::Connection::Begin). fn may set *rollback to
// end without writing. fn runs again, in a new transaction, after a conflict PostgreSQL
// raised: it must set all of its results on every run.
template <typename Fn>
absl::Status WriteTransaction(pg::Connection& conn, Fn&& fn) {
  absl::Status status;
  for (int attempt = 1; attempt <= kConflictAttempts; ++attempt) {
    status = WriteTransactionOnce(conn, fn);
    if (!pg::IsTransactionConflict(status)) break;
  }
  return status;
}

absl::Status WriteTransactionOnce(pg::Connection& conn,
                                  const std::function<absl::Status(std::vector<NotifyEvent>*,
                                                                   bool*)>& fn) {
  conn.Begin();
  std::vector<NotifyEvent> events;
  bool rollback = false;
  absl::Status status = fn(&events, &rollback);
  if (!status.ok() || rollback) {
    conn.Rollback();
    return status;
  }
  std::string notify;
  if (!events.empty()) {
    absl::StatusOr<std::string> literal = conn.Literal(EncodeNotifyPayload(events));
    if (!literal.ok()) {
      conn.Rollback();
      return literal.status();
    }
    notify = absl::StrCat("SELECT pg_notify('", kChannel, "', ", *literal, ")");
  }
  return conn.Commit(notify);
}

// FNV-1a: a hash every replica computes alike (std::hash may differ between builds).
int32_t ClaimLockKey(const std::string& tenant_id, const std::string& ca_id) {
  uint32_t h = 2166136261u;
  auto mix = [&h](absl::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 16777619u;
    }
  };
  mix(tenant_id);
  mix("\x1f");
  mix(ca_id);
  return static_cast<int32_t>(h);
}

std::string StateList(const std::vector<RequestState>& states) {
  std::vector<absl::string_view> names;
  for (RequestState s : states) names.push_back(RequestStateName(s));
  return absl::StrJoin(names, ",");
}

const std::vector<RequestState>& AllRequestStates() {
  static const std::vector<RequestState>* const kAll = new std::vector<RequestState>{
      RequestState::kQueued,  RequestState::kDispatched, RequestState::kPendingApproval,
      RequestState::kIssued,  RequestState::kDenied,     RequestState::kFailed,
      RequestState::kRevoked, RequestState::kExpired,    RequestState::kCancelled};
  return *kAll;
}

std::vector<Param> UpdateRequestParams(const std::string& tenant_id, const std::string& name,
                                       const CertificateRequestRecord& update,
                                       const std::vector<RequestState>& from) {
  std::vector<Param> params = {tenant_id, name, std::string(RequestStateName(update.state))};
  for (Param& p : MutableParams(update)) params.push_back(std::move(p));
  params.push_back(StateList(from));
  return params;
}

}  // namespace

// ---- Delivery certificate.

absl::Status PostgresStore::SetDeliveryCertificate(const std::string& tenant_id,
                                                   const std::string& certificate_pem) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kSetDelivery, {tenant_id, certificate_pem}));
  if (rows.affected() == 0) return TenantNotFound(tenant_id);
  return absl::OkStatus();
}

absl::StatusOr<std::string> PostgresStore::GetDeliveryCertificate(const std::string& tenant_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kGetDelivery, {tenant_id}));
  if (rows.size() == 0) return TenantNotFound(tenant_id);
  return rows.Text(0, 0);
}

// ---- Requests.

absl::StatusOr<CreateRequestResult> PostgresStore::CreateCertificateRequest(
    const CertificateRequestRecord& request, const JobRecord& first_job) {
  RETURN_IF_ERROR(ValidateCertificateRequest(request));
  JobRecord job = first_job;
  job.tenant_id = request.tenant_id;
  job.request_name = request.name;
  RETURN_IF_ERROR(ValidateJob(job));
  std::vector<Param> params = {request.name,
                               request.tenant_id,
                               request.request_id,
                               request.ca_id,
                               request.template_name,
                               request.params_fingerprint,
                               request.csr_pem,
                               request.key_type,
                               request.subject,
                               absl::StrJoin(request.subject_alt_names, "\x1f"),
                               request.pkcs12_profile,
                               request.sid,
                               request.device_id,
                               JoinLabels(request.labels),
                               request.attributes,
                               TimeParam(request.create_time),
                               TimeParam(request.queue_deadline)};
  for (Param& p : MutableParams(request)) params.push_back(std::move(p));
  for (Param& p : JobInsertParams(job)) {
    params.push_back(std::move(p));
  }
  // JobInsertParams starts with tenant and request name, which the statement takes
  // from $2 and $1: drop them.
  params.erase(params.begin() + 17 + kMutableCount, params.begin() + 17 + kMutableCount + 2);

  ASSIGN_OR_RETURN(Lease conn, Acquire());
  CreateRequestResult result;
  RETURN_IF_ERROR(WriteTransaction(
      *conn, [&](std::vector<NotifyEvent>* events, bool* rollback) -> absl::Status {
        absl::StatusOr<Rows> rows = conn->Exec(CreateRequestStatement().get(), params);
        if (absl::IsAlreadyExists(rows.status())) {
          return RequestAlreadyExists(request.name);
        }
        if (absl::IsNotFound(rows.status())) return TenantNotFound(request.tenant_id);
        RETURN_IF_ERROR(rows.status());
        if (rows->IsNull(0, 0)) {
          // The request id is taken: return the stored request, write nothing.
          *rollback = true;
          ASSIGN_OR_RETURN(Rows stored, conn->Exec(GetRequestByRequestIdStatement().get(),
                                                   {request.tenant_id, request.request_id}));
          if (stored.size() == 0) return absl::AbortedError("request id conflict; retry");
          ASSIGN_OR_RETURN(result.request, RequestFromRow(stored, 0));
          result.created = false;
          return absl::OkStatus();
        }
        result.created = true;
        result.request = request;
        ASSIGN_OR_RETURN(result.request.seq, rows->Int(0, 0));
        ASSIGN_OR_RETURN(result.request.change_seq, rows->Int(0, 1));
        events->push_back({request.tenant_id,
                           TruncateToMicros(job.not_before) <= TruncateToMicros(request.create_time)
                               ? job.ca_id
                               : "",
                           request.name, result.request.change_seq,
                           std::string(RequestStateName(result.request.state))});
        return absl::OkStatus();
      }));
  if (result.created) {
    // What a read would return: the state and the stored time precision.
    CertificateRequestRecord& r = result.request;
    r.state = RequestState::kQueued;
    r.create_time = TruncateToMicros(r.create_time);
    r.queue_deadline = TruncateToMicros(r.queue_deadline);
    r.update_time = TruncateToMicros(r.update_time);
    r.not_after = TruncateToMicros(r.not_after);
    r.revoke_time = TruncateToMicros(r.revoke_time);
  }
  return result;
}

absl::StatusOr<CertificateRequestRecord> PostgresStore::GetCertificateRequest(
    const std::string& tenant_id, const std::string& name) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(GetRequestStatement().get(), {tenant_id, name}));
  if (rows.size() == 0) return RequestNotFound(name);
  return RequestFromRow(rows, 0);
}

absl::StatusOr<CertificateRequestRecord> PostgresStore::GetCertificateRequestByRequestId(
    const std::string& tenant_id, const std::string& request_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows,
                   conn->Exec(GetRequestByRequestIdStatement().get(), {tenant_id, request_id}));
  if (rows.size() == 0) {
    return RequestIdNotFound(request_id);
  }
  return RequestFromRow(rows, 0);
}

absl::StatusOr<CertificateRequestRecord> PostgresStore::GetCertificateRequestBySerial(
    const std::string& tenant_id, const std::string& ca_id, const std::string& serial_hex) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(GetRequestBySerialStatement().get(),
                                         {tenant_id, ca_id, serial_hex}));
  if (rows.size() == 0) {
    return SerialNotFound(ca_id, serial_hex);
  }
  return RequestFromRow(rows, 0);
}

absl::StatusOr<std::vector<CertificateRequestRecord>> PostgresStore::ListCertificateRequests(
    const std::string& tenant_id, const RequestFilter& filter, int64_t before_seq, int limit) {
  RETURN_IF_ERROR(ValidatePageSize("certificate request", limit));
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(
      Rows rows,
      conn->Exec(ListRequestsStatement().get(),
                 {tenant_id, absl::StrCat(before_seq),
                  filter.state.has_value() ? std::string(RequestStateName(*filter.state)) : "",
                  filter.ca_id, filter.device_id, absl::StrCat(limit)}));
  return AllRows<CertificateRequestRecord>(rows, RequestFromRow);
}

absl::StatusOr<std::vector<CertificateRequestRecord>> PostgresStore::ListRequestChanges(
    const std::string& tenant_id, int64_t after_change_seq, int limit) {
  RETURN_IF_ERROR(ValidatePageSize("request change", limit));
  if (after_change_seq < 0) return UnknownChangeCursor(after_change_seq);
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  // Changes committed behind a transaction that is still open are not readable yet (the
  // ordering rule); such transactions last milliseconds, so a short wait usually saves the
  // caller a notification round. After the last attempt the caller is told of them by
  // their NOTIFY or its own periodic re-read.
  absl::Duration backoff = kHiddenChangeBackoff;
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(Rows rows, conn->Exec(ListChangesStatement().get(),
                                           {tenant_id, absl::StrCat(after_change_seq),
                                            absl::StrCat(limit)}));
    if (rows.size() == limit) return AllRows<CertificateRequestRecord>(rows, RequestFromRow);
    ASSIGN_OR_RETURN(Rows state, conn->Exec(kChangeCursorState,
                                            {tenant_id, absl::StrCat(after_change_seq)}));
    ASSIGN_OR_RETURN(bool cursor_kept, state.Bool(0, 0));
    ASSIGN_OR_RETURN(bool hidden, state.Bool(0, 1));
    if (after_change_seq > 0 && !cursor_kept) return UnknownChangeCursor(after_change_seq);
    if (!hidden || attempt == kHiddenChangeAttempts) {
      return AllRows<CertificateRequestRecord>(rows, RequestFromRow);
    }
    absl::SleepFor(backoff);
    backoff *= 2;
  }
}

absl::StatusOr<int64_t> PostgresStore::LatestChangeSeq(const std::string& tenant_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kLatestChangeSeq, {tenant_id}));
  ASSIGN_OR_RETURN(bool tenant_exists, rows.Bool(0, 0));
  if (!tenant_exists) return TenantNotFound(tenant_id);
  if (rows.IsNull(0, 1)) return 0;
  return rows.Int(0, 1);
}

absl::StatusOr<int> PostgresStore::DeleteRequestChangesBefore(absl::Time update_time_before,
                                                              int limit) {
  RETURN_IF_ERROR(ValidatePageSize("request change", limit));
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kDeleteChangesBefore,
                                         {TimeParam(update_time_before), absl::StrCat(limit)}));
  return static_cast<int>(rows.affected());
}

absl::StatusOr<CertificateRequestRecord> PostgresStore::UpdateCertificateRequest(
    const std::string& tenant_id, const std::string& name, const std::vector<RequestState>& from,
    const CertificateRequestRecord& update, bool fail_open_jobs) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  CertificateRequestRecord result;
  RETURN_IF_ERROR(WriteTransaction(
      *conn, [&](std::vector<NotifyEvent>* events, bool*) -> absl::Status {
        std::vector<pg::Connection::Call> calls;
        if (fail_open_jobs) calls.push_back({kFailOpenJobs, {tenant_id, name}});
        calls.push_back(
            {UpdateRequestStatement().get(), UpdateRequestParams(tenant_id, name, update, from)});
        ASSIGN_OR_RETURN(std::vector<Rows> results, conn->ExecPipeline(calls));
        const Rows& rows = results.back();
        if (rows.size() == 0) {
          ASSIGN_OR_RETURN(Rows state, conn->Exec(kRequestState, {tenant_id, name}));
          if (state.size() == 0) return RequestNotFound(name);
          return RequestInState(name, state.Text(0, 0));
        }
        ASSIGN_OR_RETURN(result, RequestFromRow(rows, 0));
        events->push_back(
            {tenant_id, "", name, result.change_seq, std::string(RequestStateName(result.state))});
        return absl::OkStatus();
      }));
  return result;
}

// ---- Jobs.

absl::StatusOr<JobRecord> PostgresStore::AddJob(const JobRecord& job) {
  RETURN_IF_ERROR(ValidateJob(job));
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  JobRecord result = job;
  RETURN_IF_ERROR(WriteTransaction(
      *conn, [&](std::vector<NotifyEvent>* events, bool*) -> absl::Status {
        absl::StatusOr<Rows> rows = conn->Exec(kInsertJob, JobInsertParams(job));
        if (absl::IsNotFound(rows.status())) return RequestNotFound(job.request_name);
        RETURN_IF_ERROR(rows.status());
        ASSIGN_OR_RETURN(result.job_id, rows->Int(0, 0));
        if (TruncateToMicros(job.not_before) <= TruncateToMicros(job.create_time)) {
          events->push_back({job.tenant_id, job.ca_id, "", 0});
        }
        return absl::OkStatus();
      }));
  result.lease_until = TruncateToMicros(result.lease_until);
  result.not_before = TruncateToMicros(result.not_before);
  result.create_time = TruncateToMicros(result.create_time);
  return result;
}

absl::StatusOr<CertificateRequestRecord> PostgresStore::UpdateRequestAndAddJob(
    const std::string& tenant_id, const std::string& name, const std::vector<RequestState>& from,
    const CertificateRequestRecord& update, const JobRecord& job) {
  JobRecord new_job = job;
  new_job.tenant_id = tenant_id;
  new_job.request_name = name;
  RETURN_IF_ERROR(ValidateJob(new_job));
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  CertificateRequestRecord result;
  RETURN_IF_ERROR(WriteTransaction(
      *conn, [&](std::vector<NotifyEvent>* events, bool*) -> absl::Status {
        // The job's insert goes with the update; if the update changed nothing, the
        // transaction is rolled back. The insert fails its foreign key (NOT_FOUND) only
        // when the request does not exist (the update cannot raise NOT_FOUND).
        absl::StatusOr<std::vector<Rows>> results = conn->ExecPipeline(
            {{UpdateRequestStatement().get(), UpdateRequestParams(tenant_id, name, update, from)},
             {kInsertJob, JobInsertParams(new_job)}});
        if (absl::IsNotFound(results.status())) return RequestNotFound(name);
        RETURN_IF_ERROR(results.status());
        const Rows& rows = results->front();
        if (rows.size() == 0) {
          ASSIGN_OR_RETURN(Rows state, conn->Exec(kRequestState, {tenant_id, name}));
          if (state.size() == 0) return RequestNotFound(name);
          return RequestInState(name, state.Text(0, 0));
        }
        ASSIGN_OR_RETURN(result, RequestFromRow(rows, 0));
        events->push_back(
            {tenant_id, "", name, result.change_seq, std::string(RequestStateName(result.state))});
        if (TruncateToMicros(new_job.not_before) <= TruncateToMicros(new_job.create_time)) {
          events->push_back({tenant_id, new_job.ca_id, "", 0});
        }
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::vector<JobRecord>> PostgresStore::ClaimJobs(const ClaimParams& params) {
  if (params.per_ca_limit <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("claim jobs: per_ca_limit must be positive, got ", params.per_ca_limit));
  }
  std::vector<JobRecord> claimed;
  if (params.limit <= 0 || params.ca_ids.empty()) return claimed;
  for (const std::string& ca_id : params.ca_ids) {
    RETURN_IF_ERROR(ValidateId("certificate authority id", ca_id));
  }
  // Advisory locks in key order, so that claims of overlapping CA sets cannot deadlock.
  // They serialise claims per CA, which makes the LEASED count and the per-CA limit exact.
  std::set<int32_t> keys;
  for (const std::string& ca_id : params.ca_ids) keys.insert(ClaimLockKey(params.tenant_id, ca_id));
  const std::string lock_keys = absl::StrCat("{", absl::StrJoin(keys, ","), "}");

  ASSIGN_OR_RETURN(Lease conn, Acquire());
  RETURN_IF_ERROR(WriteTransaction(
      *conn, [&](std::vector<NotifyEvent>* events, bool*) -> absl::Status {
        // BEGIN, the locks and the claim: one round trip.
        ASSIGN_OR_RETURN(
            std::vector<Rows> results,
            conn->ExecPipeline(
                {{kClaimLocks, {absl::StrCat(kClaimLockClass), lock_keys}},
                 {ClaimJobsStatement().get(),
                  {params.tenant_id, absl::StrJoin(params.ca_ids, "\x1f"), params.ca_identity,
                   TimeParam(params.now), params.connector_id, absl::StrCat(params.limit),
                   absl::StrCat(params.per_ca_limit), TimeParam(params.lease_until)}}}));
        const Rows& rows = results.back();
        claimed.clear();
        std::set<std::string> dispatched;
        for (int r = 0; r < rows.size(); ++r) {
          ASSIGN_OR_RETURN(JobRecord job, JobFromColumns(rows, r, kJobFirstColumn));
          claimed.push_back(std::move(job));
          // NULL request columns: not a SUBMIT, or its request was no longer QUEUED.
          if (rows.IsNull(r, 0)) continue;
          ASSIGN_OR_RETURN(CertificateRequestRecord request, RequestFromRow(rows, r));
          if (!dispatched.insert(request.name).second) continue;  // two jobs, one request
          events->push_back({params.tenant_id, "", request.name, request.change_seq,
                             std::string(RequestStateName(request.state))});
          if (params.dispatched_requests != nullptr) {
            (*params.dispatched_requests)[request.name] = std::move(request);
          }
        }
        return absl::OkStatus();
      }));
  std::sort(claimed.begin(), claimed.end(),
            [](const JobRecord& a, const JobRecord& b) { return a.job_id < b.job_id; });
  return claimed;
}

absl::StatusOr<CertificateRequestRecord> PostgresStore::CompleteJob(
    const JobCompletion& completion) {
  if (completion.job_state == JobState::kLeased) {
    return absl::InvalidArgumentError(
        absl::StrCat("complete job ", completion.job_id, ": the outcome cannot be LEASED"));
  }
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  CertificateRequestRecord result;
  RETURN_IF_ERROR(WriteTransaction(
      *conn, [&](std::vector<NotifyEvent>* events, bool*) -> absl::Status {
        const std::string& tenant_id = completion.tenant_id;
        const std::string job_id = absl::StrCat(completion.job_id);
        ASSIGN_OR_RETURN(
            Rows job, conn->Exec(kCompleteJob, {tenant_id, job_id,
                                                std::string(JobStateName(completion.job_state)),
                                                TimeParam(completion.retry_not_before),
                                                TimeParam(completion.now)}));
        if (job.size() == 0) {
          ASSIGN_OR_RETURN(Rows state, conn->Exec(kJobState, {tenant_id, job_id}));
          if (state.size() == 0) return JobNotFound(completion.job_id);
          return JobAlreadyEnded(completion.job_id, state.Text(0, 0));
        }
        const std::string request_name = job.Text(0, 0);
        const std::string ca_id = job.Text(0, 1);
        ASSIGN_OR_RETURN(bool others_ready, job.Bool(0, 2));
        if (others_ready || (completion.job_state == JobState::kReady &&
                             TruncateToMicros(completion.retry_not_before) <= completion.now)) {
          events->push_back({tenant_id, ca_id, "", 0});
        }
        // The header's rule: only a job put back to READY may leave the request alone.
        if (completion.update_request || completion.job_state != JobState::kReady) {
          const std::vector<RequestState> from =
              completion.expected_request_state.has_value()
                  ? std::vector<RequestState>{*completion.expected_request_state}
                  : AllRequestStates();
          ASSIGN_OR_RETURN(Rows rows,
                           conn->Exec(UpdateRequestStatement().get(),
                                      UpdateRequestParams(tenant_id, request_name,
                                                          completion.request, from)));
          if (rows.size() == 0) {
            if (completion.expected_request_state.has_value()) {
              return RequestChangedMeanwhile(request_name, *completion.expected_request_state);
            }
            return RequestNotFound(request_name);  // jobs cascade
          }
          ASSIGN_OR_RETURN(result, RequestFromRow(rows, 0));
          events->push_back({tenant_id, "", request_name, result.change_seq,
                             std::string(RequestStateName(result.state))});
        } else {
          ASSIGN_OR_RETURN(Rows rows,
                           conn->Exec(GetRequestStatement().get(), {tenant_id, request_name}));
          if (rows.size() == 0) return RequestNotFound(request_name);
          ASSIGN_OR_RETURN(result, RequestFromRow(rows, 0));
        }
        if (completion.follow_up.has_value()) {
          JobRecord follow_up = *completion.follow_up;
          follow_up.tenant_id = tenant_id;
          follow_up.request_name = request_name;
          RETURN_IF_ERROR(ValidateJob(follow_up));
          RETURN_IF_ERROR(conn->Exec(kInsertJob, JobInsertParams(follow_up)).status());
          if (TruncateToMicros(follow_up.not_before) <= completion.now) {
            events->push_back({tenant_id, follow_up.ca_id, "", 0});
          }
        }
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<int> PostgresStore::ExpireLeases(absl::Time now) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  int expired = 0;
  RETURN_IF_ERROR(WriteTransaction(
      *conn, [&](std::vector<NotifyEvent>* events, bool*) -> absl::Status {
        ASSIGN_OR_RETURN(Rows rows, conn->Exec(kExpireLeases, {TimeParam(now)}));
        for (int r = 0; r < rows.size(); ++r) {
          ASSIGN_OR_RETURN(int64_t n, rows.Int(r, 2));
          expired += static_cast<int>(n);
          events->push_back({rows.Text(r, 0), rows.Text(r, 1), "", 0});
        }
        return absl::OkStatus();
      }));
  return expired;
}

absl::StatusOr<std::vector<CertificateRequestRecord>> PostgresStore::ListOverdueQueuedRequests(
    absl::Time now, int limit) {
  RETURN_IF_ERROR(ValidatePageSize("overdue request", limit));
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(ListOverdueStatement().get(),
                                         {TimeParam(now), absl::StrCat(limit)}));
  return AllRows<CertificateRequestRecord>(rows, RequestFromRow);
}

absl::StatusOr<std::vector<CertificateRequestRecord>>
PostgresStore::ListWaitingRequestsCreatedBefore(RequestState state, absl::Time created_before,
                                                int limit) {
  RETURN_IF_ERROR(ValidateWaitingState(state));
  RETURN_IF_ERROR(ValidatePageSize("waiting request", limit));
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(ListWaitingByAgeStatement().get(),
                                         {std::string(RequestStateName(state)),
                                          TimeParam(created_before), absl::StrCat(limit)}));
  return AllRows<CertificateRequestRecord>(rows, RequestFromRow);
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
PostgresStore::ListCasWithReadyJobs(absl::Time now) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kListCasWithReadyJobs, {TimeParam(now)}));
  std::vector<std::pair<std::string, std::string>> out;
  for (int r = 0; r < rows.size(); ++r) out.emplace_back(rows.Text(r, 0), rows.Text(r, 1));
  return out;
}

absl::StatusOr<JobRecord> PostgresStore::GetJob(const std::string& tenant_id, int64_t job_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kGetJob, {tenant_id, absl::StrCat(job_id)}));
  if (rows.size() == 0) return JobNotFound(job_id);
  return JobFromRow(rows, 0);
}

absl::StatusOr<JobAndRequest> PostgresStore::GetJobAndRequest(const std::string& tenant_id,
                                                             int64_t job_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(GetJobAndRequestStatement().get(),
                                         {tenant_id, absl::StrCat(job_id)}));
  if (rows.size() == 0) return JobNotFound(job_id);
  JobAndRequest out;
  ASSIGN_OR_RETURN(out.request, RequestFromRow(rows, 0));
  ASSIGN_OR_RETURN(out.job, JobFromColumns(rows, 0, kJobFirstColumn));
  return out;
}

absl::StatusOr<int> PostgresStore::ExtendLeases(const std::string& tenant_id,
                                                const std::string& connector_id,
                                                absl::Time lease_until) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows,
                   conn->Exec(kExtendLeases, {tenant_id, connector_id, TimeParam(lease_until)}));
  return static_cast<int>(rows.affected());
}

absl::StatusOr<std::vector<JobRecord>> PostgresStore::ListLeasedJobs(
    const std::string& tenant_id, const std::string& connector_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kListLeasedJobs, {tenant_id, connector_id}));
  return AllRows<JobRecord>(rows, JobFromRow);
}

// ---- Change listener (the thread is ChangeNotificationListener's).

void PostgresStore::SetChangeListener(ChangeListener* listener) {
  notifications_->SetListener(listener);
}

namespace {

class PgNotificationChannel final : public NotificationChannel {
 public:
  explicit PgNotificationChannel(std::unique_ptr<pg::Connection> conn) : conn_(std::move(conn)) {}
  int socket() override { return conn_->socket(); }
  bool ConsumeInput() override { return conn_->ConsumeInput(); }
  std::vector<std::string> TakeNotifications() override { return conn_->TakeNotifications(); }

 private:
  std::unique_ptr<pg::Connection> conn_;
};

}  // namespace

ChangeNotificationListener::Hooks PostgresStore::NotificationHooks() {
  ChangeNotificationListener::Hooks hooks;
  hooks.listen = [this]() -> absl::StatusOr<std::unique_ptr<NotificationChannel>> {
    ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> conn,
                     pg::Connection::Open(options_.dsn, options_.connect_timeout));
    RETURN_IF_ERROR(conn->ExecScript("listen", absl::StrCat("LISTEN ", kChannel)).status());
    return std::make_unique<PgNotificationChannel>(std::move(conn));
  };
  // Through the pool, so that the listening session's last query stays its LISTEN (what
  // an operator looks for in pg_stat_activity).
  hooks.newest_change = [this]() -> absl::StatusOr<int64_t> {
    ASSIGN_OR_RETURN(Lease conn, Acquire());
    ASSIGN_OR_RETURN(Rows rows, conn->Exec(kNewestChange, {}));
    return rows.Int(0, 0);
  };
  hooks.tenants_changed_since = [this](int64_t change_seq)
      -> absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> {
    ASSIGN_OR_RETURN(Lease conn, Acquire());
    ASSIGN_OR_RETURN(Rows rows, conn->Exec(kTenantsChangedSince, {absl::StrCat(change_seq)}));
    std::vector<std::pair<std::string, int64_t>> changed;
    for (int r = 0; r < rows.size(); ++r) {
      ASSIGN_OR_RETURN(int64_t seq, rows.Int(r, 1));
      changed.emplace_back(rows.Text(r, 0), seq);
    }
    return changed;
  };
  hooks.ca_changed = [this](const std::string& tenant_id, const std::string& ca_id) {
    if (ca_id.empty()) {
      ca_cache_.ForgetTenant(tenant_id);
    } else {
      ca_cache_.Forget(tenant_id, ca_id);
    }
  };
  hooks.everything_may_have_changed = [this] { ca_cache_.ForgetAll(); };
  return hooks;
}

}  // namespace certbridge::broker
