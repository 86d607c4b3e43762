#include "broker/store/postgres/postgres_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "broker/store/postgres/pg_connection.h"
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

// ---- Statements. Every query names its tenant; ORDER BY ... COLLATE "C" is byte order,
// the order FakeStore's std::map keeps.

constexpr Statement kInsertTenant = {
    "insert_tenant",
    "INSERT INTO tenant (tenant_id, display_name, create_time) VALUES ($1, $2, $3)"};
#define CB_TENANT_SELECT \
  "SELECT tenant_id, display_name, extract(epoch from create_time) FROM tenant "
constexpr Statement kListTenants = {"list_tenants",
                                    CB_TENANT_SELECT "ORDER BY tenant_id COLLATE \"C\""};
constexpr Statement kGetTenant = {"get_tenant", CB_TENANT_SELECT "WHERE tenant_id = $1"};

constexpr Statement kInsertApiKey = {
    "insert_api_key",
    "INSERT INTO api_key (key_id, tenant_id, display_name, scopes, secret_hash, create_time, "
    "expire_time) VALUES ($1, $2, $3, string_to_array($4, ' '), $5, $6, $7)"};
#define CB_API_KEY_COLUMNS                                                                   \
  "key_id, tenant_id, display_name, array_to_string(scopes, ' '), secret_hash, "             \
  "extract(epoch from create_time), extract(epoch from expire_time), "                       \
  "extract(epoch from revoke_time), extract(epoch from last_use_time) "
#define CB_API_KEY_SELECT "SELECT " CB_API_KEY_COLUMNS "FROM api_key "
// coalesce keeps the first revocation's time when a key is revoked twice.
constexpr Statement kRevokeApiKey = {
    "revoke_api_key",
    "UPDATE api_key SET revoke_time = coalesce(revoke_time, $3) "
    "WHERE tenant_id = $1 AND key_id = $2 RETURNING " CB_API_KEY_COLUMNS};
// $3 is the granularity in seconds: a key in constant use costs one write per granularity.
constexpr Statement kRecordApiKeyUse = {
    "record_api_key_use",
    "UPDATE api_key SET last_use_time = $2 WHERE key_id = $1 AND "
    "(last_use_time IS NULL OR last_use_time < $2::timestamptz - make_interval(secs => $3))"};
constexpr Statement kLookupApiKey = {"lookup_api_key", CB_API_KEY_SELECT "WHERE key_id = $1"};
constexpr Statement kListApiKeys = {
    "list_api_keys", CB_API_KEY_SELECT "WHERE tenant_id = $1 ORDER BY key_id COLLATE \"C\""};

constexpr Statement kInsertToken = {
    "insert_enrollment_token",
    "INSERT INTO enrollment_token (token_hash, tenant_id, description, created_by, "
    "create_time, expire_time) VALUES ($1, $2, $3, $4, $5, $6)"};
// Locks the token row: of two registrations with one token, the second waits here and
// then sees it used.
constexpr Statement kLockToken = {
    "lock_enrollment_token",
    "SELECT tenant_id, use_time IS NOT NULL, expire_time <= $2::timestamptz "
    "FROM enrollment_token WHERE token_hash = $1 FOR UPDATE"};
constexpr Statement kUseToken = {
    "use_enrollment_token",
    "UPDATE enrollment_token SET use_time = $2, used_by_connector_id = $3 "
    "WHERE token_hash = $1"};
constexpr Statement kInsertConnector = {
    "insert_connector",
    "INSERT INTO connector (connector_id, tenant_id, state, host, os, agent_version, "
    "ca_identity, csr_pem, registration_code_hash, registration_code_expire_time, "
    "poll_secret_hash, certificate_chain_pem, certificate_serial, certificate_expire_time, "
    "create_time, approve_time) VALUES ($1, $2, 'PENDING', $3, $4, $5, $6, $7, "
    "NULLIF($8, ''), $9, $10, $11, $12, $13, $14, $15)"};

// $1 is always live_after.
#define CB_CONNECTOR_SELECT                                                                  \
  "SELECT c.connector_id, c.tenant_id, c.state, c.host, c.os, c.agent_version, "             \
  "c.ca_identity, c.csr_pem, coalesce(c.registration_code_hash, ''), "                      \
  "extract(epoch from c.registration_code_expire_time), c.poll_secret_hash, "               \
  "c.certificate_chain_pem, c.certificate_serial, "                                          \
  "extract(epoch from c.certificate_expire_time), extract(epoch from c.create_time), "      \
  "extract(epoch from c.approve_time), "                                                     \
  "extract(epoch from greatest(c.last_seen_time, s.heartbeat_time)), "                      \
  "coalesce(s.heartbeat_time > $1::timestamptz, false), "                                    \
  "(SELECT string_agg(a.ca_id, E'\\x1f') FROM ca_assignment a "                             \
  " WHERE a.connector_id = c.connector_id) "                                                 \
  "FROM connector c LEFT JOIN connector_session s ON s.connector_id = c.connector_id "
