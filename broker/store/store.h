// The broker's persistent state. PostgresStore is the real one; FakeStore is an in-memory
// twin for unit tests. One contract test suite (tests/broker/store/) runs against both, so
// they behave alike.
//
// Tenant isolation: every method that reads or writes a tenant's object takes the tenant
// id and matches on it; an object of another tenant is NOT_FOUND exactly as a missing one.
//
// Errors (absl codes, chosen by the abseil retry rule):
//   NOT_FOUND            no such object in this tenant
//   ALREADY_EXISTS       unique key taken (e.g. the same CA config string twice)
//   FAILED_PRECONDITION  the object is in the wrong state (message names the state)
//   UNAVAILABLE          the database cannot be reached; retry the call
//   ABORTED              serialization failure / deadlock; retry the transaction
//   INVALID_ARGUMENT     a malformed record (empty id, id with control characters,
//                        scope with whitespace, limit <= 0); nothing was written
//   INTERNAL             anything else
// Messages name the object and never contain secrets or DSNs.
//
// Creating an object in a tenant that does not exist is NOT_FOUND. Ids (tenant, key,
// connector, CA) are unique across all tenants. Lists are ordered by id (byte order)
// unless stated otherwise. Times are kept with microsecond precision (finer parts are
// truncated); absl::InfinitePast() / InfiniteFuture() round-trip.
//
// Thread-safety: all methods may be called concurrently.
#ifndef CERTBRIDGE_BROKER_STORE_STORE_H_
#define CERTBRIDGE_BROKER_STORE_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace certbridge::broker {

struct Tenant {
  std::string tenant_id;
  std::string display_name;
  absl::Time create_time;
};

struct ApiKeyRecord {
  std::string key_id;
  std::string tenant_id;
  std::string display_name;
  std::vector<std::string> scopes;  // sorted
  std::string secret_hash;          // SHA-256 hex of the secret part
  absl::Time create_time;
  std::optional<absl::Time> expire_time = std::nullopt;    // none: never expires
  std::optional<absl::Time> revoke_time = std::nullopt;    // set once, by RevokeApiKey
  std::optional<absl::Time> last_use_time = std::nullopt;  // coarse: see RecordApiKeyUse
};

struct EnrollmentTokenRecord {
  std::string token_hash;  // SHA-256 hex; the token itself is never stored
  std::string tenant_id;
  std::string description;
  std::string created_by;
  absl::Time create_time;
  absl::Time expire_time;
};

enum class ConnectorState { kPending, kActive, kDisabled, kRejected };

struct ConnectorRecord {
  std::string connector_id;
  std::string tenant_id;
  ConnectorState state = ConnectorState::kPending;
  std::string host;
  std::string os;
  std::string agent_version;
  std::string ca_identity;
  std::string csr_pem;               // the registration CSR, kept until approval
  std::string registration_code_hash;  // SHA-256 hex; cleared on approval/rejection
  absl::Time registration_code_expire_time;
  std::string poll_secret_hash;      // SHA-256 hex
  std::string certificate_chain_pem;  // set on approval and on each renewal
  std::string certificate_serial;
  absl::Time certificate_expire_time = absl::InfinitePast();
  absl::Time create_time;
  absl::Time approve_time = absl::InfinitePast();
  std::vector<std::string> ca_ids;   // assigned CAs, sorted
  // Reported, not stored state. last_seen_time: the newest heartbeat known, from the
  // current session row (even a stale one) or the last deleted session; nullopt if the
  // agent never connected. connected: a session exists whose heartbeat is newer than
  // `live_after`.
  std::optional<absl::Time> last_seen_time;
  bool connected = false;
};

struct CertificateAuthorityRecord {
  std::string ca_id;
  std::string tenant_id;
  std::string host;
  std::string ca_name;
  std::string display_name;
  std::vector<std::string> connector_ids;  // assigned connectors, sorted
  absl::Time create_time;
};

struct AuditEventRecord {
  int64_t event_id = 0;  // assigned by the store, increasing
  std::string tenant_id;  // empty for operator-level events
  absl::Time time;
  std::string actor;
  std::string action;
  std::string object_id;
  std::string details;
};

