#include "broker/store/fake/fake_store.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/store/record_validation.h"
#include "common/status_macros.h"

namespace certbridge::broker {
namespace {

absl::Status WrongState(const std::string& connector_id, absl::string_view operation,
                        ConnectorState state) {
  return ConnectorInState(connector_id, operation, ConnectorStateName(state));
}

}  // namespace

void FakeStore::FailNextCalls(absl::Status status, int n) {
  absl::MutexLock lock(&mu_);
  fail_status_ = std::move(status);
  fail_count_ = n > 0 ? n : 0;
}

int64_t FakeStore::call_count() const {
  absl::MutexLock lock(&mu_);
  return call_count_;
}

absl::Status FakeStore::BeginCall() {
  ++call_count_;
  if (fail_count_ > 0) {
    --fail_count_;
    return fail_status_;
  }
  return absl::OkStatus();
}

bool FakeStore::TenantExists(const std::string& tenant_id) const {
  return tenants_.count(tenant_id) > 0;
}

ConnectorRecord* FakeStore::FindConnector(const std::string& tenant_id,
                                          const std::string& connector_id) {
  auto it = connectors_.find(connector_id);
  if (it == connectors_.end() || it->second.tenant_id != tenant_id) return nullptr;
  return &it->second;
}

CertificateAuthorityRecord* FakeStore::FindCa(const std::string& tenant_id,
                                              const std::string& ca_id) {
  auto it = cas_.find(ca_id);
  if (it == cas_.end() || it->second.tenant_id != tenant_id) return nullptr;
  return &it->second;
}

ConnectorRecord FakeStore::Report(const ConnectorRecord& stored, absl::Time live_after) const {
  ConnectorRecord r = stored;
  r.ca_ids.clear();
  for (const auto& [ca_id, connector_id] : assignments_) {
    if (connector_id == stored.connector_id) r.ca_ids.push_back(ca_id);
  }
  std::sort(r.ca_ids.begin(), r.ca_ids.end());
  r.connected = false;
  auto session = sessions_.find(stored.connector_id);
  if (session != sessions_.end()) {
    const absl::Time heartbeat = session->second.heartbeat_time;
    if (!r.last_seen_time.has_value() || *r.last_seen_time < heartbeat) {
      r.last_seen_time = heartbeat;
    }
    r.connected = heartbeat > live_after;
  }
  return r;
}

CertificateAuthorityRecord FakeStore::Report(const CertificateAuthorityRecord& stored) const {
  CertificateAuthorityRecord r = stored;
  r.connector_ids.clear();
  for (const auto& [ca_id, connector_id] : assignments_) {
    if (ca_id == stored.ca_id) r.connector_ids.push_back(connector_id);
  }
  std::sort(r.connector_ids.begin(), r.connector_ids.end());
  return r;
}

absl::Status FakeStore::CreateTenant(const Tenant& tenant) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  RETURN_IF_ERROR(ValidateTenant(tenant));
  if (TenantExists(tenant.tenant_id)) {
    return TenantAlreadyExists(tenant.tenant_id);
  }
  Tenant stored = tenant;
  stored.create_time = TruncateToMicros(tenant.create_time);
  tenants_[tenant.tenant_id] = stored;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Tenant>> FakeStore::ListTenants() {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  std::vector<Tenant> out;
  for (const auto& [id, tenant] : tenants_) out.push_back(tenant);
  return out;
}

absl::StatusOr<Tenant> FakeStore::GetTenant(const std::string& tenant_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  auto it = tenants_.find(tenant_id);
  if (it == tenants_.end()) return TenantNotFound(tenant_id);
  return it->second;
}

absl::Status FakeStore::CreateApiKey(const ApiKeyRecord& key) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  RETURN_IF_ERROR(ValidateApiKey(key));
  if (api_keys_.count(key.key_id)) {
    return ApiKeyAlreadyExists(key.key_id);
  }
  if (!TenantExists(key.tenant_id)) return TenantNotFound(key.tenant_id);
  ApiKeyRecord stored = key;
  stored.scopes = NormalizeScopes(key.scopes);
  stored.create_time = TruncateToMicros(key.create_time);
  if (key.expire_time.has_value()) stored.expire_time = TruncateToMicros(*key.expire_time);
  stored.revoke_time.reset();
  stored.last_use_time.reset();
  api_keys_[key.key_id] = stored;
  return absl::OkStatus();
}