constexpr Statement kGetConnector = {
    "get_connector", CB_CONNECTOR_SELECT "WHERE c.tenant_id = $2 AND c.connector_id = $3"};
constexpr Statement kGetConnectorById = {"get_connector_by_id",
                                         CB_CONNECTOR_SELECT "WHERE c.connector_id = $2"};
constexpr Statement kListConnectors = {
    "list_connectors",
    CB_CONNECTOR_SELECT "WHERE c.tenant_id = $2 ORDER BY c.connector_id COLLATE \"C\""};
constexpr Statement kFindByCode = {
    "find_connector_by_code",
    CB_CONNECTOR_SELECT
    "WHERE c.tenant_id = $2 AND c.registration_code_hash = $3 AND c.state = 'PENDING' "
    "ORDER BY c.create_time, c.connector_id COLLATE \"C\" LIMIT 1"};
constexpr Statement kConnectorState = {
    "connector_state", "SELECT state FROM connector WHERE tenant_id = $1 AND connector_id = $2"};
constexpr Statement kApprove = {
    "approve_connector",
    "UPDATE connector SET state = 'ACTIVE', approve_time = $3, certificate_chain_pem = $4, "
    "certificate_serial = $5, certificate_expire_time = $6, registration_code_hash = NULL, "
    "csr_pem = '' WHERE tenant_id = $1 AND connector_id = $2 AND state = 'PENDING'"};
constexpr Statement kTransition = {
    "transition_connector",
    "UPDATE connector SET state = $3::text, "
    "registration_code_hash = CASE WHEN $3::text = 'PENDING' THEN registration_code_hash END, "
    "csr_pem = CASE WHEN $3::text = 'PENDING' THEN csr_pem ELSE '' END "
    "WHERE tenant_id = $1 AND connector_id = $2 AND state = ANY (string_to_array($4, ','))"};
constexpr Statement kUpdateCertificate = {
    "update_connector_certificate",
    "UPDATE connector SET certificate_chain_pem = $3, certificate_serial = $4, "
    "certificate_expire_time = $5 "
    "WHERE tenant_id = $1 AND connector_id = $2 AND state = 'ACTIVE'"};
constexpr Statement kUpdateAgentInfo = {
    "update_connector_agent_info",
    "UPDATE connector SET host = $3, os = $4, agent_version = $5, ca_identity = $6 "
    "WHERE tenant_id = $1 AND connector_id = $2"};
constexpr Statement kDeleteConnector = {
    "delete_connector", "DELETE FROM connector WHERE tenant_id = $1 AND connector_id = $2"};

// Wakes the replica that holds the connector's stream; the payload is a "C" record of
// notify_payload.h.
constexpr Statement kNotifyConnectorChanged = {
    "notify_connector_changed",
    "SELECT pg_notify('certbridge_events', 'C' || chr(31) || $1 || chr(31) || $2)"};

// Tells every replica's CertificateAuthorityCache (notify_payload.h, "A" records).
constexpr Statement kNotifyCaChanged = {
    "notify_certificate_authority_changed",
    "SELECT pg_notify('certbridge_events', 'A' || chr(31) || $1 || chr(31) || $2)"};

constexpr Statement kInsertCa = {
    "insert_certificate_authority",
    "INSERT INTO certificate_authority (ca_id, tenant_id, host, ca_name, display_name, "
    "create_time) VALUES ($1, $2, $3, $4, $5, $6)"};
#define CB_CA_SELECT                                                                         \
  "SELECT ca.ca_id, ca.tenant_id, ca.host, ca.ca_name, ca.display_name, "                   \
  "extract(epoch from ca.create_time), "                                                     \
  "(SELECT string_agg(a.connector_id, E'\\x1f') FROM ca_assignment a "                      \
  " WHERE a.ca_id = ca.ca_id) FROM certificate_authority ca "
constexpr Statement kGetCa = {"get_certificate_authority",
                              CB_CA_SELECT "WHERE ca.tenant_id = $1 AND ca.ca_id = $2"};
constexpr Statement kListCas = {
    "list_certificate_authorities",
    CB_CA_SELECT "WHERE ca.tenant_id = $1 ORDER BY ca.ca_id COLLATE \"C\""};