// What a stream session is: one agent connected to one broker replica.
struct SessionRecord {
  std::string connector_id;
  std::string tenant_id;
  std::string replica_id;
  absl::Time connect_time;
  absl::Time heartbeat_time;
};

class Store {
 public:
  virtual ~Store() = default;

  // Tenants (operator level).
  virtual absl::Status CreateTenant(const Tenant& tenant) = 0;
  virtual absl::StatusOr<std::vector<Tenant>> ListTenants() = 0;
  virtual absl::StatusOr<Tenant> GetTenant(const std::string& tenant_id) = 0;

  // API keys. LookupApiKey is by key id alone (the key names its tenant).
  virtual absl::Status CreateApiKey(const ApiKeyRecord& key) = 0;
  virtual absl::StatusOr<ApiKeyRecord> LookupApiKey(const std::string& key_id) = 0;
  virtual absl::StatusOr<std::vector<ApiKeyRecord>> ListApiKeys(const std::string& tenant_id) = 0;
  // Sets revoke_time unless already revoked (the first revocation's time stays) and returns
  // the key as stored. NOT_FOUND when the tenant has no such key.
  virtual absl::StatusOr<ApiKeyRecord> RevokeApiKey(const std::string& tenant_id,
                                                    const std::string& key_id,
                                                    absl::Time revoke_time) = 0;
  // Moves last_use_time forward to `use_time` when it is older than `use_time - granularity`
  // (or unset): a key used many times a second costs one write per granularity. A missing
  // key is not an error (it may have been deleted with its tenant).
  virtual absl::Status RecordApiKeyUse(const std::string& key_id, absl::Time use_time,
                                       absl::Duration granularity) = 0;

  // Enrollment tokens.
  virtual absl::Status CreateEnrollmentToken(const EnrollmentTokenRecord& token) = 0;

  // In one transaction: consumes the enrollment token with `token_hash` (it must exist,
  // be unused and unexpired at `now`) and inserts `connector` (state PENDING) into the
  // token's tenant; connector.tenant_id is ignored and the token's tenant is returned.
  // Errors: NOT_FOUND unknown token; FAILED_PRECONDITION "already used" or "expired".
  virtual absl::StatusOr<std::string> RegisterConnector(const std::string& token_hash,
                                                        absl::Time now,
                                                        const ConnectorRecord& connector) = 0;

  // Connectors. GetConnector* fill ca_ids, last_seen_time and connected (a session whose
  // heartbeat is newer than `live_after`).
  virtual absl::StatusOr<ConnectorRecord> GetConnector(const std::string& tenant_id,
                                                       const std::string& connector_id,
                                                       absl::Time live_after) = 0;
  // By id alone: for the agent port, where the certificate or poll secret proves the
  // tenant. Callers must check what the record proves before using it.
  virtual absl::StatusOr<ConnectorRecord> GetConnectorById(const std::string& connector_id,
                                                           absl::Time live_after) = 0;
  virtual absl::StatusOr<std::vector<ConnectorRecord>> ListConnectors(
      const std::string& tenant_id, absl::Time live_after) = 0;
  // The PENDING connector of this tenant with this registration code hash (the oldest,
  // should two share one). NOT_FOUND if none (including another tenant's code). The
  // caller checks registration_code_expire_time. `connected` is always false here.
  virtual absl::StatusOr<ConnectorRecord> FindConnectorByRegistrationCode(
      const std::string& tenant_id, const std::string& code_hash) = 0;
  // PENDING → ACTIVE with the signed chain; clears the registration code and CSR.
  // FAILED_PRECONDITION if not PENDING.
  virtual absl::Status ApproveConnector(const std::string& tenant_id,
                                        const std::string& connector_id, absl::Time approve_time,
                                        const std::string& certificate_chain_pem,
                                        const std::string& certificate_serial,
                                        absl::Time certificate_expire_time) = 0;
  // Moves the connector to `to` if its current state is one of `from`.
  // FAILED_PRECONDITION (naming the current state) otherwise. Leaving PENDING clears the
  // registration code and CSR.
  virtual absl::Status TransitionConnector(const std::string& tenant_id,
                                           const std::string& connector_id,
                                           const std::vector<ConnectorState>& from,
                                           ConnectorState to) = 0;
  // Records a renewed agent certificate. FAILED_PRECONDITION unless ACTIVE.
  virtual absl::Status UpdateConnectorCertificate(const std::string& tenant_id,
                                                  const std::string& connector_id,
                                                  const std::string& certificate_chain_pem,
                                                  const std::string& certificate_serial,
                                                  absl::Time certificate_expire_time) = 0;
  // Records what the agent reported in Hello.
  virtual absl::Status UpdateConnectorAgentInfo(const std::string& tenant_id,
                                                const std::string& connector_id,
                                                const std::string& host, const std::string& os,
                                                const std::string& agent_version,
                                                const std::string& ca_identity) = 0;
  // Deletes the connector with its assignments and sessions.
  virtual absl::Status DeleteConnector(const std::string& tenant_id,
                                       const std::string& connector_id) = 0;