absl::StatusOr<ApiKeyRecord> FakeStore::LookupApiKey(const std::string& key_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  auto it = api_keys_.find(key_id);
  if (it == api_keys_.end()) {
    return ApiKeyNotFound(key_id);
  }
  return it->second;
}

absl::StatusOr<std::vector<ApiKeyRecord>> FakeStore::ListApiKeys(const std::string& tenant_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  std::vector<ApiKeyRecord> out;
  for (const auto& [id, key] : api_keys_) {
    if (key.tenant_id == tenant_id) out.push_back(key);
  }
  return out;
}

absl::StatusOr<ApiKeyRecord> FakeStore::RevokeApiKey(const std::string& tenant_id,
                                                     const std::string& key_id,
                                                     absl::Time revoke_time) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  auto it = api_keys_.find(key_id);
  if (it == api_keys_.end() || it->second.tenant_id != tenant_id) {
    return ApiKeyNotFound(key_id);
  }
  if (!it->second.revoke_time.has_value()) {
    it->second.revoke_time = TruncateToMicros(revoke_time);
  }
  return it->second;
}

absl::Status FakeStore::RecordApiKeyUse(const std::string& key_id, absl::Time use_time,
                                        absl::Duration granularity) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  auto it = api_keys_.find(key_id);
  if (it == api_keys_.end()) return absl::OkStatus();
  std::optional<absl::Time>& last = it->second.last_use_time;
  if (!last.has_value() || *last < use_time - granularity) last = TruncateToMicros(use_time);
  return absl::OkStatus();
}

absl::Status FakeStore::CreateEnrollmentToken(const EnrollmentTokenRecord& token) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  RETURN_IF_ERROR(ValidateEnrollmentToken(token));
  if (tokens_.count(token.token_hash)) {
    return EnrollmentTokenAlreadyExists();
  }
  if (!TenantExists(token.tenant_id)) return TenantNotFound(token.tenant_id);
  TokenRow row;
  row.token = token;
  row.token.create_time = TruncateToMicros(token.create_time);
  row.token.expire_time = TruncateToMicros(token.expire_time);
  tokens_[token.token_hash] = row;
  return absl::OkStatus();
}

absl::StatusOr<std::string> FakeStore::RegisterConnector(const std::string& token_hash,
                                                         absl::Time now,
                                                         const ConnectorRecord& connector) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  RETURN_IF_ERROR(ValidateNewConnector(connector));
  auto it = tokens_.find(token_hash);
  if (it == tokens_.end()) return EnrollmentTokenNotFound();
  TokenRow& row = it->second;
  if (row.used) return EnrollmentTokenUsed();
  if (row.token.expire_time <= TruncateToMicros(now)) {
    return EnrollmentTokenExpired();
  }
  if (connectors_.count(connector.connector_id)) {
    return ConnectorAlreadyExists(connector.connector_id);
  }
  ConnectorRecord stored = connector;
  stored.tenant_id = row.token.tenant_id;
  stored.state = ConnectorState::kPending;
  stored.ca_ids.clear();
  stored.last_seen_time.reset();
  stored.connected = false;
  stored.registration_code_expire_time = TruncateToMicros(connector.registration_code_expire_time);
  stored.certificate_expire_time = TruncateToMicros(connector.certificate_expire_time);
  stored.create_time = TruncateToMicros(connector.create_time);
  stored.approve_time = TruncateToMicros(connector.approve_time);
  connectors_[connector.connector_id] = stored;
  row.used = true;
  return row.token.tenant_id;
}