constexpr Statement kDeleteCa = {
    "delete_certificate_authority",
    "DELETE FROM certificate_authority WHERE tenant_id = $1 AND ca_id = $2"};
constexpr Statement kAssign = {
    "assign_certificate_authority",
    "INSERT INTO ca_assignment (tenant_id, ca_id, connector_id) VALUES ($1, $2, $3) "
    "ON CONFLICT DO NOTHING"};
constexpr Statement kUnassign = {
    "unassign_certificate_authority",
    "DELETE FROM ca_assignment WHERE tenant_id = $1 AND ca_id = $2 AND connector_id = $3"};
constexpr Statement kCaExists = {
    "certificate_authority_exists",
    "SELECT 1 FROM certificate_authority WHERE tenant_id = $1 AND ca_id = $2"};
constexpr Statement kConnectorExists = {
    "connector_exists", "SELECT 1 FROM connector WHERE tenant_id = $1 AND connector_id = $2"};

constexpr Statement kUpsertSession = {
    "upsert_session",
    "INSERT INTO connector_session (connector_id, tenant_id, replica_id, connect_time, "
    "heartbeat_time) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (connector_id) DO UPDATE SET "
    "tenant_id = EXCLUDED.tenant_id, replica_id = EXCLUDED.replica_id, "
    "connect_time = EXCLUDED.connect_time, heartbeat_time = EXCLUDED.heartbeat_time"};
// The stream's own session gets the heartbeat; a missing one is created again; a session
// of another stream is left alone and counts as 0 rows.
constexpr Statement kRefreshSession = {
    "refresh_session",
    "WITH beat AS (UPDATE connector_session SET heartbeat_time = $5 WHERE connector_id = $1 "
    "AND tenant_id = $2 AND replica_id = $3 AND connect_time = $4 RETURNING 1), "
    "revived AS (INSERT INTO connector_session (connector_id, tenant_id, replica_id, "
    "connect_time, heartbeat_time) SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM "
    "beat) ON CONFLICT (connector_id) DO NOTHING RETURNING 1) "
    "SELECT (SELECT count(*) FROM beat) + (SELECT count(*) FROM revived)"};
// The last heartbeat outlives the session as the connector's last_seen_time.
constexpr Statement kDeleteSession = {
    "delete_session",
    "WITH gone AS (DELETE FROM connector_session WHERE connector_id = $1 AND replica_id = $2 "
    "AND connect_time = $3 "
    "RETURNING connector_id, heartbeat_time) "
    "UPDATE connector c SET last_seen_time = greatest(c.last_seen_time, gone.heartbeat_time) "
    "FROM gone WHERE c.connector_id = gone.connector_id"};

constexpr Statement kInsertAudit = {
    "insert_audit_event",
    "INSERT INTO audit_event (tenant_id, time, actor, action, object_id, details) "
    "VALUES ($1, $2, $3, $4, $5, $6)"};
constexpr Statement kListAudit = {
    "list_audit_events",
    "SELECT event_id, tenant_id, extract(epoch from time), actor, action, object_id, details "
    "FROM audit_event WHERE tenant_id = $1 AND ($2::bigint <= 0 OR event_id < $2::bigint) "
    "ORDER BY event_id DESC LIMIT $3::int"};

// ---- Row mappers: one per record type.

std::vector<std::string> SplitIds(const std::string& joined) {
  std::vector<std::string> ids = absl::StrSplit(joined, '\x1f', absl::SkipEmpty());
  std::sort(ids.begin(), ids.end());
  return ids;
}

absl::StatusOr<Tenant> TenantFromRow(const Rows& rows, int r) {
  Tenant t;
  t.tenant_id = rows.Text(r, 0);
  t.display_name = rows.Text(r, 1);
  ASSIGN_OR_RETURN(t.create_time, rows.Time(r, 2));
  return t;
}

absl::StatusOr<ApiKeyRecord> ApiKeyFromRow(const Rows& rows, int r) {
  ApiKeyRecord k;
  k.key_id = rows.Text(r, 0);
  k.tenant_id = rows.Text(r, 1);
  k.display_name = rows.Text(r, 2);
  k.scopes = NormalizeScopes(absl::StrSplit(rows.Text(r, 3), ' ', absl::SkipEmpty()));
  k.secret_hash = rows.Text(r, 4);
  ASSIGN_OR_RETURN(k.create_time, rows.Time(r, 5));
  ASSIGN_OR_RETURN(k.expire_time, rows.OptionalTime(r, 6));
  ASSIGN_OR_RETURN(k.revoke_time, rows.OptionalTime(r, 7));
  ASSIGN_OR_RETURN(k.last_use_time, rows.OptionalTime(r, 8));
  return k;
}

