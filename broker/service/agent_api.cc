#include "broker/service/agent_api.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "broker/service/admin_api.h"
#include "broker/service/field_checks.h"
#include "broker/service/ids.h"
#include "common/adcs/ca_identity.h"
#include "common/api_error.h"
#include "common/pki/delivery.h"
#include "common/pki/pki.h"
#include "common/status_macros.h"

namespace certbridge::broker {
namespace {

constexpr size_t kMaxCsrBytes = 16 * 1024;
constexpr size_t kMaxShortField = 256;


std::string FormatCode(absl::string_view code) {
  return absl::StrCat(code.substr(0, 4), "-", code.substr(4));
}

}  // namespace

AgentApi::AgentApi(Store* store, const Clock* clock, const ConnectorCa* connector_ca,
                   AgentApiOptions options)
    : store_(store),
      clock_(clock),
      connector_ca_(connector_ca),
      options_(std::move(options)),
      metrics_(options_.metrics != nullptr ? options_.metrics : &no_metrics_),
      stream_replaced_audits_(options_.stream_replaced_audit_interval) {}

absl::StatusOr<v1::RegisterResponse> AgentApi::Register(const v1::RegisterRequest& r) {
  if (r.enrollment_token().empty()) {
    return ApiError(absl::StatusCode::kInvalidArgument, "FIELD_REQUIRED",
                    "enrollment_token is required: create one with `certbridgectl "
                    "enrollment-tokens create`")
        .Field("enrollment_token", "required");
  }
  if (r.csr_pem().size() > kMaxCsrBytes) {
    const std::string message =
        absl::StrCat("csr_pem is ", r.csr_pem().size(), " bytes; at most ", kMaxCsrBytes);
    return ApiError(absl::StatusCode::kInvalidArgument, "FIELD_TOO_LONG", message)
        .Field("csr_pem", message);
  }
  RETURN_IF_ERROR(CheckText("host", r.host(), kMaxShortField, true));
  RETURN_IF_ERROR(CheckText("os", r.os(), kMaxShortField, false));
  RETURN_IF_ERROR(CheckText("agent_version", r.agent_version(), kMaxShortField, false));
  RETURN_IF_ERROR(CheckText("ca_identity", r.ca_identity(), kMaxShortField, true));
  absl::StatusOr<pki::CsrInfo> csr = pki::ParseCsr(r.csr_pem());
  if (!csr.ok()) {
    return InvalidField("csr_pem", absl::StrCat("agent CSR: ", csr.status().message()));
  }

  const absl::Time now = clock_->Now();
  const std::string code = pki::RandomCode(8);
  const std::string poll_secret = pki::RandomToken(24);
  ConnectorRecord connector;
  connector.connector_id = NewObjectId();
  connector.state = ConnectorState::kPending;
  connector.host = r.host();
  connector.os = r.os();
  connector.agent_version = r.agent_version();
  // Stored normalised: the store claims sticky jobs by exact comparison.
  connector.ca_identity = adcs::NormalizeCaIdentity(r.ca_identity());
  connector.csr_pem = r.csr_pem();
  connector.registration_code_hash = pki::Sha256Hex(code);
  connector.registration_code_expire_time = now + options_.registration_code_ttl;
  connector.poll_secret_hash = pki::Sha256Hex(poll_secret);
  connector.create_time = now;

  absl::StatusOr<std::string> tenant_id =
      store_->RegisterConnector(pki::Sha256Hex(r.enrollment_token()), now, connector);
  if (absl::IsNotFound(tenant_id.status())) {
    return ApiError(absl::StatusCode::kUnauthenticated, "ENROLLMENT_TOKEN_INVALID",
                    "enrollment token is not valid for this broker; ask a tenant admin for a "
                    "new one (`certbridgectl enrollment-tokens create`)");
  }
  if (absl::IsFailedPrecondition(tenant_id.status())) {
    return ApiError(absl::StatusCode::kFailedPrecondition, "ENROLLMENT_TOKEN_SPENT",
                    // The store's message names the token and why: expired or already used.
                    absl::StrCat(tenant_id.status().message(),
                                 "; tokens are single-use and short-lived: ask a tenant admin "
                                 "for a new one"));
  }
  if (!tenant_id.ok()) return tenant_id.status();

  AuditEventRecord event;
  event.tenant_id = *tenant_id;
  event.time = now;
  event.actor = absl::StrCat("connector:", connector.connector_id);
  event.action = "connector.register";
  event.object_id = connector.connector_id;
  event.details = absl::StrCat("host ", r.host(), ", identity ", r.ca_identity());
  (void)store_->AppendAuditEvent(event);  // best effort; the registration itself committed

  v1::RegisterResponse out;
  out.set_connector_id(connector.connector_id);
  out.set_registration_code(FormatCode(code));
  out.set_registration_url(absl::StrCat(options_.registration_url_base, "?code=", FormatCode(code)));
  out.mutable_code_expire_time()->set_seconds(
      absl::ToUnixSeconds(connector.registration_code_expire_time));
  out.set_poll_secret(poll_secret);
  return out;
}

absl::StatusOr<v1::GetRegistrationResponse> AgentApi::CheckRegistration(
    const v1::GetRegistrationRequest& r) {
  absl::StatusOr<ConnectorRecord> connector =
      store_->GetConnectorById(r.connector_id(), absl::InfiniteFuture());
  if (absl::IsNotFound(connector.status()) ||
      (connector.ok() &&
       !pki::ConstantTimeEquals(connector->poll_secret_hash, pki::Sha256Hex(r.poll_secret())))) {
    return ApiError(absl::StatusCode::kNotFound, "REGISTRATION_NOT_FOUND",
                    absl::StrCat("registration of connector \"", r.connector_id(),
                                 "\" not found (deleted by an admin?); register the agent again"));
  }
  if (!connector.ok()) return connector.status();
  v1::GetRegistrationResponse out;
  out.set_connector_id(connector->connector_id);
  switch (connector->state) {
    case ConnectorState::kPending:
      if (connector->registration_code_expire_time <= clock_->Now()) {
        return ApiError(absl::StatusCode::kFailedPrecondition, "REGISTRATION_CODE_EXPIRED",
                        "the registration code expired before an admin approved it; run "
                        "`certbridge-agent register --force` with a new enrollment token")
            .Metadata("connector_id", connector->connector_id);
      }
      out.set_state(v1::GetRegistrationResponse::STATE_PENDING);
      return out;
    case ConnectorState::kRejected:
      return ApiError(absl::StatusCode::kPermissionDenied, "CONNECTOR_REJECTED",
                      "an administrator rejected this connector's registration")
          .Metadata("connector_id", connector->connector_id);
    case ConnectorState::kActive:
    case ConnectorState::kDisabled:
      out.set_state(v1::GetRegistrationResponse::STATE_APPROVED);
      out.set_tenant_id(connector->tenant_id);
      out.set_certificate_chain_pem(connector->certificate_chain_pem);
      RETURN_IF_ERROR(AddDeliveryCertificate(connector->tenant_id, out));
      return out;
  }
  return absl::InternalError("unknown connector state");
}

absl::Status AgentApi::AddDeliveryCertificate(const std::string& tenant_id,
                                              v1::GetRegistrationResponse& out) {
  if (options_.delivery_certificates == nullptr) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string pem,
                   options_.delivery_certificates->GetDeliveryCertificate(tenant_id));
  if (pem.empty()) return absl::OkStatus();  // none yet: the agent pins on first use
  absl::StatusOr<std::string> sha256 = pki::DeliveryCertificateSha256(pem);
  if (!sha256.ok()) {
    // SetDeliveryCertificate parsed it before storing it: this is damage, not input.
    return absl::InternalError(absl::StrCat("tenant \"", tenant_id, "\": the stored ",
                                            sha256.status().message()));
  }
  out.set_delivery_certificate_sha256(*sha256);
  out.set_delivery_certificate_pem(pem);
  return absl::OkStatus();
}

