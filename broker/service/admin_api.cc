#include "broker/service/admin_api.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "broker/service/field_checks.h"
#include "broker/service/ids.h"
#include "broker/service/proto_mapping.h"
#include "common/api_error.h"
#include "common/log.h"
#include "common/pki/delivery.h"
#include "common/pki/pem.h"
#include "common/pki/pki.h"
#include "common/status_macros.h"

namespace certbridge::broker {
namespace {

constexpr size_t kMaxDisplayName = 200;
constexpr size_t kMaxHostName = 253;
constexpr size_t kMaxCaName = 64;


// A CA server name as AD CS config strings use it: a DNS name or NetBIOS name. `field` is
// host or config_string, whichever the caller gave.
absl::Status ValidateCaHost(absl::string_view field, absl::string_view host) {
  if (host.empty() || host.size() > kMaxHostName) {
    return InvalidField(field,
        "CA host must be the CA server's DNS name, 1 to 253 characters (e.g. ca01.corp.example.com)");
  }
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') {
      return InvalidField(field, absl::StrCat(
          "CA host \"", host, "\" contains '", std::string(1, c),
          "'; use the CA server's DNS name (letters, digits, '-', '.')"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCaName(absl::string_view field, absl::string_view name) {
  if (name.empty() || name.size() > kMaxCaName) {
    return InvalidField(field,
        "CA name must be 1 to 64 characters: the CA's common name as `certutil -dump` shows it");
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == '\\' || c == '"') {
      return InvalidField(field,
          absl::StrCat("CA name \"", name, "\" may not contain backslashes, quotes or control characters"));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> NormalizeScopes(const google::protobuf::RepeatedPtrField<std::string>& in,
                                         absl::Status* status) {
  std::vector<std::string> scopes;
  for (const std::string& raw : in) {
    for (absl::string_view part : absl::StrSplit(raw, ',', absl::SkipWhitespace())) {
      std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(part));
      if (s != kScopeAdmin && s != kScopeCertificates) {
        *status = InvalidField(
            "scopes",
            absl::StrCat("unknown scope \"", s, "\"; scopes are \"admin\" and \"certificates\""));
        return {};
      }
      scopes.push_back(s);
    }
  }
  std::sort(scopes.begin(), scopes.end());
  scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
  if (scopes.empty()) {
    *status = ApiError(absl::StatusCode::kInvalidArgument, "FIELD_REQUIRED",
                       "an API key needs at least one scope: \"admin\" and/or \"certificates\"")
                  .Field("scopes", "at least one scope is required");
  }
  return scopes;
}

absl::Status RequireId(absl::string_view field, absl::string_view value) {
  return CheckText(field, value, 64, /*required=*/true);
}

// The store's NOT_FOUND (or FAILED_PRECONDITION) for an object, with the API's reason.
absl::Status Reasoned(absl::Status status, absl::string_view not_found_reason,
                      absl::string_view failed_precondition_reason = "") {
  if (absl::IsNotFound(status)) return WithReason(std::move(status), not_found_reason);
  if (absl::IsFailedPrecondition(status) && !failed_precondition_reason.empty()) {
    return WithReason(std::move(status), failed_precondition_reason);
  }
  return status;
}
template <typename T>
absl::StatusOr<T> Reasoned(absl::StatusOr<T> result, absl::string_view not_found_reason,
                           absl::string_view failed_precondition_reason = "") {
  if (result.ok()) return result;
  return Reasoned(result.status(), not_found_reason, failed_precondition_reason);
}

}  // namespace

std::string NormalizeRegistrationCode(absl::string_view code) {
  std::string out;
  for (char c : code) {
    if (c == '-' || c == ' ') continue;
    out.push_back(absl::ascii_toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

AdminApi::AdminApi(Store* store, CertificateStore* requests, const Clock* clock,
                   const ConnectorCa* connector_ca, ConnectorEvents* events,
                   AdminApiOptions options)
    : store_(store),
      requests_(requests),
      clock_(clock),
      connector_ca_(connector_ca),
      events_(events),
      options_(options),
      ids_(options_.opaque_id_secret) {}

void AdminApi::Audit(const Caller& caller, absl::string_view action, absl::string_view object_id,
                     absl::string_view details) {
  AuditEventRecord event;
  event.tenant_id = caller.tenant_id;
  event.time = clock_->Now();
  event.actor = caller.Actor();
  event.action = std::string(action);
  event.object_id = std::string(object_id);
  event.details = std::string(details);
  absl::Status s = store_->AppendAuditEvent(event);
  // The change itself has committed; a lost audit line is logged, not reported as failure.
  if (!s.ok()) {
    LogError("audit.append_failed", {{"action", action}, {"error", s.message()}});
  }
}

absl::StatusOr<v1::Tenant> AdminApi::CreateTenant(const Caller& caller,
                                                  const v1::CreateTenantRequest& r) {
  RETURN_IF_ERROR(RequireOperator(caller));
  RETURN_IF_ERROR(CheckText("display_name", r.display_name(), kMaxDisplayName, /*required=*/true));
  Tenant tenant{NewObjectId(), r.display_name(), clock_->Now()};
  RETURN_IF_ERROR(store_->CreateTenant(tenant));
  Caller in_tenant = caller;
  in_tenant.tenant_id = tenant.tenant_id;
  Audit(in_tenant, "tenant.create", tenant.tenant_id, tenant.display_name);
  return ToProto(tenant);
}

absl::StatusOr<v1::ListTenantsResponse> AdminApi::ListTenants(const Caller& caller,
                                                              const v1::ListTenantsRequest&) {
  RETURN_IF_ERROR(RequireOperator(caller));
  ASSIGN_OR_RETURN(std::vector<Tenant> tenants, store_->ListTenants());
  v1::ListTenantsResponse out;
  for (const Tenant& t : tenants) *out.add_tenants() = ToProto(t);
  return out;
}

absl::StatusOr<std::string> AdminApi::ApiKeyTenant(const Caller& caller,
                                                   const std::string& requested_tenant_id) {
  if (caller.is_operator) {
    RETURN_IF_ERROR(RequireId("tenant_id", requested_tenant_id));
    // The operator sees every tenant, so "no such tenant" leaks nothing.
    RETURN_IF_ERROR(Reasoned(store_->GetTenant(requested_tenant_id).status(), "TENANT_NOT_FOUND"));
    return requested_tenant_id;
  }
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  if (!requested_tenant_id.empty() && requested_tenant_id != caller.tenant_id) {
    return ApiError(absl::StatusCode::kNotFound, "TENANT_NOT_FOUND",
                    absl::StrCat("tenant \"", requested_tenant_id, "\" not found"))
        .Metadata("tenant_id", requested_tenant_id);
  }
  return caller.tenant_id;
}

absl::StatusOr<v1::CreateApiKeyResponse> AdminApi::CreateApiKey(const Caller& caller,
                                                                const v1::CreateApiKeyRequest& r) {
  ASSIGN_OR_RETURN(std::string tenant_id, ApiKeyTenant(caller, r.tenant_id()));
  RETURN_IF_ERROR(CheckText("display_name", r.display_name(), kMaxDisplayName, /*required=*/false));
  absl::Status scope_status;
  std::vector<std::string> scopes = NormalizeScopes(r.scopes(), &scope_status);
  RETURN_IF_ERROR(scope_status);

  const absl::Time now = clock_->Now();
  std::optional<absl::Time> expire_time;
  if (r.has_expire_time()) {
    expire_time = absl::FromUnixSeconds(r.expire_time().seconds()) +
                  absl::Nanoseconds(r.expire_time().nanos());
    if (*expire_time <= now) {
      return InvalidField(
          "expire_time",
          "expire_time must be in the future (leave it unset for a key that does not expire)");
    }
  }

  NewApiKey key = GenerateApiKey();
  ApiKeyRecord record;
  record.key_id = key.key_id;
  record.tenant_id = tenant_id;
  record.display_name = r.display_name();
  record.scopes = scopes;
  record.secret_hash = key.secret_hash;
  record.create_time = now;
  record.expire_time = expire_time;
  RETURN_IF_ERROR(store_->CreateApiKey(record));
  Caller in_tenant = caller;
  in_tenant.tenant_id = tenant_id;
  Audit(in_tenant, "api_key.create", key.key_id, absl::StrJoin(scopes, ","));
  v1::CreateApiKeyResponse out;
  *out.mutable_api_key() = ToProto(record);
  out.set_secret(key.full_key);
  return out;
}

absl::StatusOr<v1::ListApiKeysResponse> AdminApi::ListApiKeys(const Caller& caller,
                                                              const v1::ListApiKeysRequest& r) {
  ASSIGN_OR_RETURN(std::string tenant_id, ApiKeyTenant(caller, r.tenant_id()));
  ASSIGN_OR_RETURN(std::vector<ApiKeyRecord> keys, store_->ListApiKeys(tenant_id));
  v1::ListApiKeysResponse out;
  for (const ApiKeyRecord& k : keys) *out.add_api_keys() = ToProto(k);
  return out;
}

absl::StatusOr<v1::ApiKey> AdminApi::RevokeApiKey(const Caller& caller,
                                                  const v1::RevokeApiKeyRequest& r) {
  ASSIGN_OR_RETURN(std::string tenant_id, ApiKeyTenant(caller, r.tenant_id()));
  RETURN_IF_ERROR(RequireId("key_id", r.key_id()));
  ASSIGN_OR_RETURN(ApiKeyRecord key, Reasoned(store_->RevokeApiKey(tenant_id, r.key_id(),
                                                                   clock_->Now()),
                                              "API_KEY_NOT_FOUND"));
  Caller in_tenant = caller;
  in_tenant.tenant_id = tenant_id;
  Audit(in_tenant, "api_key.revoke", key.key_id, key.display_name);
  return ToProto(key);
}

absl::StatusOr<v1::CreateEnrollmentTokenResponse> AdminApi::CreateEnrollmentToken(
    const Caller& caller, const v1::CreateEnrollmentTokenRequest& r) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  RETURN_IF_ERROR(CheckText("description", r.description(), kMaxDisplayName, /*required=*/false));
  absl::Duration ttl = r.ttl_seconds() == 0 ? options_.default_enrollment_token_ttl
                                            : absl::Seconds(r.ttl_seconds());
  if (ttl <= absl::ZeroDuration() || ttl > options_.max_enrollment_token_ttl) {
    return InvalidField("ttl_seconds",
        absl::StrCat("ttl_seconds must be between 1 and ",
                     absl::ToInt64Seconds(options_.max_enrollment_token_ttl), " (7 days)"));
  }
  const std::string token = absl::StrCat("cbet.", pki::RandomToken(24));
  EnrollmentTokenRecord record;
  record.token_hash = pki::Sha256Hex(token);
  record.tenant_id = caller.tenant_id;
  record.description = r.description();
  record.created_by = caller.Actor();
  record.create_time = clock_->Now();
  record.expire_time = record.create_time + ttl;
  RETURN_IF_ERROR(store_->CreateEnrollmentToken(record));
  Audit(caller, "enrollment_token.create", record.token_hash.substr(0, 12), r.description());
  v1::CreateEnrollmentTokenResponse out;
  out.set_token(token);
  ToProto(record.expire_time, out.mutable_expire_time());
  return out;
}

absl::StatusOr<v1::CertificateAuthority> AdminApi::CreateCertificateAuthority(
    const Caller& caller, const v1::CreateCertificateAuthorityRequest& r) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  std::string host = r.host();
  std::string ca_name = r.ca_name();
  if (!r.config_string().empty()) {
    if (!host.empty() || !ca_name.empty()) {
      return InvalidField("config_string",
                          "give either config_string or host and ca_name, not both");
    }
    std::vector<std::string> parts = absl::StrSplit(r.config_string(), absl::MaxSplits('\\', 1));
    if (parts.size() != 2) {
      return InvalidField("config_string", absl::StrCat(
          "config string \"", r.config_string(),
          "\" must be HOST\\CA_NAME, e.g. ca01.corp.example.com\\Corp Issuing CA"));
    }
    host = parts[0];
    ca_name = parts[1];
  }
  const bool from_config = !r.config_string().empty();
  RETURN_IF_ERROR(ValidateCaHost(from_config ? "config_string" : "host", host));
  RETURN_IF_ERROR(ValidateCaName(from_config ? "config_string" : "ca_name", ca_name));
  RETURN_IF_ERROR(CheckText("display_name", r.display_name(), kMaxDisplayName, /*required=*/false));
  CertificateAuthorityRecord ca;
  ca.ca_id = NewObjectId();
  ca.tenant_id = caller.tenant_id;
  ca.host = host;
  ca.ca_name = ca_name;
  ca.display_name = r.display_name().empty() ? ca_name : r.display_name();
  ca.create_time = clock_->Now();
  RETURN_IF_ERROR(store_->CreateCertificateAuthority(ca));
  Audit(caller, "ca.create", ca.ca_id, absl::StrCat(host, "\\", ca_name));
  return ToProto(ca);
}

absl::StatusOr<v1::ListCertificateAuthoritiesResponse> AdminApi::ListCertificateAuthorities(
    const Caller& caller, const v1::ListCertificateAuthoritiesRequest&) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  ASSIGN_OR_RETURN(std::vector<CertificateAuthorityRecord> cas,
                   store_->ListCertificateAuthorities(caller.tenant_id));
  v1::ListCertificateAuthoritiesResponse out;
  for (const auto& ca : cas) *out.add_certificate_authorities() = ToProto(ca);
  return out;
}

absl::StatusOr<google::protobuf::Empty> AdminApi::DeleteCertificateAuthority(
    const Caller& caller, const v1::DeleteCertificateAuthorityRequest& r) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  RETURN_IF_ERROR(RequireId("ca_id", r.ca_id()));
  ASSIGN_OR_RETURN(CertificateAuthorityRecord ca,
                   Reasoned(store_->GetCertificateAuthority(caller.tenant_id, r.ca_id()),
                            "CA_NOT_FOUND"));
  RETURN_IF_ERROR(Reasoned(store_->DeleteCertificateAuthority(caller.tenant_id, r.ca_id()),
                           "CA_NOT_FOUND"));
  for (const std::string& connector_id : ca.connector_ids) events_->ConnectorChanged(connector_id);
  Audit(caller, "ca.delete", r.ca_id(), absl::StrCat(ca.host, "\\", ca.ca_name));
  return google::protobuf::Empty();
}

absl::StatusOr<v1::Connector> AdminApi::AssignCertificateAuthority(
    const Caller& caller, const v1::AssignCertificateAuthorityRequest& r) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  RETURN_IF_ERROR(RequireId("ca_id", r.ca_id()));
  RETURN_IF_ERROR(RequireId("connector_id", r.connector_id()));
  RETURN_IF_ERROR(store_->AssignCertificateAuthority(caller.tenant_id, r.ca_id(), r.connector_id()));
  events_->ConnectorChanged(r.connector_id());
  Audit(caller, "ca.assign", r.ca_id(), absl::StrCat("connector ", r.connector_id()));
  return ConnectorView(caller.tenant_id, r.connector_id());
}

absl::StatusOr<v1::Connector> AdminApi::UnassignCertificateAuthority(
    const Caller& caller, const v1::UnassignCertificateAuthorityRequest& r) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  RETURN_IF_ERROR(RequireId("ca_id", r.ca_id()));
  RETURN_IF_ERROR(RequireId("connector_id", r.connector_id()));
  RETURN_IF_ERROR(
      store_->UnassignCertificateAuthority(caller.tenant_id, r.ca_id(), r.connector_id()));
  events_->ConnectorChanged(r.connector_id());
  Audit(caller, "ca.unassign", r.ca_id(), absl::StrCat("connector ", r.connector_id()));
  return ConnectorView(caller.tenant_id, r.connector_id());
}

absl::StatusOr<v1::Connector> AdminApi::ConnectorView(const std::string& tenant_id,
                                                      const std::string& connector_id) {
  ASSIGN_OR_RETURN(ConnectorRecord c,
                   Reasoned(store_->GetConnector(tenant_id, connector_id, LiveAfter()),
                            "CONNECTOR_NOT_FOUND"));
  return ToProto(c);
}

absl::StatusOr<v1::ListConnectorsResponse> AdminApi::ListConnectors(
    const Caller& caller, const v1::ListConnectorsRequest&) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  ASSIGN_OR_RETURN(std::vector<ConnectorRecord> connectors,
                   store_->ListConnectors(caller.tenant_id, LiveAfter()));
  v1::ListConnectorsResponse out;
  for (const auto& c : connectors) *out.add_connectors() = ToProto(c);
  return out;
}

absl::StatusOr<v1::Connector> AdminApi::GetConnector(const Caller& caller,
                                                     const v1::GetConnectorRequest& r) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  RETURN_IF_ERROR(RequireId("connector_id", r.connector_id()));
  return ConnectorView(caller.tenant_id, r.connector_id());
}