absl::StatusOr<ConnectorRecord> ConnectorFromRow(const Rows& rows, int r) {
  ConnectorRecord c;
  c.connector_id = rows.Text(r, 0);
  c.tenant_id = rows.Text(r, 1);
  std::optional<ConnectorState> state = ConnectorStateFromName(rows.Text(r, 2));
  if (!state.has_value()) {
    return absl::InternalError(absl::StrCat("connector \"", c.connector_id,
                                            "\": unknown state in the database"));
  }
  c.state = *state;
  c.host = rows.Text(r, 3);
  c.os = rows.Text(r, 4);
  c.agent_version = rows.Text(r, 5);
  c.ca_identity = rows.Text(r, 6);
  c.csr_pem = rows.Text(r, 7);
  c.registration_code_hash = rows.Text(r, 8);
  ASSIGN_OR_RETURN(c.registration_code_expire_time, rows.Time(r, 9));
  c.poll_secret_hash = rows.Text(r, 10);
  c.certificate_chain_pem = rows.Text(r, 11);
  c.certificate_serial = rows.Text(r, 12);
  ASSIGN_OR_RETURN(c.certificate_expire_time, rows.Time(r, 13));
  ASSIGN_OR_RETURN(c.create_time, rows.Time(r, 14));
  ASSIGN_OR_RETURN(c.approve_time, rows.Time(r, 15));
  ASSIGN_OR_RETURN(c.last_seen_time, rows.OptionalTime(r, 16));
  ASSIGN_OR_RETURN(c.connected, rows.Bool(r, 17));
  c.ca_ids = SplitIds(rows.Text(r, 18));
  return c;
}

absl::StatusOr<CertificateAuthorityRecord> CaFromRow(const Rows& rows, int r) {
  CertificateAuthorityRecord ca;
  ca.ca_id = rows.Text(r, 0);
  ca.tenant_id = rows.Text(r, 1);
  ca.host = rows.Text(r, 2);
  ca.ca_name = rows.Text(r, 3);
  ca.display_name = rows.Text(r, 4);
  ASSIGN_OR_RETURN(ca.create_time, rows.Time(r, 5));
  ca.connector_ids = SplitIds(rows.Text(r, 6));
  return ca;
}

absl::StatusOr<AuditEventRecord> AuditEventFromRow(const Rows& rows, int r) {
  AuditEventRecord e;
  ASSIGN_OR_RETURN(e.event_id, rows.Int(r, 0));
  e.tenant_id = rows.Text(r, 1);
  ASSIGN_OR_RETURN(e.time, rows.Time(r, 2));
  e.actor = rows.Text(r, 3);
  e.action = rows.Text(r, 4);
  e.object_id = rows.Text(r, 5);
  e.details = rows.Text(r, 6);
  return e;
}

// ---- Errors with the object's name.

// A foreign key on tenant_id failed: the tenant is missing. Other codes pass through.
absl::Status MissingTenantIfNotFound(absl::Status status, const std::string& tenant_id) {
  return absl::IsNotFound(status) ? TenantNotFound(tenant_id) : status;
}

}  // namespace

// ---- Pool.

PostgresStore::PostgresStore(const PostgresStoreOptions& options)
    : options_(options),
      ca_cache_(options.clock != nullptr ? options.clock : &real_clock_, options.ca_cache_ttl),
      notifications_(std::make_unique<ChangeNotificationListener>(NotificationHooks(),
                                                                  options.connect_timeout)) {
  absl::MutexLock lock(&mu_);
  idle_.resize(options.pool_size);
}

PostgresStore::~PostgresStore() { notifications_.reset(); }

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Create(
    const PostgresStoreOptions& options) {
  if (options.dsn.empty()) return absl::InvalidArgumentError("PostgreSQL store: dsn is empty");
  if (options.pool_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("PostgreSQL store: pool_size must be at least 1, got ", options.pool_size));
  }
  std::unique_ptr<PostgresStore> store(new PostgresStore(options));
  // Fail fast on a wrong DSN or an unreachable server.
  ASSIGN_OR_RETURN(Lease lease, store->Acquire());
  return store;
}

