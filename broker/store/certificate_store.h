// Certificate requests and the jobs that carry them to agents: the durable half of
// CertificateService and the dispatcher (docs/architecture.md §3 and §5).
//
// PostgresStore and FakeStore implement this beside Store; the contract tests run the same
// cases against both. Error codes and tenant isolation are as in store.h: another tenant's
// request is NOT_FOUND exactly as a missing one.
//
// Ordering and wake-ups:
// - Every write of a request (creation included) appends a change to the tenant's history:
//   a copy of the request as that write left it, numbered by a store-wide change number
//   that becomes the request's change_seq. ListRequestChanges returns the history in an
//   order that never puts a change before one that was readable earlier, and a request's
//   changes in the order of its writes (PostgreSQL: transaction id, then change number, of
//   transactions older than every one still open; docs/architecture.md §4.8), so a Watch
//   cursor never skips a change. No tenant-wide row is written.
// - Changes are kept until DeleteRequestChangesBefore removes them (the sweeper, after the
//   retention); a cursor whose change is gone is FAILED_PRECONDITION.
// - Each writing transaction sends at most one NOTIFY (channel "certbridge_events") with a
//   small payload; every replica's listener turns it into ChangeListener calls. The fake
//   calls the listener synchronously after the write, outside its lock.
//
// Thread-safety: all methods may be called concurrently.
#ifndef CERTBRIDGE_BROKER_STORE_CERTIFICATE_STORE_H_
#define CERTBRIDGE_BROKER_STORE_CERTIFICATE_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace certbridge::broker {

enum class RequestState {
  kQueued,
  kDispatched,
  kPendingApproval,
  kIssued,
  kDenied,
  kFailed,
  kRevoked,
  kExpired,
  kCancelled,
};
absl::string_view RequestStateName(RequestState state);  // "QUEUED", ...
std::optional<RequestState> RequestStateFromName(absl::string_view name);
// ISSUED, DENIED, FAILED, REVOKED, EXPIRED, CANCELLED. (ISSUED can still become REVOKED.)
bool IsTerminal(RequestState state);

enum class JobKind { kSubmit, kRetrieve, kRevoke };
absl::string_view JobKindName(JobKind kind);  // "SUBMIT", ...
enum class JobState { kReady, kLeased, kDone, kFailed };
absl::string_view JobStateName(JobState state);

struct CertificateRequestRecord {
  // Identity and what was asked. Immutable after creation.
  std::string name;        // certbridge's id (UUID), chosen by the broker
  std::string tenant_id;
  std::string request_id;  // the caller's idempotency key; unique per tenant
  std::string ca_id;
  std::string template_name;
  // SHA-256 hex of the creation parameters: a retry with the same request_id but other
  // parameters is refused (ALREADY_EXISTS) by the service.
  std::string params_fingerprint;
  std::string csr_pem;  // CSR mode; empty in key-generation mode
  // Key-generation mode (key_type non-empty): "EC-P256", RFC 4514 subject,
  // "dns:..."-style SANs, "MODERN"/"LEGACY".
  std::string key_type;
  std::string subject;
  std::vector<std::string> subject_alt_names;
  std::string pkcs12_profile;
  std::string sid;
  std::string device_id;
  std::map<std::string, std::string> labels;
  // The CA request attribute string (without the certbridge request id line).
  std::string attributes;
  absl::Time create_time;
  // A QUEUED request that no connector has taken by then becomes EXPIRED.
  absl::Time queue_deadline = absl::InfiniteFuture();

  // Mutable state: written by CompleteJob / UpdateCertificateRequest.
  RequestState state = RequestState::kQueued;
  absl::Time update_time;
  int64_t ca_request_id = 0;
  int32_t disposition = 0;
  uint32_t hresult = 0;
  std::string disposition_message;
  std::string error_code;  // stable certbridge code, e.g. "CA_TEMPLATE_NOT_SUPPORTED"
  std::string error_message;
  std::string remedy;
  std::string waiting_reason;
  std::string connector_id;  // the connector that submitted
  std::string ca_identity;   // its CA identity: RETRIEVE and REVOKE go only to it
  std::string certificate_pem;
  std::string chain_pem;
  std::string serial_hex;
  absl::Time not_after = absl::InfinitePast();
  std::string pkcs12;              // bytes
  std::string enveloped_password;  // bytes
  int32_t revocation_reason = -1;
  absl::Time revoke_time = absl::InfinitePast();

  // Assigned by the store.
  int64_t seq = 0;         // insertion order, for List paging (newest first)
  // The number of the change that wrote this copy (store-wide, increasing with every
  // write); the Watch cursor.
  int64_t change_seq = 0;
};