absl::StatusOr<ConnectorRecord> AgentApi::CheckActive(absl::StatusOr<ConnectorRecord> connector) {
  if (absl::IsNotFound(connector.status())) {
    return ApiError(absl::StatusCode::kUnauthenticated, "CONNECTOR_DELETED",
                    "this connector was deleted by an administrator; register the agent again");
  }
  if (!connector.ok()) return connector.status();
  switch (connector->state) {
    case ConnectorState::kActive:
      return connector;
    case ConnectorState::kPending:
      return ApiError(absl::StatusCode::kFailedPrecondition, "CONNECTOR_PENDING_APPROVAL",
                      "connector is pending approval: a tenant admin must approve its "
                      "registration code")
          .Metadata("connector_id", connector->connector_id);
    case ConnectorState::kDisabled:
      return ApiError(absl::StatusCode::kPermissionDenied, "CONNECTOR_DISABLED",
                      "connector is disabled by an administrator (`certbridgectl connectors "
                      "enable ID` turns it back on)")
          .Metadata("connector_id", connector->connector_id);
    case ConnectorState::kRejected:
      return ApiError(absl::StatusCode::kPermissionDenied, "CONNECTOR_REJECTED",
                      "connector registration was rejected")
          .Metadata("connector_id", connector->connector_id);
  }
  return absl::InternalError("unknown connector state");
}