absl::StatusOr<PostgresStore::Lease> PostgresStore::Acquire() {
  std::unique_ptr<pg::Connection> conn;
  {
    absl::MutexLock lock(&mu_);
    auto has_idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !idle_.empty(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&has_idle), options_.acquire_timeout)) {
      return absl::UnavailableError(
          absl::StrCat("PostgreSQL store: all ", options_.pool_size,
                       " connections busy for ", absl::FormatDuration(options_.acquire_timeout),
                       "; retry, or raise pool_size"));
    }
    conn = std::move(idle_.back());
    idle_.pop_back();
  }
  // A connection the server ended while it sat in the pool (a restart, a failover) is
  // replaced here, instead of failing the caller's first query.
  if (conn == nullptr || !conn->StillOpenWhileIdle()) {
    conn.reset();
    absl::StatusOr<std::unique_ptr<pg::Connection>> opened =
        pg::Connection::Open(options_.dsn, options_.connect_timeout);
    if (!opened.ok()) {
      Release(nullptr);  // give the slot back
      return opened.status();
    }
    conn = std::move(opened).value();
  }
  return Lease(this, std::move(conn));
}

void PostgresStore::Release(std::unique_ptr<pg::Connection> conn) {
  // A connection left inside a transaction (a failed ROLLBACK) or broken is not reused.
  if (conn != nullptr && (!conn->healthy() || conn->in_transaction())) conn.reset();
  absl::MutexLock lock(&mu_);
  idle_.push_back(std::move(conn));
}

absl::Status PostgresStore::ExplainNoUpdate(pg::Connection& conn, const std::string& tenant_id,
                                            const std::string& connector_id,
                                            absl::string_view operation) {
  ASSIGN_OR_RETURN(Rows rows, conn.Exec(kConnectorState, {tenant_id, connector_id}));
  if (rows.size() == 0) return ConnectorNotFound(connector_id);
  return ConnectorInState(connector_id, operation, rows.Text(0, 0));
}

// ---- Tenants.

absl::Status PostgresStore::CreateTenant(const Tenant& tenant) {
  RETURN_IF_ERROR(ValidateTenant(tenant));
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  absl::Status status =
      conn->Exec(kInsertTenant, {tenant.tenant_id, tenant.display_name,
                                 TimeParam(tenant.create_time)})
          .status();
  if (absl::IsAlreadyExists(status)) {
    return TenantAlreadyExists(tenant.tenant_id);
  }
  return status;
}

absl::StatusOr<std::vector<Tenant>> PostgresStore::ListTenants() {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kListTenants, {}));
  return AllRows<Tenant>(rows, TenantFromRow);
}

absl::StatusOr<Tenant> PostgresStore::GetTenant(const std::string& tenant_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kGetTenant, {tenant_id}));
  if (rows.size() == 0) return TenantNotFound(tenant_id);
  return TenantFromRow(rows, 0);
}

// ---- API keys.

absl::Status PostgresStore::CreateApiKey(const ApiKeyRecord& key) {
  RETURN_IF_ERROR(ValidateApiKey(key));
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  absl::Status status =
      conn->Exec(kInsertApiKey,
                 {key.key_id, key.tenant_id, key.display_name,
                  absl::StrJoin(NormalizeScopes(key.scopes), " "), key.secret_hash,
                  TimeParam(key.create_time),
                  key.expire_time.has_value() ? Param(TimeParam(*key.expire_time)) : Param()})
          .status();
  if (absl::IsAlreadyExists(status)) {
    return ApiKeyAlreadyExists(key.key_id);
  }
  return MissingTenantIfNotFound(status, key.tenant_id);
}

absl::StatusOr<ApiKeyRecord> PostgresStore::LookupApiKey(const std::string& key_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kLookupApiKey, {key_id}));
  if (rows.size() == 0) {
    return ApiKeyNotFound(key_id);
  }
  return ApiKeyFromRow(rows, 0);
}

absl::StatusOr<std::vector<ApiKeyRecord>> PostgresStore::ListApiKeys(
    const std::string& tenant_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kListApiKeys, {tenant_id}));
  return AllRows<ApiKeyRecord>(rows, ApiKeyFromRow);
}

absl::StatusOr<ApiKeyRecord> PostgresStore::RevokeApiKey(const std::string& tenant_id,
                                                         const std::string& key_id,
                                                         absl::Time revoke_time) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows,
                   conn->Exec(kRevokeApiKey, {tenant_id, key_id, TimeParam(revoke_time)}));
  if (rows.size() == 0) {
    return ApiKeyNotFound(key_id);
  }
  return ApiKeyFromRow(rows, 0);
}

absl::Status PostgresStore::RecordApiKeyUse(const std::string& key_id, absl::Time use_time,
                                            absl::Duration granularity) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  return conn->Exec(kRecordApiKeyUse, {key_id, TimeParam(use_time),
                                       absl::StrCat(absl::ToDoubleSeconds(granularity))})
      .status();
}

// ---- Enrollment and registration.

