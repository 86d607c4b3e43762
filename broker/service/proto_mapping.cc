#include "broker/service/proto_mapping.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/pki/pem.h"

namespace certbridge::broker {

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1'000'000);
  out->set_nanos(static_cast<int32_t>(micros % 1'000'000) * 1000);
}

v1::Tenant ToProto(const Tenant& tenant) {
  v1::Tenant out;
  out.set_tenant_id(tenant.tenant_id);
  out.set_display_name(tenant.display_name);
  ToProto(tenant.create_time, out.mutable_create_time());
  return out;
}

v1::ApiKey ToProto(const ApiKeyRecord& key) {
  v1::ApiKey out;
  out.set_key_id(key.key_id);
  out.set_tenant_id(key.tenant_id);
  out.set_display_name(key.display_name);
  for (const auto& s : key.scopes) out.add_scopes(s);
  ToProto(key.create_time, out.mutable_create_time());
  if (key.expire_time.has_value()) ToProto(*key.expire_time, out.mutable_expire_time());
  if (key.revoke_time.has_value()) ToProto(*key.revoke_time, out.mutable_revoke_time());
  if (key.last_use_time.has_value()) ToProto(*key.last_use_time, out.mutable_last_use_time());
  return out;
}

v1::Connector ToProto(const ConnectorRecord& c) {
  v1::Connector out;
  out.set_connector_id(c.connector_id);
  switch (c.state) {
    case ConnectorState::kPending: out.set_state(v1::Connector::STATE_PENDING); break;
    case ConnectorState::kActive: out.set_state(v1::Connector::STATE_ACTIVE); break;
    case ConnectorState::kDisabled: out.set_state(v1::Connector::STATE_DISABLED); break;
    case ConnectorState::kRejected: out.set_state(v1::Connector::STATE_REJECTED); break;
  }
  out.set_connectivity(c.connected ? v1::Connector::CONNECTIVITY_CONNECTED : v1::Connector::CONNECTIVITY_DISCONNECTED);
  out.set_host(c.host);
  out.set_os(c.os);
  out.set_agent_version(c.agent_version);
  out.set_ca_identity(c.ca_identity);
  if (c.last_seen_time) ToProto(*c.last_seen_time, out.mutable_last_seen_time());
  for (const auto& id : c.ca_ids) out.add_ca_ids(id);
  ToProto(c.create_time, out.mutable_create_time());
  if (c.approve_time != absl::InfinitePast()) ToProto(c.approve_time, out.mutable_approve_time());
  out.set_certificate_serial(c.certificate_serial);
  if (c.certificate_expire_time != absl::InfinitePast()) {
    ToProto(c.certificate_expire_time, out.mutable_certificate_expire_time());
  }
  if (c.state == ConnectorState::kPending) {
    ToProto(c.registration_code_expire_time, out.mutable_registration_code_expire_time());
  }
  return out;
}

v1::CertificateAuthority ToProto(const CertificateAuthorityRecord& ca) {
  v1::CertificateAuthority out;
  out.set_ca_id(ca.ca_id);
  out.set_host(ca.host);
  out.set_ca_name(ca.ca_name);
  out.set_display_name(ca.display_name);
  out.set_config_string(absl::StrCat(ca.host, "\\", ca.ca_name));
  for (const auto& id : ca.connector_ids) out.add_connector_ids(id);
  ToProto(ca.create_time, out.mutable_create_time());
  return out;
}

v1::AuditEvent ToProto(const AuditEventRecord& e) {
  v1::AuditEvent out;
  // event_id is opaque and tenant-scoped: set by AdminApi (page_tokens.h).
  ToProto(e.time, out.mutable_time());
  out.set_actor(e.actor);
  out.set_action(e.action);
  out.set_object_id(e.object_id);
  out.set_details(e.details);
  return out;
}

v1::CertificateRequest ToProto(const CertificateRequestRecord& r) {
  v1::CertificateRequest out;
  out.set_name(r.name);
  out.set_request_id(r.request_id);
  out.set_ca_id(r.ca_id);
  out.set_template_name(r.template_name);
  v1::CertificateRequest::State state = v1::CertificateRequest::STATE_UNSPECIFIED;
  v1::CertificateRequest::State_Parse(absl::StrCat("STATE_", RequestStateName(r.state)), &state);
  out.set_state(state);
  ToProto(r.create_time, out.mutable_create_time());
  ToProto(r.update_time, out.mutable_update_time());
  out.set_device_id(r.device_id);
  out.mutable_labels()->insert(r.labels.begin(), r.labels.end());
  out.set_ca_request_id(r.ca_request_id);
  out.set_disposition(r.disposition);
  out.set_hresult(r.hresult);
  out.set_disposition_message(r.disposition_message);
  // The DER forms are the stored PEM blocks' base64, decoded, not parsed as X.509 again:
  // the certificate was parsed when the agent reported it (OutcomeOfJob), the chain is
  // passed on as the agent sent it (chain_der holds the same bytes as chain_pem), and
  // these parses were a tenth of the broker's CPU (docs/benchmarks.md, 2026-12-02).
  if (!r.certificate_pem.empty()) {
    out.set_certificate_pem(r.certificate_pem);
    absl::StatusOr<std::vector<std::string>> der =
        pki::PemBlocksDer(r.certificate_pem, "CERTIFICATE");
    if (der.ok() && !der->empty()) out.set_certificate_der(std::move(der->front()));
  }
  out.set_chain_pem(r.chain_pem);
  if (!r.chain_pem.empty()) {
    absl::StatusOr<std::vector<std::string>> chain = pki::PemBlocksDer(r.chain_pem, "CERTIFICATE");
    if (chain.ok()) {
      for (std::string& der : *chain) out.add_chain_der(std::move(der));
    }
  }
  out.set_serial_number(r.serial_hex);
  if (r.not_after != absl::InfinitePast()) ToProto(r.not_after, out.mutable_expire_time());
  out.set_pkcs12(r.pkcs12);
  out.set_enveloped_password(r.enveloped_password);
  out.set_error_code(r.error_code);
  out.set_error_message(r.error_message);
  out.set_remedy(r.remedy);
  out.set_waiting_reason(r.waiting_reason);
  out.set_connector_id(r.connector_id);
  out.set_ca_identity(r.ca_identity);
  if (r.revocation_reason >= 0) {  // -1: never revoked
    out.set_revocation_reason(static_cast<v1::RevocationReason>(r.revocation_reason));
  }
  if (r.revoke_time != absl::InfinitePast()) ToProto(r.revoke_time, out.mutable_revoke_time());
  return out;
}

v1::CertificateRequestEvent ToEvent(const CertificateRequestRecord& change) {
  v1::CertificateRequestEvent out;
  out.set_cursor(absl::StrCat(change.change_seq));
  *out.mutable_certificate_request() = ToProto(change);
  return out;
}

v1::DeliveryCertificate DeliveryCertificateToProto(const pki::CertificateInfo& cert) {
  v1::DeliveryCertificate out;
  out.set_certificate_pem(cert.pem);
  out.set_subject(cert.subject);
  ToProto(cert.not_after, out.mutable_expire_time());
  return out;
}

}  // namespace certbridge::broker