absl::StatusOr<ConnectorRecord> AdminApi::PendingConnectorByCode(const Caller& caller,
                                                                 const std::string& code) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  const std::string normalized = NormalizeRegistrationCode(code);
  if (normalized.empty() || normalized.size() > 32) {
    return ApiError(absl::StatusCode::kInvalidArgument,
                    normalized.empty() ? "FIELD_REQUIRED" : "FIELD_TOO_LONG",
                    "registration_code is required: the code the agent printed, e.g. ABCD-EFGH")
        .Field("registration_code", "the code the agent printed, at most 32 characters");
  }
  absl::StatusOr<ConnectorRecord> connector =
      store_->FindConnectorByRegistrationCode(caller.tenant_id, pki::Sha256Hex(normalized));
  if (absl::IsNotFound(connector.status())) {
    return ApiError(absl::StatusCode::kNotFound, "REGISTRATION_CODE_NOT_FOUND",
                    absl::StrCat("no pending connector with registration code ", code,
                                 " in this tenant"))
        .Remedy("check the code the agent printed, or register the agent again "
                "(`certbridge-agent register`)");
  }
  if (!connector.ok()) return connector.status();
  if (connector->registration_code_expire_time <= clock_->Now()) {
    return ApiError(absl::StatusCode::kFailedPrecondition, "REGISTRATION_CODE_EXPIRED",
                    absl::StrCat("registration code ", code, " expired at ",
                                 absl::FormatTime(absl::RFC3339_sec,
                                                  connector->registration_code_expire_time,
                                                  absl::UTCTimeZone())))
        .Precondition("REGISTRATION_CODE", connector->connector_id, "the code has expired")
        .Metadata("connector_id", connector->connector_id)
        .Remedy("run `certbridge-agent register` again for a new code");
  }
  return connector;
}