absl::Status PostgresStore::CreateEnrollmentToken(const EnrollmentTokenRecord& token) {
  RETURN_IF_ERROR(ValidateEnrollmentToken(token));
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  absl::Status status =
      conn->Exec(kInsertToken, {token.token_hash, token.tenant_id, token.description,
                                token.created_by, TimeParam(token.create_time),
                                TimeParam(token.expire_time)})
          .status();
  if (absl::IsAlreadyExists(status)) {
    return EnrollmentTokenAlreadyExists();
  }
  return MissingTenantIfNotFound(status, token.tenant_id);
}

absl::StatusOr<std::string> PostgresStore::RegisterConnector(const std::string& token_hash,
                                                             absl::Time now,
                                                             const ConnectorRecord& connector) {
  RETURN_IF_ERROR(ValidateNewConnector(connector));
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  std::string tenant_id;
  RETURN_IF_ERROR(pg::InTransaction(*conn, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(Rows token, conn->Exec(kLockToken, {token_hash, TimeParam(now)}));
    if (token.size() == 0) return EnrollmentTokenNotFound();
    ASSIGN_OR_RETURN(bool used, token.Bool(0, 1));
    if (used) return EnrollmentTokenUsed();
    ASSIGN_OR_RETURN(bool expired, token.Bool(0, 2));
    if (expired) return EnrollmentTokenExpired();
    tenant_id = token.Text(0, 0);
    RETURN_IF_ERROR(
        conn->Exec(kUseToken, {token_hash, TimeParam(now), connector.connector_id}).status());
    absl::Status inserted =
        conn->Exec(kInsertConnector,
                   {connector.connector_id, tenant_id, connector.host, connector.os,
                    connector.agent_version, connector.ca_identity, connector.csr_pem,
                    connector.registration_code_hash,
                    TimeParam(connector.registration_code_expire_time),
                    connector.poll_secret_hash, connector.certificate_chain_pem,
                    connector.certificate_serial, TimeParam(connector.certificate_expire_time),
                    TimeParam(connector.create_time), TimeParam(connector.approve_time)})
            .status();
    if (absl::IsAlreadyExists(inserted)) {
      return ConnectorAlreadyExists(connector.connector_id);
    }
    return inserted;
  }));
  return tenant_id;
}

// ---- Connectors.

absl::StatusOr<ConnectorRecord> PostgresStore::GetConnector(const std::string& tenant_id,
                                                            const std::string& connector_id,
                                                            absl::Time live_after) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows,
                   conn->Exec(kGetConnector, {TimeParam(live_after), tenant_id, connector_id}));
  if (rows.size() == 0) return ConnectorNotFound(connector_id);
  return ConnectorFromRow(rows, 0);
}

absl::StatusOr<ConnectorRecord> PostgresStore::GetConnectorById(const std::string& connector_id,
                                                                absl::Time live_after) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kGetConnectorById, {TimeParam(live_after), connector_id}));
  if (rows.size() == 0) return ConnectorNotFound(connector_id);
  return ConnectorFromRow(rows, 0);
}

absl::StatusOr<std::vector<ConnectorRecord>> PostgresStore::ListConnectors(
    const std::string& tenant_id, absl::Time live_after) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kListConnectors, {TimeParam(live_after), tenant_id}));
  return AllRows<ConnectorRecord>(rows, ConnectorFromRow);
}

absl::StatusOr<ConnectorRecord> PostgresStore::FindConnectorByRegistrationCode(
    const std::string& tenant_id, const std::string& code_hash) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kFindByCode, {TimeParam(absl::InfiniteFuture()),
                                                       tenant_id, code_hash}));
  if (rows.size() == 0) {
    return RegistrationCodeNotFound();
  }
  return ConnectorFromRow(rows, 0);
}

// Best effort: the change has committed; a lost wake-up only delays the stream's re-check.
void NotifyConnectorChanged(pg::Connection& conn, const std::string& tenant_id,
                            const std::string& connector_id) {
  conn.Exec(kNotifyConnectorChanged, {tenant_id, connector_id}).status().IgnoreError();
}

// Best effort too: another replica's cached record then lives out its ca_cache_ttl.
void NotifyCaChanged(pg::Connection& conn, const std::string& tenant_id,
                     const std::string& ca_id) {
  conn.Exec(kNotifyCaChanged, {tenant_id, ca_id}).status().IgnoreError();
}

absl::Status PostgresStore::ApproveConnector(const std::string& tenant_id,
                                             const std::string& connector_id,
                                             absl::Time approve_time,
                                             const std::string& certificate_chain_pem,
                                             const std::string& certificate_serial,
                                             absl::Time certificate_expire_time) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows,
                   conn->Exec(kApprove, {tenant_id, connector_id, TimeParam(approve_time),
                                         certificate_chain_pem, certificate_serial,
                                         TimeParam(certificate_expire_time)}));
  if (rows.affected() == 1) {
    NotifyConnectorChanged(*conn, tenant_id, connector_id);
    return absl::OkStatus();
  }
  return ExplainNoUpdate(*conn, tenant_id, connector_id, "approve");
}