absl::StatusOr<ConnectorRecord> AgentApi::AuthenticateStream(absl::string_view client_chain_pem) {
  if (client_chain_pem.empty()) {
    return ApiError(absl::StatusCode::kUnauthenticated, "AGENT_CERTIFICATE_REQUIRED",
                    "Connect requires the agent certificate issued at registration; run "
                    "`certbridge-agent register` first");
  }
  ASSIGN_OR_RETURN(AgentIdentity identity, connector_ca_->Verify(client_chain_pem, clock_->Now()));
  ASSIGN_OR_RETURN(ConnectorRecord connector, CheckStreamConnector(identity));
  RETURN_IF_ERROR(CheckCurrentCertificate(connector, client_chain_pem));
  return connector;
}

absl::Status AgentApi::CheckCurrentCertificate(const ConnectorRecord& connector,
                                               absl::string_view client_chain_pem) {
  absl::StatusOr<pki::CertificateInfo> presented = pki::ParseCertificate(client_chain_pem);
  if (!presented.ok()) {
    return ApiError(absl::StatusCode::kUnauthenticated, "AGENT_CERTIFICATE_INVALID",
                    "the agent certificate does not parse");
  }
  if (presented->serial_hex == connector.certificate_serial) return absl::OkStatus();
  // Another certificate of this connector: accepted only if it is older than the current
  // one, and the current one was issued within the renewal grace period.
  absl::StatusOr<pki::CertificateInfo> current =
      pki::ParseCertificate(connector.certificate_chain_pem);
  if (current.ok() && presented->not_before <= current->not_before &&
      clock_->Now() - current->not_before <= options_.renewal_grace) {
    return absl::OkStatus();
  }
  return ApiError(absl::StatusCode::kUnauthenticated, "AGENT_CERTIFICATE_REPLACED",
                  absl::StrCat("connector \"", connector.connector_id,
                               "\": this agent certificate (serial ", presented->serial_hex,
                               ") was replaced by a renewal; the agent must use its newest "
                               "certificate, or re-register with `certbridge-agent register "
                               "--force` if it was lost"))
      .Metadata("connector_id", connector.connector_id)
      .Metadata("serial_number", presented->serial_hex);
}