absl::StatusOr<ConnectorRecord> FakeStore::GetConnector(const std::string& tenant_id,
                                                        const std::string& connector_id,
                                                        absl::Time live_after) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  ConnectorRecord* c = FindConnector(tenant_id, connector_id);
  if (c == nullptr) return ConnectorNotFound(connector_id);
  return Report(*c, live_after);
}

absl::StatusOr<ConnectorRecord> FakeStore::GetConnectorById(const std::string& connector_id,
                                                            absl::Time live_after) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  auto it = connectors_.find(connector_id);
  if (it == connectors_.end()) return ConnectorNotFound(connector_id);
  return Report(it->second, live_after);
}

absl::StatusOr<std::vector<ConnectorRecord>> FakeStore::ListConnectors(
    const std::string& tenant_id, absl::Time live_after) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  std::vector<ConnectorRecord> out;
  for (const auto& [id, c] : connectors_) {
    if (c.tenant_id == tenant_id) out.push_back(Report(c, live_after));
  }
  return out;
}

absl::StatusOr<ConnectorRecord> FakeStore::FindConnectorByRegistrationCode(
    const std::string& tenant_id, const std::string& code_hash) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  const ConnectorRecord* found = nullptr;
  for (const auto& [id, c] : connectors_) {
    if (c.tenant_id != tenant_id || c.state != ConnectorState::kPending || code_hash.empty() ||
        c.registration_code_hash != code_hash) {
      continue;
    }
    if (found == nullptr || c.create_time < found->create_time) found = &c;
  }
  if (found == nullptr) {
    return RegistrationCodeNotFound();
  }
  return Report(*found, absl::InfiniteFuture());
}

absl::Status FakeStore::ApproveConnector(const std::string& tenant_id,
                                         const std::string& connector_id, absl::Time approve_time,
                                         const std::string& certificate_chain_pem,
                                         const std::string& certificate_serial,
                                         absl::Time certificate_expire_time) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  ConnectorRecord* c = FindConnector(tenant_id, connector_id);
  if (c == nullptr) return ConnectorNotFound(connector_id);
  if (c->state != ConnectorState::kPending) return WrongState(connector_id, "approve", c->state);
  c->state = ConnectorState::kActive;
  c->approve_time = TruncateToMicros(approve_time);
  c->certificate_chain_pem = certificate_chain_pem;
  c->certificate_serial = certificate_serial;
  c->certificate_expire_time = TruncateToMicros(certificate_expire_time);
  c->registration_code_hash.clear();
  c->csr_pem.clear();
  return absl::OkStatus();
}

absl::Status FakeStore::TransitionConnector(const std::string& tenant_id,
                                            const std::string& connector_id,
                                            const std::vector<ConnectorState>& from,
                                            ConnectorState to) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  ConnectorRecord* c = FindConnector(tenant_id, connector_id);
  if (c == nullptr) return ConnectorNotFound(connector_id);
  if (std::find(from.begin(), from.end(), c->state) == from.end()) {
    return WrongState(connector_id, absl::StrCat("move to ", ConnectorStateName(to)), c->state);
  }
  if (to != ConnectorState::kPending) {
    c->registration_code_hash.clear();
    c->csr_pem.clear();
  }
  c->state = to;
  return absl::OkStatus();
}

absl::Status FakeStore::UpdateConnectorCertificate(const std::string& tenant_id,
                                                   const std::string& connector_id,
                                                   const std::string& certificate_chain_pem,
                                                   const std::string& certificate_serial,
                                                   absl::Time certificate_expire_time) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  ConnectorRecord* c = FindConnector(tenant_id, connector_id);
  if (c == nullptr) return ConnectorNotFound(connector_id);
  if (c->state != ConnectorState::kActive) {
    return WrongState(connector_id, "update certificate", c->state);
  }
  c->certificate_chain_pem = certificate_chain_pem;
  c->certificate_serial = certificate_serial;
  c->certificate_expire_time = TruncateToMicros(certificate_expire_time);
  return absl::OkStatus();
}