struct JobRecord {
  int64_t job_id = 0;  // assigned by the store
  std::string tenant_id;
  std::string request_name;
  std::string ca_id;
  JobKind kind = JobKind::kSubmit;
  JobState state = JobState::kReady;
  // RETRIEVE and REVOKE (and a SUBMIT whose lease expired): only a connector whose
  // ca_identity equals this may claim it. Empty: any connector serving the CA. A value
  // made by ConnectorBoundIdentity: only that one connector (running as that identity).
  std::string required_identity;
  std::string connector_id;  // the lease holder while LEASED
  absl::Time lease_until = absl::InfinitePast();
  absl::Time not_before = absl::InfinitePast();  // claimable from then (retry backoff)
  int32_t attempts = 0;     // incremented by each claim
  std::string serial_hex;   // REVOKE
  int32_t revocation_reason = 0;  // REVOKE
  absl::Time create_time;
};

// required_identity for a job only `connector_id` may claim: key-generation work whose
// generated key is in that agent's pending key store. ClaimJobs matches it against
// params.ca_identity + "\x1f" + params.connector_id (no identity or id holds \x1f).
inline std::string ConnectorBoundIdentity(const std::string& ca_identity,
                                          const std::string& connector_id) {
  return ca_identity + '\x1f' + connector_id;
}

// A job and its request as one read saw them (CertificateStore::GetJobAndRequest).
struct JobAndRequest {
  JobRecord job;
  CertificateRequestRecord request;
};

struct CreateRequestResult {
  CertificateRequestRecord request;
  bool created = false;  // false: the request_id existed and `request` is the stored one
};

struct RequestFilter {
  std::optional<RequestState> state;
  std::string ca_id;      // empty: any
  std::string device_id;  // empty: any
};

struct ClaimParams {
  std::string tenant_id;
  std::string connector_id;
  std::string ca_identity;
  std::vector<std::string> ca_ids;  // the CAs this connector is assigned
  int limit = 0;                    // the connector's free credit
  int per_ca_limit = 0;             // at most this many LEASED jobs per CA, all connectors
  absl::Time now;
  absl::Time lease_until;
  // Optional, not owned: receives, by name, every request this claim moved from QUEUED to
  // DISPATCHED, as the claim wrote it, so that the caller describes the jobs without
  // reading the requests again (issue 9). Other requests of the claimed jobs are not in it.
  std::map<std::string, CertificateRequestRecord>* dispatched_requests = nullptr;
};

struct JobCompletion {
  int64_t job_id = 0;
  std::string tenant_id;
  std::string connector_id;  // who reports; see CompleteJob
  absl::Time now;
  // kDone / kFailed end the job; kReady puts it back with not_before = retry_not_before
  // (e.g. CA unreachable) and clears the lease.
  JobState job_state = JobState::kDone;
  absl::Time retry_not_before = absl::InfinitePast();
  // The request's new mutable state (every mutable field of CertificateRequestRecord is
  // written from here; identity fields are ignored). Not applied when job_state is kReady
  // and update_request is false.
  bool update_request = true;
  CertificateRequestRecord request;
  // The request's state when the outcome was decided. When set, the request is written
  // only if it is still in that state; otherwise CompleteJob returns ABORTED and writes
  // nothing (re-read and decide again): a concurrent change, such as a revocation, is
  // never overwritten by an outcome computed from an older copy.
  std::optional<RequestState> expected_request_state;
  // A job to add in the same transaction (e.g. RETRIEVE after UNDER_SUBMISSION).
  std::optional<JobRecord> follow_up;
};

// Told of changes committed by any replica. Calls arrive on the store's listener thread
// (or, for the fake, on the writer's thread): do nothing blocking in them.
class ChangeListener {
 public:
  virtual ~ChangeListener() = default;
  // New READY work for this CA (a new or re-readied job).
  virtual void OnJobsReady(const std::string& tenant_id, const std::string& ca_id) = 0;
  // A connector's row changed in a way its live stream must see at once (approved,
  // disabled, enabled, rejected, deleted, CA assigned or unassigned). Sent by PostgresStore
  // so that the replica holding the stream reacts within a notification's latency; the
  // fake does not send it (in one process the broker's own ConnectorEvents cover it).
  virtual void OnConnectorChanged(const std::string& tenant_id, const std::string& connector_id) {
    (void)tenant_id;
    (void)connector_id;
  }
  // A request of this tenant changed (change_seq is the change's number). request_name may
  // be empty: several requests of the tenant changed, the newest numbered change_seq
  // (PostgresStore collapses a claim's or a sweep's many changes so that one NOTIFY stays
  // small, and reports a tenant so after its listener reconnects); read them with
  // ListRequestChanges. `state` is the state this change left the named request in, so a
  // waiter can tell without a read whether the change may concern it; nullopt when unknown
  // (request_name empty, or the change came from a replica that does not send it): read.
  virtual void OnRequestChanged(const std::string& tenant_id, const std::string& request_name,
                                int64_t change_seq, std::optional<RequestState> state) = 0;
  // A write on THIS process committed and returned `record`: the request as that write
  // left it (record.change_seq is the change's number), so a waiter here can answer from it
  // without a read and without waiting for OnRequestChanged. Not a replacement for
  // OnRequestChanged, which still follows for the same change (and is the only call other
  // replicas get); it may arrive before or after it. Sent by RecordPublishingCertificateStore
  // on the writer's thread, not by the stores themselves.
  virtual void OnRequestRecord(const CertificateRequestRecord& record) { (void)record; }
};

