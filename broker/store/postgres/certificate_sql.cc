// The PostgreSQL store's certificate SQL and its row mappers (see certificate_sql.h).

#include "broker/store/postgres/certificate_sql.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "broker/store/record_validation.h"
#include "common/status_macros.h"

namespace certbridge::broker {

using pg::Param;
using pg::Rows;
using pg::TimeParam;

namespace {

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

const OwnedStatement& SelectRequestsStatement(const char* name, const char* where) {
  // One per call site; the callers keep the result in a function-local static.
  return *new OwnedStatement{name,
                             absl::StrCat("SELECT ", kRequestColumns,
                                          "FROM certificate_request r ", where)};
}

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

std::string StateList(const std::vector<RequestState>& states) {
  std::vector<absl::string_view> names;
  for (RequestState s : states) names.push_back(RequestStateName(s));
  return absl::StrJoin(names, ",");
}

}  // namespace

// ---- SQL. Statements are built once from the column lists above, so that the request
// columns are spelled in one place.

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

const pg::Statement kSetDelivery = {
    "set_delivery_certificate",
    "UPDATE tenant SET delivery_certificate_pem = $2 WHERE tenant_id = $1"};
const pg::Statement kGetDelivery = {
    "get_delivery_certificate", "SELECT delivery_certificate_pem FROM tenant WHERE tenant_id = $1"};
// The tenant exists; its newest readable change (NULL if none).
const pg::Statement kLatestChangeSeq = {
    "latest_change_seq",
    "SELECT EXISTS (SELECT 1 FROM tenant WHERE tenant_id = $1), "
    "(SELECT c.change_id FROM request_change c WHERE c.tenant_id = $1 "
    " AND c.xid < pg_snapshot_xmin(pg_current_snapshot()) "
    " ORDER BY c.xid DESC, c.change_id DESC LIMIT 1)"};
// Whether the cursor is one of the tenant's kept changes, and whether the tenant has
// committed changes that are not readable yet (an older transaction is still open).
const pg::Statement kChangeCursorState = {
    "change_cursor_state",
    "SELECT EXISTS (SELECT 1 FROM request_change WHERE tenant_id = $1 "
    " AND change_id = $2::bigint), "
    "EXISTS (SELECT 1 FROM request_change WHERE tenant_id = $1 "
    " AND xid >= pg_snapshot_xmin(pg_current_snapshot()))"};
// The retention sweep, oldest first, a bounded batch per transaction.
const pg::Statement kDeleteChangesBefore = {
    "delete_request_changes_before",
    "DELETE FROM request_change WHERE change_id IN (SELECT change_id FROM request_change "
    " WHERE update_time < $1::timestamptz ORDER BY change_id LIMIT $2::integer)"};
const pg::Statement kRequestState = {
    "certificate_request_state",
    "SELECT state FROM certificate_request WHERE tenant_id = $1 AND name = $2"};
const pg::Statement kJobState = {
    "job_state", "SELECT state FROM job WHERE tenant_id = $1 AND job_id = $2::bigint"};
// Locks the jobs in id order first (the lock order), then fails them.
const pg::Statement kFailOpenJobs = {
    "fail_open_jobs",
    "UPDATE job SET state = 'FAILED' WHERE job_id IN (SELECT job_id FROM job "
    "WHERE tenant_id = $1 AND request_name = $2 AND state IN ('READY', 'LEASED') "
    "ORDER BY job_id FOR UPDATE)"};
const pg::Statement kInsertJob = {
    "insert_job",
    "INSERT INTO job (tenant_id, request_name, ca_id, kind, state, required_identity, "
    "connector_id, lease_until, not_before, attempts, serial_hex, revocation_reason, "
    "create_time) VALUES ($1, $2, $3, $4, 'READY', $5, $6, $7, $8, $9, $10, $11, $12) "
    "RETURNING job_id"};
// $1 tenant, $2 job, $3 new state, $4 retry not_before, $5 now. `old` locks the row and
// keeps its state before the update. The third column: the job left LEASED (freeing a
// place under the per-CA limit) while other READY jobs of its CA are claimable now; no
// notification may be coming for those, so the caller reports the CA ready (issue 9).
const pg::Statement kCompleteJob = {
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
const pg::Statement kExpireLeases = {
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
const pg::Statement kNewestChange = {
    "newest_request_change", "SELECT coalesce(max(change_id), 0) FROM request_change"};
const pg::Statement kTenantsChangedSince = {
    "tenants_changed_since",
    "SELECT tenant_id, max(change_id) FROM request_change WHERE change_id > $1::bigint "
    "GROUP BY tenant_id"};
const pg::Statement kListCasWithReadyJobs = {
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
const pg::Statement kGetJob = {"get_job",
                               CB_JOB_SELECT "WHERE j.tenant_id = $1 AND j.job_id = $2::bigint"};
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
const pg::Statement kClaimLocks = {
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
const pg::Statement kExtendLeases = {
    "extend_leases",
    "UPDATE job SET lease_until = greatest(lease_until, $3::timestamptz) "
    "WHERE tenant_id = $1 AND connector_id = $2 AND state = 'LEASED'"};
const pg::Statement kListLeasedJobs = {
    "list_leased_jobs",
    CB_JOB_SELECT
    "WHERE j.tenant_id = $1 AND j.connector_id = $2 AND j.state = 'LEASED' ORDER BY j.job_id"};

// ---- Rows to records, records to parameters.

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

// $1..$46 of CreateRequestStatement.
std::vector<Param> CreateRequestParams(const CertificateRequestRecord& request,
                                       const JobRecord& job) {
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
  return params;
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


#undef CB_JOB_SELECT
#undef CB_JOB_COLUMNS

}  // namespace certbridge::broker
