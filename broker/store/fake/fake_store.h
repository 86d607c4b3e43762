// FakeStore: an in-memory Store and CertificateStore for unit tests of the broker's services. It is honest:
// the contract test (tests/broker/store/store_contract_test.cc) runs the same cases
// against it and PostgresStore, so it returns the same codes for the same situations.
//
// Failure injection, in the manner of leveldb's SpecialEnv:
//
//   FakeStore store;
//   store.FailNextCalls(absl::UnavailableError("db down"), 2);
//   store.GetTenant("t");   // UNAVAILABLE, nothing read or written
//   store.GetTenant("t");   // UNAVAILABLE
//   store.GetTenant("t");   // the real answer
//
// The ChangeListener is called synchronously on the writer's thread, after the write and
// outside the store's lock (so a listener may call the store), once per changed request
// (never with an empty request_name) and once per CA with new READY work.
//
// Thread-safety: all methods may be called concurrently.
#ifndef CERTBRIDGE_BROKER_STORE_FAKE_FAKE_STORE_H_
#define CERTBRIDGE_BROKER_STORE_FAKE_FAKE_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "broker/store/certificate_store.h"
#include "broker/store/store.h"

namespace certbridge::broker {

class FakeStore : public Store, public CertificateStore {
 public:
  FakeStore() = default;
  FakeStore(const FakeStore&) = delete;
  FakeStore& operator=(const FakeStore&) = delete;

  // The next `n` calls of any Store or CertificateStore method (but SetChangeListener) return `status` without touching the data.
  // REQUIRES: !status.ok(). n <= 0 clears a pending failure.
  void FailNextCalls(absl::Status status, int n);
  // How many Store method calls were made (failed ones included): lets a test assert
  // that a cache or a retry loop called the store the expected number of times.
  int64_t call_count() const;

  absl::Status CreateTenant(const Tenant& tenant) override;
  absl::StatusOr<std::vector<Tenant>> ListTenants() override;
  absl::StatusOr<Tenant> GetTenant(const std::string& tenant_id) override;

  absl::Status CreateApiKey(const ApiKeyRecord& key) override;
  absl::StatusOr<ApiKeyRecord> LookupApiKey(const std::string& key_id) override;
  absl::StatusOr<std::vector<ApiKeyRecord>> ListApiKeys(const std::string& tenant_id) override;
  absl::StatusOr<ApiKeyRecord> RevokeApiKey(const std::string& tenant_id,
                                            const std::string& key_id,
                                            absl::Time revoke_time) override;
  absl::Status RecordApiKeyUse(const std::string& key_id, absl::Time use_time,
                               absl::Duration granularity) override;

  absl::Status CreateEnrollmentToken(const EnrollmentTokenRecord& token) override;
  absl::StatusOr<std::string> RegisterConnector(const std::string& token_hash, absl::Time now,
                                                const ConnectorRecord& connector) override;

  absl::StatusOr<ConnectorRecord> GetConnector(const std::string& tenant_id,
                                               const std::string& connector_id,
                                               absl::Time live_after) override;
  absl::StatusOr<ConnectorRecord> GetConnectorById(const std::string& connector_id,
                                                   absl::Time live_after) override;
  absl::StatusOr<std::vector<ConnectorRecord>> ListConnectors(const std::string& tenant_id,
                                                              absl::Time live_after) override;
  absl::StatusOr<ConnectorRecord> FindConnectorByRegistrationCode(
      const std::string& tenant_id, const std::string& code_hash) override;
  absl::Status ApproveConnector(const std::string& tenant_id, const std::string& connector_id,
                                absl::Time approve_time, const std::string& certificate_chain_pem,
                                const std::string& certificate_serial,
                                absl::Time certificate_expire_time) override;
  absl::Status TransitionConnector(const std::string& tenant_id, const std::string& connector_id,
                                   const std::vector<ConnectorState>& from,
                                   ConnectorState to) override;
  absl::Status UpdateConnectorCertificate(const std::string& tenant_id,
                                          const std::string& connector_id,
                                          const std::string& certificate_chain_pem,
                                          const std::string& certificate_serial,
                                          absl::Time certificate_expire_time) override;
  absl::Status UpdateConnectorAgentInfo(const std::string& tenant_id,
                                        const std::string& connector_id, const std::string& host,
                                        const std::string& os, const std::string& agent_version,
                                        const std::string& ca_identity) override;
  absl::Status DeleteConnector(const std::string& tenant_id,
                               const std::string& connector_id) override;