absl::StatusOr<ConnectorRecord> AgentApi::CheckStreamConnector(const AgentIdentity& identity) {
  absl::StatusOr<ConnectorRecord> connector =
      store_->GetConnector(identity.tenant_id, identity.connector_id, absl::InfiniteFuture());
  return CheckActive(std::move(connector));
}

absl::StatusOr<v1::AgentConfig> AgentApi::ConfigFor(const ConnectorRecord& connector) {
  v1::AgentConfig config;
  config.set_tenant_id(connector.tenant_id);
  config.set_connector_id(connector.connector_id);
  config.set_heartbeat_interval_seconds(options_.heartbeat_interval_seconds);
  for (const std::string& ca_id : connector.ca_ids) {
    absl::StatusOr<CertificateAuthorityRecord> ca =
        store_->GetCertificateAuthority(connector.tenant_id, ca_id);
    if (absl::IsNotFound(ca.status())) continue;  // deleted meanwhile
    if (!ca.ok()) return ca.status();
    v1::AssignedCa* out = config.add_assigned_cas();
    out->set_ca_id(ca->ca_id);
    out->set_config_string(absl::StrCat(ca->host, "\\", ca->ca_name));
    out->set_display_name(ca->display_name);
  }
  return config;
}

absl::Status AgentApi::RecordHello(const ConnectorRecord& connector, const v1::Hello& hello,
                                   const std::string& replica_id, absl::Time connect_time) {
  RETURN_IF_ERROR(CheckText("hello.host", hello.host(), kMaxShortField, false));
  RETURN_IF_ERROR(CheckText("hello.os", hello.os(), kMaxShortField, false));
  RETURN_IF_ERROR(CheckText("hello.agent_version", hello.agent_version(), kMaxShortField, false));
  RETURN_IF_ERROR(CheckText("hello.ca_identity", hello.ca_identity(), kMaxShortField, false));
  // The CA identity decides where sticky RETRIEVE and REVOKE jobs go: it is the one an
  // admin approved at registration, and Hello cannot change it.
  if (!hello.ca_identity().empty() && !connector.ca_identity.empty() &&
      !adcs::SameCaIdentity(hello.ca_identity(), connector.ca_identity)) {
    AuditConnectorEvent(connector, "connector.ca_identity_mismatch",
                        absl::StrCat("registered as ", connector.ca_identity, ", now runs as ",
                                     hello.ca_identity()));
    return ApiError(absl::StatusCode::kFailedPrecondition, "CA_IDENTITY_MISMATCH", absl::StrCat(
        "connector \"", connector.connector_id, "\" was approved for CA identity ",
        connector.ca_identity, " but the agent now runs as ", hello.ca_identity(),
        "; pending requests can only be retrieved by the identity that submitted them. Run "
        "the agent service as ", connector.ca_identity,
        ", or register it again (certbridge-agent register --force) for an admin to approve "
        "the new identity"));
  }
  RETURN_IF_ERROR(store_->UpdateConnectorAgentInfo(
      connector.tenant_id, connector.connector_id,
      hello.host().empty() ? connector.host : hello.host(),
      hello.os().empty() ? connector.os : hello.os(),
      hello.agent_version().empty() ? connector.agent_version : hello.agent_version(),
      connector.ca_identity.empty() ? adcs::NormalizeCaIdentity(hello.ca_identity())
                                    : connector.ca_identity));
  // last_seen_time is set once the connector had a session (on any replica).
  if (connector.last_seen_time.has_value()) metrics_->AgentReconnected();
  return store_->UpsertSession(StreamSession(connector, replica_id, connect_time));
}

SessionRecord AgentApi::StreamSession(const ConnectorRecord& connector,
                                      const std::string& replica_id,
                                      absl::Time connect_time) const {
  SessionRecord session;
  session.connector_id = connector.connector_id;
  session.tenant_id = connector.tenant_id;
  session.replica_id = replica_id;
  session.connect_time = connect_time;
  session.heartbeat_time = clock_->Now();
  return session;
}