absl::StatusOr<v1::Connector> AdminApi::ApproveConnector(const Caller& caller,
                                                         const v1::ApproveConnectorRequest& r) {
  ASSIGN_OR_RETURN(ConnectorRecord connector,
                   PendingConnectorByCode(caller, r.registration_code()));
  const absl::Time now = clock_->Now();
  ASSIGN_OR_RETURN(IssuedAgentCertificate cert,
                   connector_ca_->Issue(connector.csr_pem,
                                        {connector.tenant_id, connector.connector_id}, now));
  RETURN_IF_ERROR(store_->ApproveConnector(caller.tenant_id, connector.connector_id, now,
                                           cert.chain_pem, cert.serial_hex, cert.not_after));
  events_->ConnectorChanged(connector.connector_id);
  // The admin compares the fingerprint the agent will pin (AgentApi::CheckRegistration)
  // with the one the MDM vendor publishes.
  ASSIGN_OR_RETURN(std::string delivery, requests_->GetDeliveryCertificate(caller.tenant_id));
  std::string delivery_sha256;
  if (!delivery.empty()) {
    ASSIGN_OR_RETURN(delivery_sha256, pki::DeliveryCertificateSha256(delivery));
  }
  Audit(caller, "connector.approve", connector.connector_id,
        absl::StrCat("host ", connector.host, ", identity ", connector.ca_identity,
                     ", delivery certificate SHA-256 ",
                     delivery_sha256.empty() ? "none" : delivery_sha256));
  ASSIGN_OR_RETURN(v1::Connector view, ConnectorView(caller.tenant_id, connector.connector_id));
  view.set_delivery_certificate_sha256(delivery_sha256);
  return view;
}