  absl::Status CreateCertificateAuthority(const CertificateAuthorityRecord& ca) override;
  absl::StatusOr<CertificateAuthorityRecord> GetCertificateAuthority(
      const std::string& tenant_id, const std::string& ca_id) override;
  absl::StatusOr<std::vector<CertificateAuthorityRecord>> ListCertificateAuthorities(
      const std::string& tenant_id) override;
  absl::Status DeleteCertificateAuthority(const std::string& tenant_id,
                                          const std::string& ca_id) override;
  absl::Status AssignCertificateAuthority(const std::string& tenant_id, const std::string& ca_id,
                                          const std::string& connector_id) override;
  absl::Status UnassignCertificateAuthority(const std::string& tenant_id,
                                            const std::string& ca_id,
                                            const std::string& connector_id) override;

  absl::Status UpsertSession(const SessionRecord& session) override;
  absl::Status RefreshSession(const SessionRecord& session) override;
  absl::Status DeleteSession(const std::string& connector_id, const std::string& replica_id,
                             absl::Time connect_time) override;

  absl::Status AppendAuditEvent(const AuditEventRecord& event) override;
  absl::StatusOr<std::vector<AuditEventRecord>> ListAuditEvents(const std::string& tenant_id,
                                                                int64_t before_event_id,
                                                                int limit) override;

  absl::Status SetDeliveryCertificate(const std::string& tenant_id,
                                      const std::string& certificate_pem) override;
  absl::StatusOr<std::string> GetDeliveryCertificate(const std::string& tenant_id) override;
  absl::StatusOr<CreateRequestResult> CreateCertificateRequest(
      const CertificateRequestRecord& request, const JobRecord& first_job) override;
  absl::StatusOr<CertificateRequestRecord> GetCertificateRequest(
      const std::string& tenant_id, const std::string& name) override;
  absl::StatusOr<CertificateRequestRecord> GetCertificateRequestByRequestId(
      const std::string& tenant_id, const std::string& request_id) override;
  absl::StatusOr<CertificateRequestRecord> GetCertificateRequestBySerial(
      const std::string& tenant_id, const std::string& ca_id,
      const std::string& serial_hex) override;
  absl::StatusOr<std::vector<CertificateRequestRecord>> ListCertificateRequests(
      const std::string& tenant_id, const RequestFilter& filter, int64_t before_seq,
      int limit) override;
  absl::StatusOr<std::vector<CertificateRequestRecord>> ListRequestChanges(
      const std::string& tenant_id, int64_t after_change_seq, int limit) override;
  absl::StatusOr<int64_t> LatestChangeSeq(const std::string& tenant_id) override;
  absl::StatusOr<int> DeleteRequestChangesBefore(absl::Time update_time_before,
                                                 int limit) override;
  absl::StatusOr<CertificateRequestRecord> UpdateCertificateRequest(
      const std::string& tenant_id, const std::string& name,
      const std::vector<RequestState>& from, const CertificateRequestRecord& update,
      bool fail_open_jobs) override;
  absl::StatusOr<JobRecord> AddJob(const JobRecord& job) override;
  absl::StatusOr<CertificateRequestRecord> UpdateRequestAndAddJob(
      const std::string& tenant_id, const std::string& name,
      const std::vector<RequestState>& from, const CertificateRequestRecord& update,
      const JobRecord& job) override;
  absl::StatusOr<std::vector<JobRecord>> ClaimJobs(const ClaimParams& params) override;
  absl::StatusOr<CertificateRequestRecord> CompleteJob(const JobCompletion& completion) override;
  absl::StatusOr<int> ExpireLeases(absl::Time now) override;
  absl::StatusOr<std::vector<CertificateRequestRecord>> ListWaitingRequestsCreatedBefore(
      RequestState state, absl::Time created_before, int limit) override;
  absl::StatusOr<std::vector<CertificateRequestRecord>> ListOverdueQueuedRequests(
      absl::Time now, int limit) override;
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListCasWithReadyJobs(
      absl::Time now) override;
  absl::StatusOr<JobRecord> GetJob(const std::string& tenant_id, int64_t job_id) override;
  absl::StatusOr<JobAndRequest> GetJobAndRequest(const std::string& tenant_id,
                                                 int64_t job_id) override;
  absl::StatusOr<int> ExtendLeases(const std::string& tenant_id, const std::string& connector_id,
                                   absl::Time lease_until) override;
  absl::StatusOr<std::vector<JobRecord>> ListLeasedJobs(const std::string& tenant_id,
                                                        const std::string& connector_id) override;
  void SetChangeListener(ChangeListener* listener) override;

