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
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/store/postgres/certificate_sql.h"
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
using pg::TimeParam;

constexpr char kChannel[] = "certbridge_events";
// The first key of the two-key advisory locks ClaimJobs takes per (tenant, CA); the
// second is a hash. Fixed forever: every replica must use the same.
constexpr int kClaimLockClass = 73121502;
// ListRequestChanges' waits for changes hidden behind a still-open older transaction:
// 1 + 2 + 4 ms at most.
constexpr absl::Duration kHiddenChangeBackoff = absl::Milliseconds(1);
constexpr int kHiddenChangeAttempts = 4;

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
  const std::vector<Param> params = CreateRequestParams(request, job);

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