absl::StatusOr<v1::Connector> AdminApi::RejectConnector(const Caller& caller,
                                                        const v1::RejectConnectorRequest& r) {
  ASSIGN_OR_RETURN(ConnectorRecord connector,
                   PendingConnectorByCode(caller, r.registration_code()));
  return Transition(caller, connector.connector_id, {ConnectorState::kPending},
                    ConnectorState::kRejected, "connector.reject");
}

absl::StatusOr<v1::Connector> AdminApi::Transition(const Caller& caller,
                                                   const std::string& connector_id,
                                                   const std::vector<ConnectorState>& from,
                                                   ConnectorState to, absl::string_view action) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  RETURN_IF_ERROR(RequireId("connector_id", connector_id));
  RETURN_IF_ERROR(Reasoned(store_->TransitionConnector(caller.tenant_id, connector_id, from, to),
                           "CONNECTOR_NOT_FOUND", "CONNECTOR_STATE_CONFLICT"));
  events_->ConnectorChanged(connector_id);
  Audit(caller, action, connector_id, "");
  return ConnectorView(caller.tenant_id, connector_id);
}

absl::StatusOr<v1::Connector> AdminApi::DisableConnector(const Caller& caller,
                                                         const v1::DisableConnectorRequest& r) {
  return Transition(caller, r.connector_id(), {ConnectorState::kActive},
                    ConnectorState::kDisabled, "connector.disable");
}

