#include "broker/service/proto_mapping.h"

#include "absl/strings/str_cat.h"

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

}  // namespace certbridge::broker
