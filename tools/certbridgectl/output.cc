#include "tools/certbridgectl/output.h"

#include <variant>
#include <utility>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tools/certbridgectl/table.h"

namespace certbridge::ctl {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

// "2026-11-22T11:03:38Z" or "" when unset (printed as "-").
std::string TimeCell(bool has, const google::protobuf::Timestamp& timestamp) {
  return has ? FormatRfc3339(ToAbslTime(timestamp)) : "";
}

// "2026-11-22T11:03:38Z (3d ago)" or "" when unset.
std::string TimeWithAge(bool has, const google::protobuf::Timestamp& timestamp,
                        absl::Time now) {
  if (!has) return "";
  const absl::Time time = ToAbslTime(timestamp);
  return absl::StrCat(FormatRfc3339(time), " (", FormatAge(time, now), ")");
}

std::string StateText(v1::Connector::State state) {
  return state == v1::Connector::STATE_UNSPECIFIED ? "" : v1::Connector::State_Name(state);
}

std::string ConfigString(const v1::CertificateAuthority& ca) {
  if (!ca.config_string().empty()) return ca.config_string();
  return absl::StrCat(ca.host(), "\\", ca.ca_name());
}

std::string Render(const AdminRequest&, const v1::Tenant& tenant, absl::Time now) {
  return absl::StrCat("Created tenant.\n",
                      RenderFields({{"Tenant ID", tenant.tenant_id()},
                                    {"Name", tenant.display_name()},
                                    {"Created", TimeWithAge(tenant.has_create_time(),
                                                            tenant.create_time(), now)}}));
}

std::string Render(const AdminRequest&, const v1::ListTenantsResponse& response, absl::Time) {
  if (response.tenants().empty()) return "No tenants.\n";
  Table table({"TENANT ID", "NAME", "CREATED"});
  for (const v1::Tenant& tenant : response.tenants()) {
    table.AddRow({tenant.tenant_id(), tenant.display_name(),
                  TimeCell(tenant.has_create_time(), tenant.create_time())});
  }
  return table.Render();
}

std::string Render(const AdminRequest&, const v1::CreateApiKeyResponse& response,
                   absl::Time now) {
  const v1::ApiKey& key = response.api_key();
  return absl::StrCat(
      "Created API key.\n",
      RenderFields({{"Key ID", key.key_id()},
                    {"Tenant ID", key.tenant_id()},
                    {"Name", key.display_name()},
                    {"Scopes", absl::StrJoin(key.scopes(), ",")},
                    {"Created", TimeWithAge(key.has_create_time(), key.create_time(), now)},
                    {"Secret", response.secret()}}));
}

std::string Render(const AdminRequest&, const v1::ListApiKeysResponse& response, absl::Time) {
  if (response.api_keys().empty()) return "No API keys.\n";
  Table table({"KEY ID", "TENANT ID", "NAME", "SCOPES", "CREATED"});
  for (const v1::ApiKey& key : response.api_keys()) {
    table.AddRow({key.key_id(), key.tenant_id(), key.display_name(),
                  absl::StrJoin(key.scopes(), ","),
                  TimeCell(key.has_create_time(), key.create_time())});
  }
  return table.Render();
}

std::string Render(const AdminRequest&, const v1::CreateEnrollmentTokenResponse& response,
                   absl::Time now) {
  return absl::StrCat(
      "Created enrollment token (single use).\n",
      RenderFields({{"Token", response.token()},
                    {"Expires", TimeWithAge(response.has_expire_time(),
                                            response.expire_time(), now)}}));
}

std::string Render(const AdminRequest&, const v1::CertificateAuthority& ca, absl::Time now) {
  return absl::StrCat(
      "Added certificate authority.\n",
      RenderFields({{"CA ID", ca.ca_id()},
                    {"Config string", ConfigString(ca)},
                    {"Display name", ca.display_name()},
                    {"Connectors", absl::StrJoin(ca.connector_ids(), ",")},
                    {"Created", TimeWithAge(ca.has_create_time(), ca.create_time(), now)}}));
}

std::string Render(const AdminRequest&, const v1::ListCertificateAuthoritiesResponse& response,
                   absl::Time) {
  if (response.certificate_authorities().empty()) return "No certificate authorities.\n";
  Table table({"CA ID", "CONFIG STRING", "DISPLAY NAME", "CONNECTORS", "CREATED"});
  for (const v1::CertificateAuthority& ca : response.certificate_authorities()) {
    table.AddRow({ca.ca_id(), ConfigString(ca), ca.display_name(),
                  absl::StrJoin(ca.connector_ids(), ","),
                  TimeCell(ca.has_create_time(), ca.create_time())});
  }
  return table.Render();
}

// The sentence before a connector's details, naming what just happened to it.
std::string ConnectorHeadline(const AdminRequest& request, const v1::Connector& connector) {
  const std::string& id = connector.connector_id();
  if (std::holds_alternative<v1::ApproveConnectorRequest>(request)) {
    return absl::StrCat("Approved connector ", id, ".\n");
  }
  if (std::holds_alternative<v1::RejectConnectorRequest>(request)) {
    return absl::StrCat("Rejected connector ", id, ".\n");
  }
  if (std::holds_alternative<v1::DisableConnectorRequest>(request)) {
    return absl::StrCat("Disabled connector ", id, ".\n");
  }
  if (std::holds_alternative<v1::EnableConnectorRequest>(request)) {
    return absl::StrCat("Enabled connector ", id, ".\n");
  }
  if (const auto* assign = std::get_if<v1::AssignCertificateAuthorityRequest>(&request)) {
    return absl::StrCat("Assigned certificate authority ", assign->ca_id(), " to connector ",
                        id, ".\n");
  }
  if (const auto* unassign = std::get_if<v1::UnassignCertificateAuthorityRequest>(&request)) {
    return absl::StrCat("Unassigned certificate authority ", unassign->ca_id(),
                        " from connector ", id, ".\n");
  }
  return "";
}

std::string Render(const AdminRequest& request, const v1::Connector& c, absl::Time now) {
  Fields fields = {
      {"Connector ID", c.connector_id()},
      {"State", StateText(c.state())},
      {"Connectivity", ConnectivityText(c, now)},
      {"Host", c.host()},
      {"OS", c.os()},
      {"Agent version", c.agent_version()},
      {"CA identity", c.ca_identity()},
      {"CAs", absl::StrJoin(c.ca_ids(), ",")},
      {"Last seen", TimeWithAge(c.has_last_seen_time(), c.last_seen_time(), now)},
      {"Created", TimeWithAge(c.has_create_time(), c.create_time(), now)},
      {"Approved", TimeWithAge(c.has_approve_time(), c.approve_time(), now)},
      {"Certificate serial", c.certificate_serial()},
      {"Certificate expires",
       TimeWithAge(c.has_certificate_expire_time(), c.certificate_expire_time(), now)},
  };
  if (c.has_registration_code_expire_time()) {
    fields.emplace_back("Registration code expires",
                        TimeWithAge(true, c.registration_code_expire_time(), now));
  }
  return absl::StrCat(ConnectorHeadline(request, c), RenderFields(fields));
}

std::string Render(const AdminRequest&, const v1::ListConnectorsResponse& response,
                   absl::Time now) {
  if (response.connectors().empty()) return "No connectors.\n";
  Table table({"CONNECTOR ID", "STATE", "CONNECTIVITY", "HOST", "CA IDENTITY", "VERSION",
               "CAS"});
  for (const v1::Connector& c : response.connectors()) {
    table.AddRow({c.connector_id(), StateText(c.state()), ConnectivityText(c, now), c.host(),
                  c.ca_identity(), c.agent_version(), absl::StrJoin(c.ca_ids(), ",")});
  }
  return table.Render();
}

std::string Render(const AdminRequest& request, const v1::ListAuditEventsResponse& response,
                   absl::Time) {
  std::string out;
  if (response.events().empty()) {
    out = "No audit events.\n";
  } else {
    Table table({"TIME", "ACTOR", "ACTION", "OBJECT", "DETAILS"});
    for (const v1::AuditEvent& event : response.events()) {
      table.AddRow({TimeCell(event.has_time(), event.time()), event.actor(), event.action(),
                    event.object_id(), event.details()});
    }
    out = table.Render();
  }
  if (!response.next_page_token().empty()) {
    std::string limit;
    if (const auto* list = std::get_if<v1::ListAuditEventsRequest>(&request);
        list != nullptr && list->page_size() > 0) {
      limit = absl::StrCat(" --limit ", list->page_size());
    }
    absl::StrAppend(&out, "\nMore events: certbridgectl audit list", limit, " --page-token ",
                    response.next_page_token(), "\n");
  }
  return out;
}

std::string Render(const AdminRequest& request, const google::protobuf::Empty&, absl::Time) {
  if (const auto* ca = std::get_if<v1::DeleteCertificateAuthorityRequest>(&request)) {
    return absl::StrCat("Deleted certificate authority ", ca->ca_id(), ".\n");
  }
  if (const auto* connector = std::get_if<v1::DeleteConnectorRequest>(&request)) {
    return absl::StrCat("Deleted connector ", connector->connector_id(), ".\n");
  }
  return "Done.\n";
}

}  // namespace