absl::StatusOr<v1::Connector> AdminApi::EnableConnector(const Caller& caller,
                                                        const v1::EnableConnectorRequest& r) {
  return Transition(caller, r.connector_id(), {ConnectorState::kDisabled},
                    ConnectorState::kActive, "connector.enable");
}

absl::StatusOr<google::protobuf::Empty> AdminApi::DeleteConnector(
    const Caller& caller, const v1::DeleteConnectorRequest& r) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  RETURN_IF_ERROR(RequireId("connector_id", r.connector_id()));
  RETURN_IF_ERROR(Reasoned(store_->DeleteConnector(caller.tenant_id, r.connector_id()),
                           "CONNECTOR_NOT_FOUND", "CONNECTOR_STATE_CONFLICT"));
  events_->ConnectorChanged(r.connector_id());
  Audit(caller, "connector.delete", r.connector_id(), "");
  return google::protobuf::Empty();
}

absl::StatusOr<v1::ListAuditEventsResponse> AdminApi::ListAuditEvents(
    const Caller& caller, const v1::ListAuditEventsRequest& r) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  if (r.page_size() < 0) return InvalidField("page_size", "page_size must not be negative");
  // AIP-158: a page_size above the maximum is read as the maximum, not refused.
  const int limit = r.page_size() == 0 ? 100 : std::min(r.page_size(), 1000);
  absl::StatusOr<int64_t> before =
      ids_.DecodePageToken(caller.tenant_id, IdKind::kAuditPage, r.page_token());
  if (!before.ok()) return InvalidField("page_token", before.status().message());
  ASSIGN_OR_RETURN(std::vector<AuditEventRecord> events,
                   store_->ListAuditEvents(caller.tenant_id, *before, limit));
  v1::ListAuditEventsResponse out;
  for (const auto& e : events) {
    v1::AuditEvent* event = out.add_events();
    *event = ToProto(e);
    event->set_event_id(ids_.Encode(caller.tenant_id, IdKind::kAuditEvent, e.event_id));
  }
  if (static_cast<int>(events.size()) == limit && !events.empty()) {
    out.set_next_page_token(
        ids_.Encode(caller.tenant_id, IdKind::kAuditPage, events.back().event_id));
  }
  return out;
}