class CertificateStore {
 public:
  virtual ~CertificateStore() = default;

  // The tenant's delivery certificate (PEM) for key-generation mode; "" if none.
  virtual absl::Status SetDeliveryCertificate(const std::string& tenant_id,
                                              const std::string& certificate_pem) = 0;
  virtual absl::StatusOr<std::string> GetDeliveryCertificate(const std::string& tenant_id) = 0;

  // In one transaction: inserts the request (state QUEUED) and `first_job` (its
  // request_name/tenant_id are set from the request). If the tenant already has a request
  // with this request_id, nothing is written and the stored request is returned with
  // created = false. NOT_FOUND if the tenant does not exist.
  virtual absl::StatusOr<CreateRequestResult> CreateCertificateRequest(
      const CertificateRequestRecord& request, const JobRecord& first_job) = 0;

  virtual absl::StatusOr<CertificateRequestRecord> GetCertificateRequest(
      const std::string& tenant_id, const std::string& name) = 0;
  virtual absl::StatusOr<CertificateRequestRecord> GetCertificateRequestByRequestId(
      const std::string& tenant_id, const std::string& request_id) = 0;
  // By CA and serial (for revocation by serial); the newest if several. NOT_FOUND if none
  // or serial_hex is empty.
  virtual absl::StatusOr<CertificateRequestRecord> GetCertificateRequestBySerial(
      const std::string& tenant_id, const std::string& ca_id, const std::string& serial_hex) = 0;

  // Newest first (seq descending); only seq < before_seq when before_seq > 0. Here and in
  // the other lists with a `limit`: INVALID_ARGUMENT when limit <= 0.
  virtual absl::StatusOr<std::vector<CertificateRequestRecord>> ListCertificateRequests(
      const std::string& tenant_id, const RequestFilter& filter, int64_t before_seq,
      int limit) = 0;

  // The tenant's changes after the change numbered after_change_seq (0: from the oldest
  // kept), in history order (see the top of this file), at most `limit`: one record per
  // write, each the request as that write left it (change_seq = the change's number; a
  // request appears once per change). FAILED_PRECONDITION (UnknownChangeCursor) when
  // after_change_seq > 0 is not a kept change of this tenant (removed after the retention,
  // or never this tenant's).
  virtual absl::StatusOr<std::vector<CertificateRequestRecord>> ListRequestChanges(
      const std::string& tenant_id, int64_t after_change_seq, int limit) = 0;
  // The number of the tenant's newest readable change: ListRequestChanges from it returns
  // exactly what is written later. 0 if it has none. NOT_FOUND for an unknown tenant.
  virtual absl::StatusOr<int64_t> LatestChangeSeq(const std::string& tenant_id) = 0;
  // Removes up to `limit` changes (any tenant) whose request update_time at the change is
  // before `update_time_before`, oldest first; returns how many. The request rows are
  // untouched. INVALID_ARGUMENT for limit <= 0.
  virtual absl::StatusOr<int> DeleteRequestChangesBefore(absl::Time update_time_before,
                                                         int limit) = 0;

  // Conditional update of the request's mutable fields (from `update`) if its state is
  // one of `from`; FAILED_PRECONDITION naming the current state otherwise. When
  // `fail_open_jobs`, the request's READY and LEASED jobs become FAILED in the same
  // transaction (cancel, expiry). Returns the stored result.
  virtual absl::StatusOr<CertificateRequestRecord> UpdateCertificateRequest(
      const std::string& tenant_id, const std::string& name, const std::vector<RequestState>& from,
      const CertificateRequestRecord& update, bool fail_open_jobs) = 0;

  // Adds a job (e.g. REVOKE) for an existing request. Returns it with its id.
  virtual absl::StatusOr<JobRecord> AddJob(const JobRecord& job) = 0;