 private:
  struct TokenRow {
    EnrollmentTokenRecord token;
    bool used = false;
  };

  // Counts the call and returns the injected failure, if one is pending.
  absl::Status BeginCall() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool TenantExists(const std::string& tenant_id) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The connector if it is in `tenant_id`; nullptr otherwise.
  ConnectorRecord* FindConnector(const std::string& tenant_id, const std::string& connector_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  CertificateAuthorityRecord* FindCa(const std::string& tenant_id, const std::string& ca_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A copy of the stored connector with ca_ids, last_seen_time and connected filled in.
  ConnectorRecord Report(const ConnectorRecord& stored, absl::Time live_after) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  CertificateAuthorityRecord Report(const CertificateAuthorityRecord& stored) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // What a write tells the listener: OnJobsReady(tenant_id, ca_id) when ca_id is set,
  // OnRequestChanged(tenant_id, request_name, change_seq, state) when request_name is set;
  // state is the one the write left, as PostgresStore sends it.
  struct Change {
    std::string tenant_id;
    std::string ca_id;
    std::string request_name;
    int64_t change_seq = 0;
    std::optional<RequestState> state = std::nullopt;
  };
  // Calls the listener for `changes`. REQUIRES: mu_ not held.
  void Notify(const std::vector<Change>& changes) ABSL_LOCKS_EXCLUDED(mu_);
  // The request if it is in `tenant_id`; nullptr otherwise.
  CertificateRequestRecord* FindRequest(const std::string& tenant_id, const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Numbers a write of *r (its change_seq) and appends the copy to the history.
  void RecordChange(CertificateRequestRecord* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Inserts a validated job; returns the stored copy.
  JobRecord InsertJob(JobRecord job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::Status fail_status_ ABSL_GUARDED_BY(mu_);
  int fail_count_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t call_count_ ABSL_GUARDED_BY(mu_) = 0;

  std::map<std::string, Tenant> tenants_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, ApiKeyRecord> api_keys_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, TokenRow> tokens_ ABSL_GUARDED_BY(mu_);
  // Stored fields only; last_seen_time holds the heartbeat kept from deleted sessions.
  std::map<std::string, ConnectorRecord> connectors_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, CertificateAuthorityRecord> cas_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<std::string, std::string>> assignments_ ABSL_GUARDED_BY(mu_);  // ca, conn
  std::map<std::string, SessionRecord> sessions_ ABSL_GUARDED_BY(mu_);  // by connector id
  std::vector<AuditEventRecord> audit_events_ ABSL_GUARDED_BY(mu_);     // ascending ids
  int64_t next_event_id_ ABSL_GUARDED_BY(mu_) = 1;

  std::map<std::string, std::string> delivery_certificates_ ABSL_GUARDED_BY(mu_);  // by tenant
  // Every kept change, in change_seq order (the fake commits one write at a time, so
  // change_seq order is commit order).
  std::map<int64_t, CertificateRequestRecord> changes_ ABSL_GUARDED_BY(mu_);
  int64_t next_change_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::string, CertificateRequestRecord> requests_ ABSL_GUARDED_BY(mu_);  // by name
  std::map<int64_t, JobRecord> jobs_ ABSL_GUARDED_BY(mu_);                         // by job id
  int64_t next_request_seq_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_job_id_ ABSL_GUARDED_BY(mu_) = 1;
  ChangeListener* listener_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_FAKE_FAKE_STORE_H_