absl::Status AgentApi::RecordHeartbeat(const ConnectorRecord& connector,
                                       const std::string& replica_id, absl::Time connect_time) {
  absl::Status status =
      store_->RefreshSession(StreamSession(connector, replica_id, connect_time));
  if (absl::IsAborted(status)) {
    ReportStreamReplaced(connector, absl::StrCat("the stream on replica ", replica_id,
                                                 " was ended: a newer stream took over"));
  }
  return status;
}

void AgentApi::ReportStreamReplaced(const ConnectorRecord& connector, std::string details) {
  // Two agents with one registration (a cloned state directory) take the session from
  // each other at every reconnect: the admin must see it, but once a minute is enough to
  // see it, and a row per takeover would let the clones grow the audit log without bound.
  std::optional<int64_t> left_out =
      stream_replaced_audits_.Admit(connector.connector_id, clock_->Now());
  if (!left_out.has_value()) return;
  if (*left_out > 0) {
    absl::StrAppend(&details, " (", *left_out, " more takeover",
                    *left_out == 1 ? "" : "s", " of this connector since the previous "
                    "connector.stream_replaced event were not audited)");
  }
  AuditConnectorEvent(connector, "connector.stream_replaced", std::move(details));
}

absl::Status AgentApi::EndSession(const std::string& connector_id, const std::string& replica_id,
                                  absl::Time connect_time) {
  return store_->DeleteSession(connector_id, replica_id, connect_time);
}

void AgentApi::AuditConnectorEvent(const ConnectorRecord& connector, absl::string_view action,
                                   std::string details) {
  AuditEventRecord event;
  event.tenant_id = connector.tenant_id;
  event.time = clock_->Now();
  event.actor = absl::StrCat("connector:", connector.connector_id);
  event.action = std::string(action);
  event.object_id = connector.connector_id;
  event.details = std::move(details);
  (void)store_->AppendAuditEvent(event);  // best effort: the change itself is what counts
}

absl::StatusOr<v1::RenewedCertificate> AgentApi::Renew(const ConnectorRecord& connector,
                                                       const v1::RenewalRequest& r) {
  if (r.csr_pem().size() > kMaxCsrBytes) {
    return ApiError(absl::StatusCode::kInvalidArgument, "FIELD_TOO_LONG",
                    "renewal CSR is too large")
        .Field("csr_pem", absl::StrCat("at most ", kMaxCsrBytes, " bytes"));
  }
  if (absl::StatusOr<pki::CertificateInfo> current =
          pki::ParseCertificate(connector.certificate_chain_pem);
      current.ok()) {
    const absl::Duration floor =
        std::min(options_.min_renewal_interval, (current->not_after - current->not_before) / 4);
    if (clock_->Now() - current->not_before < floor) {
      return ApiError(absl::StatusCode::kFailedPrecondition, "RENEWAL_TOO_EARLY",
                      absl::StrCat("connector \"", connector.connector_id,
                                   "\": its certificate was renewed less than ",
                                   absl::FormatDuration(floor),
                                   " ago; renew at two thirds of its life"))
          .Metadata("connector_id", connector.connector_id);
    }
  }
  ASSIGN_OR_RETURN(IssuedAgentCertificate cert,
                   connector_ca_->Issue(r.csr_pem(), {connector.tenant_id, connector.connector_id},
                                        clock_->Now()));
  RETURN_IF_ERROR(store_->UpdateConnectorCertificate(connector.tenant_id, connector.connector_id,
                                                     cert.chain_pem, cert.serial_hex,
                                                     cert.not_after));
  AuditConnectorEvent(connector, "connector.certificate_renew",
                      absl::StrCat("serial ", cert.serial_hex));
  v1::RenewedCertificate out;
  out.set_certificate_chain_pem(cert.chain_pem);
  return out;
}

}  // namespace certbridge::broker