absl::Time ToAbslTime(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

std::string ConnectivityText(const v1::Connector& connector, absl::Time now) {
  const bool seen = connector.has_last_seen_time();
  const std::string age =
      seen ? absl::StrCat(" ", FormatAge(ToAbslTime(connector.last_seen_time()), now)) : "";
  switch (connector.connectivity()) {
    case v1::Connector::CONNECTED:
      return absl::StrCat("CONNECTED", age);
    case v1::Connector::DISCONNECTED:
      return seen ? absl::StrCat("DISCONNECTED", age) : "NEVER CONNECTED";
    default:
      return "";
  }
}

std::string RenderTable(const AdminRequest& request, const AdminResponse& response,
                        absl::Time now) {
  return std::visit([&](const auto& message) { return Render(request, message, now); },
                    response);
}

absl::StatusOr<std::string> RenderJson(const AdminResponse& response) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  const auto status = std::visit(
      [&](const auto& message) {
        return google::protobuf::util::MessageToJsonString(message, &json, options);
      },
      response);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("printing the response as JSON: ", status.ToString()));
  }
  if (json.empty() || json.back() != '\n') json += '\n';
  return json;
}

std::string ShownOnceNotice(const AdminResponse& response) {
  if (std::holds_alternative<v1::CreateApiKeyResponse>(response)) {
    return "This secret is shown only now and cannot be retrieved again: store it in your "
           "secret manager.\n";
  }
  if (std::holds_alternative<v1::CreateEnrollmentTokenResponse>(response)) {
    return "This token is shown only now and cannot be retrieved again: hand it to whoever "
           "installs the connector.\n";
  }
  return "";
}

std::string FormatCallError(const absl::Status& status) {
  std::string out = absl::StrCat("error: ", absl::StatusCodeToString(status.code()), ": ",
                                 status.message(), "\n");
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      absl::StrAppend(&out,
                      "hint: the broker could not be reached over TLS: check that --broker "
                      "(CERTBRIDGE_BROKER) is its API address and that --ca-cert "
                      "(CERTBRIDGE_CA_CERT) holds the root that signed its certificate.\n");
      break;
    case absl::StatusCode::kUnauthenticated:
      absl::StrAppend(&out,
                      "hint: the broker did not accept the API key: check --api-key-file or "
                      "CERTBRIDGE_API_KEY; a deleted or mistyped key looks the same.\n");
      break;
    case absl::StatusCode::kPermissionDenied:
      absl::StrAppend(&out,
                      "hint: this key may not do that: tenants need the operator key; tenant "
                      "objects need a tenant API key with the admin scope.\n");
      break;
    case absl::StatusCode::kDeadlineExceeded:
      absl::StrAppend(&out,
                      "hint: no answer within --timeout; raise it or check the broker's "
                      "health.\n");
      break;
    default:
      break;
  }
  return out;
}

}  // namespace certbridge::ctl