absl::StatusOr<v1::DeliveryCertificate> AdminApi::SetDeliveryCertificate(
    const Caller& caller, const v1::SetDeliveryCertificateRequest& r) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  if (r.certificate_pem().size() > 16 * 1024) {
    return ApiError(absl::StatusCode::kInvalidArgument, "FIELD_TOO_LONG",
                    "certificate_pem is larger than 16 KiB")
        .Field("certificate_pem", "at most 16 KiB");
  }
  if (pki::PemHoldsPrivateKey(r.certificate_pem())) {
    return InvalidField("certificate_pem",
                        "certificate_pem holds a private key; nothing was stored: send the "
                        "certificate only and keep the key with whoever opens the PKCS#12 "
                        "passwords");
  }
  absl::StatusOr<pki::CertificateInfo> cert = pki::ParseCertificate(r.certificate_pem());
  if (!cert.ok()) {
    return InvalidField("certificate_pem",
        absl::StrCat("certificate_pem: ", cert.status().message(),
                     "; send the PEM certificate whose private key will open PKCS#12 passwords"));
  }
  // Proves the key can receive an envelope before any device depends on it.
  absl::StatusOr<std::string> probe = pki::EnvelopeForRecipient("probe", cert->pem);
  if (!probe.ok()) {
    return InvalidField("certificate_pem", absl::StrCat("certificate_pem cannot receive CMS envelopes: ",
                                                        probe.status().message()));
  }
  RETURN_IF_ERROR(requests_->SetDeliveryCertificate(caller.tenant_id, cert->pem));
  Audit(caller, "delivery_certificate.set", cert->serial_hex, cert->subject);
  return DeliveryCertificateToProto(*cert);
}

absl::StatusOr<v1::DeliveryCertificate> AdminApi::GetDeliveryCertificate(
    const Caller& caller, const v1::GetDeliveryCertificateRequest&) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  ASSIGN_OR_RETURN(std::string pem, requests_->GetDeliveryCertificate(caller.tenant_id));
  if (pem.empty()) {
    return ApiError(absl::StatusCode::kNotFound, "DELIVERY_CERTIFICATE_NOT_SET",
                    "the tenant has no delivery certificate; set one with "
                    "SetDeliveryCertificate");
  }
  ASSIGN_OR_RETURN(pki::CertificateInfo cert, pki::ParseCertificate(pem));
  return DeliveryCertificateToProto(cert);
}

}  // namespace certbridge::broker
