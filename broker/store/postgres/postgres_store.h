// PostgresStore: the Store and the CertificateStore on PostgreSQL 15 through libpq.
//
//   PostgresStoreOptions options;
//   options.dsn = "postgresql://certbridge@db:5432/certbridge";
//   RETURN_IF_ERROR(MigrateDatabase(options.dsn));   // broker/store/postgres/migrations.h
//   ASSIGN_OR_RETURN(std::unique_ptr<PostgresStore> store, PostgresStore::Create(options));
//
// Each call borrows a connection from a fixed-size pool and blocks (libpq is
// synchronous): call it from a worker pool, never from a gRPC reactor thread. Statements
// are prepared once per connection. A connection that breaks is replaced on its next
// use, so after UNAVAILABLE the caller simply retries.
//
// Change notifications (CertificateStore::SetChangeListener): each writing transaction
// sends at most one NOTIFY on channel "certbridge_events" whose payload lists records
// (tenant, CA with new READY work, changed request, its change_seq); see
// notify_payload.h for the format. A listener thread with its own connection
// (ChangeNotificationListener, change_notification_listener.h) LISTENs, reconnecting with
// backoff (100 ms doubling to 1 s) when the connection drops, and calls the listener for
// every record. Notifications sent while it was disconnected
// are not lost for requests: on reconnecting, every tenant whose change_seq grew
// meanwhile is reported as OnRequestChanged(tenant, "", change_seq). READY work of that
// time is left to the dispatcher's sweep (ListCasWithReadyJobs).
//
// Certificate authority records are cached for ca_cache_ttl (CertificateAuthorityCache):
// this store's own CA writes are seen at once; another replica's within a notification's
// latency while the listener thread runs, and within ca_cache_ttl at the most.
//
// The pool replaces a connection that the server ended while it sat idle (a restart, a
// failover) before handing it out, so a call fails with UNAVAILABLE only while the
// server is unreachable, not once per stale connection after it is back.
//
// Thread-safety: all methods may be called concurrently.
#ifndef CERTBRIDGE_BROKER_STORE_POSTGRES_POSTGRES_STORE_H_
#define CERTBRIDGE_BROKER_STORE_POSTGRES_POSTGRES_STORE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/metrics/broker_metrics.h"
#include "broker/store/certificate_store.h"
#include "broker/store/postgres/certificate_authority_cache.h"
#include "broker/store/postgres/change_notification_listener.h"
#include "broker/store/store.h"
#include "common/clock.h"

namespace certbridge::broker {

namespace pg {
class Connection;
}  // namespace pg

struct PostgresStoreOptions {
  // libpq connection string or URI. Required. Never logged nor put in an error message.
  std::string dsn;
  // Connections kept open at most; also the most calls that run at once.
  int pool_size = 8;
  // How long opening one connection may take before UNAVAILABLE.
  absl::Duration connect_timeout = absl::Seconds(5);
  // How long a call waits for a free connection before UNAVAILABLE.
  absl::Duration acquire_timeout = absl::Seconds(10);
  // Told how long each call held its connection. Not owned; must outlive the store.
  // nullptr: nothing is recorded.
  BrokerMetrics* metrics = nullptr;
  // How long GetCertificateAuthority answers from a record read before, without a query
  // (certificate_authority_cache.h says when an entry is dropped sooner). 0: never.
  absl::Duration ca_cache_ttl = absl::Seconds(2);
  // The cache's clock. Not owned; must outlive the store. nullptr: the real clock.
  const Clock* clock = nullptr;
};

class PostgresStore final : public Store, public CertificateStore {
 public:
  // Opens one connection to check the DSN and the server (the others open on demand).
  // Errors: INVALID_ARGUMENT empty dsn or pool_size < 1; UNAVAILABLE cannot connect.
  // Does not migrate the schema: call MigrateDatabase first.
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Create(
      const PostgresStoreOptions& options);
  // Stops the listener thread. REQUIRES: no call in progress.
  ~PostgresStore() override;

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
  absl::StatusOr<std::vector<CertificateRequestRecord>> ListOverdueQueuedRequests(
      absl::Time now, int limit) override;
  absl::StatusOr<std::vector<CertificateRequestRecord>> ListWaitingRequestsCreatedBefore(
      RequestState state, absl::Time created_before, int limit) override;
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListCasWithReadyJobs(
      absl::Time now) override;
  absl::StatusOr<JobRecord> GetJob(const std::string& tenant_id, int64_t job_id) override;
  absl::StatusOr<JobAndRequest> GetJobAndRequest(const std::string& tenant_id,
                                                 int64_t job_id) override;
  absl::StatusOr<int> ExtendLeases(const std::string& tenant_id, const std::string& connector_id,
                                   absl::Time lease_until) override;
  absl::StatusOr<std::vector<JobRecord>> ListLeasedJobs(const std::string& tenant_id,
                                                        const std::string& connector_id) override;
  // Returns once LISTEN is in effect (or after connect_timeout, the thread then keeps
  // trying), so that a change committed after the return is delivered. nullptr stops the
  // thread; when that returns, no call to the old listener is running or will be made.
  // REQUIRES: not called from inside a listener call.
  void SetChangeListener(ChangeListener* listener) override;

 private:
  // A borrowed connection; gives it back (or drops it, if broken) when destroyed.
  // Defined in postgres_store_internal.h.
  class Lease;

  explicit PostgresStore(const PostgresStoreOptions& options);
  absl::StatusOr<Lease> Acquire();
  void Release(std::unique_ptr<pg::Connection> conn);
  // For an UPDATE that matched no row: NOT_FOUND, or FAILED_PRECONDITION naming the state.
  absl::Status ExplainNoUpdate(pg::Connection& conn, const std::string& tenant_id,
                               const std::string& connector_id, absl::string_view operation);

  // The listener thread's connection (LISTEN) and reads (through the pool), in
  // postgres_certificate_store.cc.
  ChangeNotificationListener::Hooks NotificationHooks();

  const PostgresStoreOptions options_;
  const RealClock real_clock_;
  CertificateAuthorityCache ca_cache_;
  // Stopped first by the destructor: its thread uses the pool.
  std::unique_ptr<ChangeNotificationListener> notifications_;
  absl::Mutex mu_;
  // Free slots; nullptr is a slot whose connection is not (or no longer) open.
  std::vector<std::unique_ptr<pg::Connection>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_POSTGRES_POSTGRES_STORE_H_