absl::Status FakeStore::UpdateConnectorAgentInfo(const std::string& tenant_id,
                                                 const std::string& connector_id,
                                                 const std::string& host, const std::string& os,
                                                 const std::string& agent_version,
                                                 const std::string& ca_identity) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  ConnectorRecord* c = FindConnector(tenant_id, connector_id);
  if (c == nullptr) return ConnectorNotFound(connector_id);
  c->host = host;
  c->os = os;
  c->agent_version = agent_version;
  c->ca_identity = ca_identity;
  return absl::OkStatus();
}

absl::Status FakeStore::DeleteConnector(const std::string& tenant_id,
                                        const std::string& connector_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  if (FindConnector(tenant_id, connector_id) == nullptr) return ConnectorNotFound(connector_id);
  connectors_.erase(connector_id);
  sessions_.erase(connector_id);
  for (auto it = assignments_.begin(); it != assignments_.end();) {
    it = it->second == connector_id ? assignments_.erase(it) : std::next(it);
  }
  return absl::OkStatus();
}

absl::Status FakeStore::CreateCertificateAuthority(const CertificateAuthorityRecord& ca) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  RETURN_IF_ERROR(ValidateCertificateAuthority(ca));
  if (cas_.count(ca.ca_id)) {
    return CaAlreadyExists(ca.ca_id);
  }
  for (const auto& [id, other] : cas_) {
    if (other.tenant_id == ca.tenant_id &&
        absl::AsciiStrToLower(other.host) == absl::AsciiStrToLower(ca.host) &&
        absl::AsciiStrToLower(other.ca_name) == absl::AsciiStrToLower(ca.ca_name)) {
      return absl::AlreadyExistsError(absl::StrCat("certificate authority \"", ca.host, "\\",
                                                   ca.ca_name, "\" already exists as \"", id,
                                                   "\""));
    }
  }
  if (!TenantExists(ca.tenant_id)) return TenantNotFound(ca.tenant_id);
  CertificateAuthorityRecord stored = ca;
  stored.connector_ids.clear();
  stored.create_time = TruncateToMicros(ca.create_time);
  cas_[ca.ca_id] = stored;
  return absl::OkStatus();
}

absl::StatusOr<CertificateAuthorityRecord> FakeStore::GetCertificateAuthority(
    const std::string& tenant_id, const std::string& ca_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  CertificateAuthorityRecord* ca = FindCa(tenant_id, ca_id);
  if (ca == nullptr) return CaNotFound(ca_id);
  return Report(*ca);
}

absl::StatusOr<std::vector<CertificateAuthorityRecord>> FakeStore::ListCertificateAuthorities(
    const std::string& tenant_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  std::vector<CertificateAuthorityRecord> out;
  for (const auto& [id, ca] : cas_) {
    if (ca.tenant_id == tenant_id) out.push_back(Report(ca));
  }
  return out;
}

absl::Status FakeStore::DeleteCertificateAuthority(const std::string& tenant_id,
                                                   const std::string& ca_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  if (FindCa(tenant_id, ca_id) == nullptr) return CaNotFound(ca_id);
  cas_.erase(ca_id);
  for (auto it = assignments_.begin(); it != assignments_.end();) {
    it = it->first == ca_id ? assignments_.erase(it) : std::next(it);
  }
  return absl::OkStatus();
}

absl::Status FakeStore::AssignCertificateAuthority(const std::string& tenant_id,
                                                   const std::string& ca_id,
                                                   const std::string& connector_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  if (FindCa(tenant_id, ca_id) == nullptr) return CaNotFound(ca_id);
  if (FindConnector(tenant_id, connector_id) == nullptr) return ConnectorNotFound(connector_id);
  assignments_.emplace(ca_id, connector_id);
  return absl::OkStatus();
}