  // UpdateCertificateRequest (without failing open jobs) and AddJob of `job` for the same
  // request (its tenant_id and request_name are set from the arguments), in one
  // transaction: both or neither. E.g. a revocation that clears an earlier attempt's
  // outcome and queues its REVOKE. Errors as the two methods'; returns the stored request.
  virtual absl::StatusOr<CertificateRequestRecord> UpdateRequestAndAddJob(
      const std::string& tenant_id, const std::string& name, const std::vector<RequestState>& from,
      const CertificateRequestRecord& update, const JobRecord& job) = 0;

  // Leases READY jobs (not_before <= now) of params.tenant_id whose ca_id is in
  // params.ca_ids and whose required_identity is empty, equals params.ca_identity or
  // equals ConnectorBoundIdentity(params.ca_identity, params.connector_id),
  // oldest first, at most params.limit, and never more than params.per_ca_limit LEASED
  // per CA in total. Claimed jobs become LEASED to params.connector_id until
  // params.lease_until with attempts + 1; a QUEUED request of a claimed SUBMIT becomes
  // DISPATCHED with connector_id, ca_identity and update_time = now set. Uses FOR UPDATE
  // SKIP LOCKED, so replicas claiming at once never get the same job. Returned in job_id
  // order. limit <= 0 or no ca_ids: nothing claimed; per_ca_limit <= 0: INVALID_ARGUMENT.
  virtual absl::StatusOr<std::vector<JobRecord>> ClaimJobs(const ClaimParams& params) = 0;

  // Records a job's outcome and the request's new state in one transaction. Accepted when
  // the job is LEASED (to anyone: an agent that resolved a lost answer reports late) or
  // READY; FAILED_PRECONDITION when it is already DONE or FAILED (a duplicate report;
  // the caller ignores it). NOT_FOUND for an unknown job of the tenant. INVALID_ARGUMENT
  // for job_state kLeased or a malformed follow_up. Returns the stored request.
  // Notifies OnJobsReady for the job's CA when the job is put back READY with
  // retry_not_before <= now, and when it left LEASED while other READY jobs of its CA have
  // not_before <= now (the per-CA limit may have held them back with no other wake-up to
  // come); for a follow_up's CA when it is due now.
  virtual absl::StatusOr<CertificateRequestRecord> CompleteJob(const JobCompletion& completion) = 0;

  // Jobs LEASED until before `now` become READY again. A SUBMIT keeps the lease holder's
  // CA identity as required_identity, so that only an agent that can find the earlier
  // answer at the CA takes it. Returns how many; notifies OnJobsReady.
  virtual absl::StatusOr<int> ExpireLeases(absl::Time now) = 0;

  // QUEUED requests whose queue_deadline is before `now`, across tenants (the sweeper),
  // earliest deadline first.
  virtual absl::StatusOr<std::vector<CertificateRequestRecord>> ListOverdueQueuedRequests(
      absl::Time now, int limit) = 0;

  // Requests of any tenant in `state` (DISPATCHED or PENDING_APPROVAL) created before
  // `created_before`, oldest first, at most `limit` (the sweep expires them by age).
  // INVALID_ARGUMENT for another state or a limit <= 0.
  virtual absl::StatusOr<std::vector<CertificateRequestRecord>> ListWaitingRequestsCreatedBefore(
      RequestState state, absl::Time created_before, int limit) = 0;

  // (tenant_id, ca_id) pairs that have READY jobs claimable at `now` (the sweeper's
  // safety net for a lost notification).
  virtual absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListCasWithReadyJobs(
      absl::Time now) = 0;

  // NOT_FOUND for an unknown job or another tenant's.
  virtual absl::StatusOr<JobRecord> GetJob(const std::string& tenant_id, int64_t job_id) = 0;
  // The job and its request in one read (one query: a job result is decided on both).
  // NOT_FOUND for an unknown job or another tenant's.
  virtual absl::StatusOr<JobAndRequest> GetJobAndRequest(const std::string& tenant_id,
                                                         int64_t job_id) = 0;

  // Moves lease_until of every job LEASED to this connector to `lease_until` (never
  // earlier than it was): the agent is alive and working on them. Returns how many.
  virtual absl::StatusOr<int> ExtendLeases(const std::string& tenant_id,
                                           const std::string& connector_id,
                                           absl::Time lease_until) = 0;

  // Jobs LEASED to this connector (re-sent when it reconnects), in job_id order.
  virtual absl::StatusOr<std::vector<JobRecord>> ListLeasedJobs(const std::string& tenant_id,
                                                                const std::string& connector_id) = 0;

  // Starts delivering changes to `listener` (not owned; nullptr stops). PostgresStore
  // LISTENs on a dedicated connection and reconnects by itself.
  virtual void SetChangeListener(ChangeListener* listener) = 0;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_CERTIFICATE_STORE_H_