absl::Status PostgresStore::TransitionConnector(const std::string& tenant_id,
                                                const std::string& connector_id,
                                                const std::vector<ConnectorState>& from,
                                                ConnectorState to) {
  std::vector<absl::string_view> from_names;
  for (ConnectorState s : from) from_names.push_back(ConnectorStateName(s));
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kTransition, {tenant_id, connector_id,
                                                       std::string(ConnectorStateName(to)),
                                                       absl::StrJoin(from_names, ",")}));
  if (rows.affected() == 1) {
    NotifyConnectorChanged(*conn, tenant_id, connector_id);
    return absl::OkStatus();
  }
  return ExplainNoUpdate(*conn, tenant_id, connector_id,
                         absl::StrCat("move to ", ConnectorStateName(to)));
}

absl::Status PostgresStore::UpdateConnectorCertificate(const std::string& tenant_id,
                                                       const std::string& connector_id,
                                                       const std::string& certificate_chain_pem,
                                                       const std::string& certificate_serial,
                                                       absl::Time certificate_expire_time) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kUpdateCertificate,
                                         {tenant_id, connector_id, certificate_chain_pem,
                                          certificate_serial,
                                          TimeParam(certificate_expire_time)}));
  if (rows.affected() == 1) return absl::OkStatus();
  return ExplainNoUpdate(*conn, tenant_id, connector_id, "update certificate");
}

absl::Status PostgresStore::UpdateConnectorAgentInfo(const std::string& tenant_id,
                                                     const std::string& connector_id,
                                                     const std::string& host,
                                                     const std::string& os,
                                                     const std::string& agent_version,
                                                     const std::string& ca_identity) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kUpdateAgentInfo, {tenant_id, connector_id, host, os,
                                                            agent_version, ca_identity}));
  if (rows.affected() == 0) return ConnectorNotFound(connector_id);
  return absl::OkStatus();
}

absl::Status PostgresStore::DeleteConnector(const std::string& tenant_id,
                                            const std::string& connector_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kDeleteConnector, {tenant_id, connector_id}));
  ca_cache_.ForgetTenant(tenant_id);  // its assignments went with it
  if (rows.affected() == 0) return ConnectorNotFound(connector_id);
  NotifyConnectorChanged(*conn, tenant_id, connector_id);
  return absl::OkStatus();
}

// ---- Certificate authorities.

absl::Status PostgresStore::CreateCertificateAuthority(const CertificateAuthorityRecord& ca) {
  RETURN_IF_ERROR(ValidateCertificateAuthority(ca));
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  absl::Status status =
      conn->Exec(kInsertCa, {ca.ca_id, ca.tenant_id, ca.host, ca.ca_name, ca.display_name,
                             TimeParam(ca.create_time)})
          .status();
  if (status.ok()) {
    // A CA of the same id deleted and created again must not be answered from the cache.
    ca_cache_.Forget(ca.tenant_id, ca.ca_id);
    NotifyCaChanged(*conn, ca.tenant_id, ca.ca_id);
  }
  if (absl::IsAlreadyExists(status)) {
    if (pg::ConstraintName(status) == "certificate_authority_config") {
      return absl::AlreadyExistsError(absl::StrCat("certificate authority \"", ca.host, "\\",
                                                   ca.ca_name, "\" already exists"));
    }
    return CaAlreadyExists(ca.ca_id);
  }
  return MissingTenantIfNotFound(status, ca.tenant_id);
}

absl::StatusOr<CertificateAuthorityRecord> PostgresStore::GetCertificateAuthority(
    const std::string& tenant_id, const std::string& ca_id) {
  if (std::optional<CertificateAuthorityRecord> cached = ca_cache_.Find(tenant_id, ca_id)) {
    return *std::move(cached);
  }
  const uint64_t generation = ca_cache_.Generation();
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kGetCa, {tenant_id, ca_id}));
  if (rows.size() == 0) return CaNotFound(ca_id);
  ASSIGN_OR_RETURN(CertificateAuthorityRecord ca, CaFromRow(rows, 0));
  ca_cache_.Insert(generation, ca);
  return ca;
}

absl::StatusOr<std::vector<CertificateAuthorityRecord>>
PostgresStore::ListCertificateAuthorities(const std::string& tenant_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kListCas, {tenant_id}));
  return AllRows<CertificateAuthorityRecord>(rows, CaFromRow);
}