absl::Status FakeStore::UnassignCertificateAuthority(const std::string& tenant_id,
                                                     const std::string& ca_id,
                                                     const std::string& connector_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  if (FindCa(tenant_id, ca_id) == nullptr) return CaNotFound(ca_id);
  if (FindConnector(tenant_id, connector_id) == nullptr) return ConnectorNotFound(connector_id);
  if (assignments_.erase({ca_id, connector_id}) == 0) {
    return CaNotAssigned(ca_id, connector_id);
  }
  return absl::OkStatus();
}

absl::Status FakeStore::UpsertSession(const SessionRecord& session) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  RETURN_IF_ERROR(ValidateSession(session));
  if (FindConnector(session.tenant_id, session.connector_id) == nullptr) {
    return ConnectorNotFound(session.connector_id);
  }
  SessionRecord stored = session;
  stored.connect_time = TruncateToMicros(session.connect_time);
  stored.heartbeat_time = TruncateToMicros(session.heartbeat_time);
  sessions_[session.connector_id] = stored;
  return absl::OkStatus();
}

absl::Status FakeStore::RefreshSession(const SessionRecord& session) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  RETURN_IF_ERROR(ValidateSession(session));
  if (FindConnector(session.tenant_id, session.connector_id) == nullptr) {
    return ConnectorNotFound(session.connector_id);
  }
  auto it = sessions_.find(session.connector_id);
  if (it == sessions_.end()) {
    SessionRecord stored = session;
    stored.connect_time = TruncateToMicros(session.connect_time);
    stored.heartbeat_time = TruncateToMicros(session.heartbeat_time);
    sessions_[session.connector_id] = stored;
    return absl::OkStatus();
  }
  if (it->second.replica_id != session.replica_id ||
      it->second.connect_time != TruncateToMicros(session.connect_time)) {
    return SessionTakenOver(session.connector_id);
  }
  it->second.heartbeat_time = TruncateToMicros(session.heartbeat_time);
  return absl::OkStatus();
}

absl::Status FakeStore::DeleteSession(const std::string& connector_id,
                                      const std::string& replica_id, absl::Time connect_time) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  auto it = sessions_.find(connector_id);
  if (it == sessions_.end() || it->second.replica_id != replica_id ||
      it->second.connect_time != TruncateToMicros(connect_time)) {
    return absl::OkStatus();
  }
  auto c = connectors_.find(connector_id);
  if (c != connectors_.end()) {
    std::optional<absl::Time>& last_seen = c->second.last_seen_time;
    if (!last_seen.has_value() || *last_seen < it->second.heartbeat_time) {
      last_seen = it->second.heartbeat_time;
    }
  }
  sessions_.erase(it);
  return absl::OkStatus();
}

absl::Status FakeStore::AppendAuditEvent(const AuditEventRecord& event) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  RETURN_IF_ERROR(ValidateAuditEvent(event));
  AuditEventRecord stored = event;
  stored.event_id = next_event_id_++;
  stored.time = TruncateToMicros(event.time);
  audit_events_.push_back(stored);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AuditEventRecord>> FakeStore::ListAuditEvents(
    const std::string& tenant_id, int64_t before_event_id, int limit) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  RETURN_IF_ERROR(ValidateAuditLimit(limit));
  std::vector<AuditEventRecord> out;
  for (auto it = audit_events_.rbegin(); it != audit_events_.rend(); ++it) {
    if (static_cast<int>(out.size()) >= limit) break;
    if (it->tenant_id != tenant_id) continue;
    if (before_event_id > 0 && it->event_id >= before_event_id) continue;
    out.push_back(*it);
  }
  return out;
}

}  // namespace certbridge::broker
