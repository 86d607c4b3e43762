// FakeStore: an in-memory Store for unit tests of the broker's services. It is honest:
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
// Thread-safety: all methods may be called concurrently.
#ifndef CERTBRIDGE_BROKER_STORE_FAKE_FAKE_STORE_H_
#define CERTBRIDGE_BROKER_STORE_FAKE_FAKE_STORE_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "broker/store/store.h"

namespace certbridge::broker {

class FakeStore final : public Store {
 public:
  FakeStore() = default;
  FakeStore(const FakeStore&) = delete;
  FakeStore& operator=(const FakeStore&) = delete;

  // The next `n` calls of any Store method return `status` without touching the data.
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
  absl::Status DeleteSession(const std::string& connector_id,
                             const std::string& replica_id) override;

  absl::Status AppendAuditEvent(const AuditEventRecord& event) override;
  absl::StatusOr<std::vector<AuditEventRecord>> ListAuditEvents(const std::string& tenant_id,
                                                                int64_t before_event_id,
                                                                int limit) override;

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
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_FAKE_FAKE_STORE_H_