absl::Status PostgresStore::DeleteCertificateAuthority(const std::string& tenant_id,
                                                       const std::string& ca_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kDeleteCa, {tenant_id, ca_id}));
  ca_cache_.Forget(tenant_id, ca_id);
  if (rows.affected() == 0) return CaNotFound(ca_id);
  NotifyCaChanged(*conn, tenant_id, ca_id);
  return absl::OkStatus();
}

absl::Status PostgresStore::AssignCertificateAuthority(const std::string& tenant_id,
                                                       const std::string& ca_id,
                                                       const std::string& connector_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  absl::Status status = conn->Exec(kAssign, {tenant_id, ca_id, connector_id}).status();
  ca_cache_.Forget(tenant_id, ca_id);  // other replicas: the "C" notification below
  if (absl::IsNotFound(status)) {
    // The composite foreign keys say which side is missing in this tenant.
    if (pg::ConstraintName(status) == "ca_assignment_connector_fkey") {
      return ConnectorNotFound(connector_id);
    }
    return CaNotFound(ca_id);
  }
  if (status.ok()) NotifyConnectorChanged(*conn, tenant_id, connector_id);
  return status;
}

absl::Status PostgresStore::UnassignCertificateAuthority(const std::string& tenant_id,
                                                         const std::string& ca_id,
                                                         const std::string& connector_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kUnassign, {tenant_id, ca_id, connector_id}));
  ca_cache_.Forget(tenant_id, ca_id);  // other replicas: the "C" notification below
  if (rows.affected() == 1) {
    NotifyConnectorChanged(*conn, tenant_id, connector_id);
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(Rows ca, conn->Exec(kCaExists, {tenant_id, ca_id}));
  if (ca.size() == 0) return CaNotFound(ca_id);
  ASSIGN_OR_RETURN(Rows connector, conn->Exec(kConnectorExists, {tenant_id, connector_id}));
  if (connector.size() == 0) return ConnectorNotFound(connector_id);
  return CaNotAssigned(ca_id, connector_id);
}

// ---- Sessions.

absl::Status PostgresStore::UpsertSession(const SessionRecord& session) {
  RETURN_IF_ERROR(ValidateSession(session));
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  absl::Status status =
      conn->Exec(kUpsertSession, {session.connector_id, session.tenant_id, session.replica_id,
                                  TimeParam(session.connect_time),
                                  TimeParam(session.heartbeat_time)})
          .status();
  if (absl::IsNotFound(status)) return ConnectorNotFound(session.connector_id);
  return status;
}

absl::Status PostgresStore::RefreshSession(const SessionRecord& session) {
  RETURN_IF_ERROR(ValidateSession(session));
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  absl::StatusOr<Rows> rows =
      conn->Exec(kRefreshSession, {session.connector_id, session.tenant_id, session.replica_id,
                                   TimeParam(session.connect_time),
                                   TimeParam(session.heartbeat_time)});
  if (absl::IsNotFound(rows.status())) return ConnectorNotFound(session.connector_id);
  if (!rows.ok()) return rows.status();
  ASSIGN_OR_RETURN(int64_t refreshed, rows->Int(0, 0));
  if (refreshed == 0) {
    // Rare (a takeover): tell a connector of another tenant from a session of another stream.
    ASSIGN_OR_RETURN(Rows exists,
                     conn->Exec(kConnectorExists, {session.tenant_id, session.connector_id}));
    if (exists.size() == 0) return ConnectorNotFound(session.connector_id);
    return SessionTakenOver(session.connector_id);
  }
  return absl::OkStatus();
}

absl::Status PostgresStore::DeleteSession(const std::string& connector_id,
                                          const std::string& replica_id,
                                          absl::Time connect_time) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  return conn->Exec(kDeleteSession, {connector_id, replica_id, TimeParam(connect_time)}).status();
}

// ---- Audit.

absl::Status PostgresStore::AppendAuditEvent(const AuditEventRecord& event) {
  RETURN_IF_ERROR(ValidateAuditEvent(event));
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  return conn
      ->Exec(kInsertAudit, {event.tenant_id, TimeParam(event.time), event.actor, event.action,
                            event.object_id, event.details})
      .status();
}

absl::StatusOr<std::vector<AuditEventRecord>> PostgresStore::ListAuditEvents(
    const std::string& tenant_id, int64_t before_event_id, int limit) {
  RETURN_IF_ERROR(ValidateAuditLimit(limit));
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kListAudit, {tenant_id, absl::StrCat(before_event_id),
                                                      absl::StrCat(limit)}));
  return AllRows<AuditEventRecord>(rows, AuditEventFromRow);
}

}  // namespace certbridge::broker