  // Certificate authorities. (host, ca_name) is unique per tenant, case-insensitively.
  virtual absl::Status CreateCertificateAuthority(const CertificateAuthorityRecord& ca) = 0;
  virtual absl::StatusOr<CertificateAuthorityRecord> GetCertificateAuthority(
      const std::string& tenant_id, const std::string& ca_id) = 0;
  virtual absl::StatusOr<std::vector<CertificateAuthorityRecord>> ListCertificateAuthorities(
      const std::string& tenant_id) = 0;
  // Deletes the CA and its assignments.
  virtual absl::Status DeleteCertificateAuthority(const std::string& tenant_id,
                                                  const std::string& ca_id) = 0;
  // Idempotent. NOT_FOUND if either object is missing in this tenant.
  virtual absl::Status AssignCertificateAuthority(const std::string& tenant_id,
                                                  const std::string& ca_id,
                                                  const std::string& connector_id) = 0;
  // NOT_FOUND if either object or the assignment is missing.
  virtual absl::Status UnassignCertificateAuthority(const std::string& tenant_id,
                                                    const std::string& ca_id,
                                                    const std::string& connector_id) = 0;

  // Sessions: one per connector, owned by one stream, which (replica_id, connect_time)
  // names. UpsertSession, on Hello, takes the session over: the newest stream wins.
  // NOT_FOUND if the connector is not in session.tenant_id.
  virtual absl::Status UpsertSession(const SessionRecord& session) = 0;
  // On each heartbeat: moves heartbeat_time of the stream's own session. ABORTED when
  // another stream has taken the session over since (that stream's agent is the one that
  // counts; this stream should end). A session that is gone is created again. NOT_FOUND as
  // UpsertSession.
  virtual absl::Status RefreshSession(const SessionRecord& session) = 0;
  // Deletes the session only if it is still this stream's (a newer stream, on this replica
  // or another, may have taken over). OK when there is nothing to delete. Keeps the
  // session's heartbeat as the connector's last_seen_time.
  virtual absl::Status DeleteSession(const std::string& connector_id,
                                     const std::string& replica_id,
                                     absl::Time connect_time) = 0;

  // Audit events. event_id and time in `event` are ignored/assigned by the store except
  // time, which the caller sets.
  virtual absl::Status AppendAuditEvent(const AuditEventRecord& event) = 0;
  // Newest first; events with event_id < before_event_id when it is > 0; at most `limit`
  // (> 0, else INVALID_ARGUMENT). tenant_id "" lists operator-level events.
  virtual absl::StatusOr<std::vector<AuditEventRecord>> ListAuditEvents(
      const std::string& tenant_id, int64_t before_event_id, int limit) = 0;
};

absl::string_view ConnectorStateName(ConnectorState state);  // "PENDING", ...
// The inverse of ConnectorStateName; nullopt for an unknown name.
std::optional<ConnectorState> ConnectorStateFromName(absl::string_view name);

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_STORE_H_
