#include "tools/certbridgectl/output.h"

#include <map>
#include <utility>
#include <variant>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/api_error.h"
#include "common/pki/delivery.h"
#include "common/pki/pki.h"
#include "tools/certbridgectl/command_line.h"
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
  return state == v1::Connector::STATE_UNSPECIFIED ? "" : std::string(absl::StripPrefix(v1::Connector::State_Name(state), "STATE_"));
}

std::string ConfigString(const v1::CertificateAuthority& ca) {
  if (!ca.config_string().empty()) return ca.config_string();
  return absl::StrCat(ca.host(), "\\", ca.ca_name());
}

std::string Render(const BrokerRequest&, const v1::Tenant& tenant, absl::Time now) {
  return absl::StrCat("Created tenant.\n",
                      RenderFields({{"Tenant ID", tenant.tenant_id()},
                                    {"Name", tenant.display_name()},
                                    {"Created", TimeWithAge(tenant.has_create_time(),
                                                            tenant.create_time(), now)}}));
}

std::string Render(const BrokerRequest&, const v1::ListTenantsResponse& response, absl::Time) {
  if (response.tenants().empty()) return "No tenants.\n";
  Table table({"TENANT ID", "NAME", "CREATED"});
  for (const v1::Tenant& tenant : response.tenants()) {
    table.AddRow({tenant.tenant_id(), tenant.display_name(),
                  TimeCell(tenant.has_create_time(), tenant.create_time())});
  }
  return table.Render();
}

std::string Render(const BrokerRequest&, const v1::CreateApiKeyResponse& response,
                   absl::Time now) {
  const v1::ApiKey& key = response.api_key();
  return absl::StrCat(
      "Created API key.\n",
      RenderFields({{"Key ID", key.key_id()},
                    {"Tenant ID", key.tenant_id()},
                    {"Name", key.display_name()},
                    {"Scopes", absl::StrJoin(key.scopes(), ",")},
                    {"Created", TimeWithAge(key.has_create_time(), key.create_time(), now)},
                    {"Expires", TimeWithAge(key.has_expire_time(), key.expire_time(), now)},
                    {"Secret", response.secret()}}));
}

// "ACTIVE", "REVOKED" or "EXPIRED", as the broker would answer the key now.
std::string ApiKeyState(const v1::ApiKey& key, absl::Time now) {
  if (key.has_revoke_time()) return "REVOKED";
  if (key.has_expire_time() && ToAbslTime(key.expire_time()) <= now) return "EXPIRED";
  return "ACTIVE";
}

std::string Render(const BrokerRequest&, const v1::ListApiKeysResponse& response,
                   absl::Time now) {
  if (response.api_keys().empty()) return "No API keys.\n";
  Table table({"KEY ID", "TENANT ID", "NAME", "SCOPES", "STATE", "CREATED", "EXPIRES",
               "LAST USED"});
  for (const v1::ApiKey& key : response.api_keys()) {
    table.AddRow({key.key_id(), key.tenant_id(), key.display_name(),
                  absl::StrJoin(key.scopes(), ","), ApiKeyState(key, now),
                  TimeCell(key.has_create_time(), key.create_time()),
                  TimeCell(key.has_expire_time(), key.expire_time()),
                  TimeCell(key.has_last_use_time(), key.last_use_time())});
  }
  return table.Render();
}

std::string Render(const BrokerRequest&, const v1::ApiKey& key, absl::Time now) {
  return absl::StrCat(
      "Revoked API key.\n",
      RenderFields({{"Key ID", key.key_id()},
                    {"Tenant ID", key.tenant_id()},
                    {"Name", key.display_name()},
                    {"State", ApiKeyState(key, now)},
                    {"Revoked", TimeWithAge(key.has_revoke_time(), key.revoke_time(), now)},
                    {"Last used",
                     TimeWithAge(key.has_last_use_time(), key.last_use_time(), now)}}));
}

std::string Render(const BrokerRequest&, const v1::CreateEnrollmentTokenResponse& response,
                   absl::Time now) {
  return absl::StrCat(
      "Created enrollment token (single use).\n",
      RenderFields({{"Token", response.token()},
                    {"Expires", TimeWithAge(response.has_expire_time(),
                                            response.expire_time(), now)}}));
}

std::string Render(const BrokerRequest&, const v1::CertificateAuthority& ca, absl::Time now) {
  return absl::StrCat(
      "Added certificate authority.\n",
      RenderFields({{"CA ID", ca.ca_id()},
                    {"Config string", ConfigString(ca)},
                    {"Display name", ca.display_name()},
                    {"Connectors", absl::StrJoin(ca.connector_ids(), ",")},
                    {"Created", TimeWithAge(ca.has_create_time(), ca.create_time(), now)}}));
}

std::string Render(const BrokerRequest&, const v1::ListCertificateAuthoritiesResponse& response,
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
std::string ConnectorHeadline(const BrokerRequest& request, const v1::Connector& connector) {
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

std::string Render(const BrokerRequest& request, const v1::Connector& c, absl::Time now) {
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
  std::string pin_note;
  if (std::holds_alternative<v1::ApproveConnectorRequest>(request)) {
    // What the agent pins at registration; the admin checks it against the MDM vendor's.
    pin_note =
        c.delivery_certificate_sha256().empty()
            ? "\nDelivery certificate: none. The tenant has no delivery certificate, so the agent\n"
              "pins none at registration: its first key-generation job pins the certificate that\n"
              "job carries (trust on first use). Set one first (certbridgectl\n"
              "delivery-certificate set FILE) for new agents to pin it when approved.\n"
            : absl::StrCat(
                  "\nDelivery certificate SHA-256 (the agent pins it at registration):\n  ",
                  pki::FormatSha256Fingerprint(c.delivery_certificate_sha256()),
                  "\nCompare it with the fingerprint your MDM vendor publishes. The agent refuses\n"
                  "key-generation jobs that carry another delivery certificate.\n");
  }
  return absl::StrCat(ConnectorHeadline(request, c), RenderFields(fields), pin_note);
}

std::string Render(const BrokerRequest&, const v1::ListConnectorsResponse& response,
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

std::string Render(const BrokerRequest& request, const v1::ListAuditEventsResponse& response,
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

std::string Render(const BrokerRequest& request, const v1::DeliveryCertificate& certificate,
                   absl::Time now) {
  const bool set = std::holds_alternative<v1::SetDeliveryCertificateRequest>(request);
  return absl::StrCat(
      set ? "Set the delivery certificate.\n" : "",
      RenderFields({{"Subject", certificate.subject()},
                    {"Not after", TimeWithAge(certificate.has_expire_time(),
                                              certificate.expire_time(), now)}}),
      certificate.certificate_pem().empty() ? "" : "\n", certificate.certificate_pem());
}

using State = v1::CertificateRequest::State;

std::string StateText(State state) {
  return state == v1::CertificateRequest::STATE_UNSPECIFIED
             ? ""
             : std::string(absl::StripPrefix(v1::CertificateRequest::State_Name(state), "STATE_"));
}

bool IsWaiting(State state) {
  return state == v1::CertificateRequest::STATE_QUEUED ||
         state == v1::CertificateRequest::STATE_DISPATCHED ||
         state == v1::CertificateRequest::STATE_PENDING_APPROVAL;
}

// The sentence before a certificate request's details, naming what just happened.
std::string CertificateRequestHeadline(const BrokerRequest& request,
                                       const v1::CertificateRequest& r) {
  if (std::holds_alternative<v1::CancelCertificateRequestRequest>(request)) {
    return absl::StrCat("Cancelled certificate request ", r.name(), ".\n");
  }
  if (std::holds_alternative<v1::RevokeCertificateRequest>(request)) {
    return absl::StrCat("Revoked certificate ", r.serial_number(), " (request ", r.name(),
                        ").\n");
  }
  if (!std::holds_alternative<v1::CreateCertificateRequestRequest>(request)) return "";
  switch (r.state()) {
    case v1::CertificateRequest::STATE_ISSUED:
      return "Certificate issued.\n";
    case v1::CertificateRequest::STATE_DENIED:
      return "The CA denied the request.\n";
    case v1::CertificateRequest::STATE_FAILED:
      return "The request failed.\n";
    case v1::CertificateRequest::STATE_EXPIRED:
      return "The request expired before it was issued.\n";
    case v1::CertificateRequest::STATE_CANCELLED:
      return "The request was cancelled.\n";
    default:
      return IsWaiting(r.state())
                 ? absl::StrCat("Not issued yet: the request is ", StateText(r.state()), ".\n")
                 : "";
  }
}

std::string Render(const BrokerRequest& request, const v1::CertificateRequest& r,
                   absl::Time now) {
  Fields fields = {
      {"Name", r.name()},
      {"Request ID", r.request_id()},
      {"State", StateText(r.state())},
      {"CA ID", r.ca_id()},
      {"Template", r.template_name()},
  };
  if (!r.device_id().empty()) fields.emplace_back("Device ID", r.device_id());
  if (!r.labels().empty()) {
    // protobuf maps have no order; sort so the output is stable.
    std::map<std::string, std::string> labels(r.labels().begin(), r.labels().end());
    fields.emplace_back("Labels", absl::StrJoin(labels, ",", absl::PairFormatter("=")));
  }
  if (r.ca_request_id() != 0) fields.emplace_back("CA request ID", absl::StrCat(r.ca_request_id()));
  if (!r.waiting_reason().empty()) fields.emplace_back("Waiting for", r.waiting_reason());
  const std::string& certificate =
      r.certificate_pem().empty() ? r.certificate_der() : r.certificate_pem();
  if (!certificate.empty() || !r.serial_number().empty()) {
    absl::StatusOr<pki::CertificateInfo> info = pki::ParseCertificate(certificate);
    std::string subject, issuer, serial = r.serial_number();
    std::string not_after = TimeWithAge(r.has_expire_time(), r.expire_time(), now);
    if (info.ok()) {
      subject = info->subject;
      issuer = info->issuer;
      if (serial.empty()) serial = info->serial_hex;
      if (not_after.empty()) {
        not_after = absl::StrCat(FormatRfc3339(info->not_after), " (",
                                 FormatAge(info->not_after, now), ")");
      }
    } else if (!certificate.empty()) {
      subject = absl::StrCat("(cannot read the certificate: ", info.status().message(), ")");
    }
    fields.emplace_back("Serial", serial);
    fields.emplace_back("Subject", subject);
    fields.emplace_back("Issuer", issuer);
    fields.emplace_back("Not after", not_after);
  }
  if (!r.pkcs12().empty()) {
    fields.emplace_back("PKCS#12", absl::StrCat(r.pkcs12().size(), " bytes, password "
                                                "enveloped to the delivery certificate"));
  }
  if (r.state() == v1::CertificateRequest::STATE_REVOKED || r.has_revoke_time()) {
    fields.emplace_back("Revoked", absl::StrCat(TimeWithAge(r.has_revoke_time(),
                                                            r.revoke_time(), now),
                                                " (", RevocationReasonName(r.revocation_reason()),
                                                ")"));
  }
  if (!r.error_code().empty() || !r.error_message().empty() || r.hresult() != 0 ||
      !r.disposition_message().empty()) {
    fields.emplace_back("Error code", r.error_code());
    fields.emplace_back("Error", r.error_message());
    fields.emplace_back("HRESULT", r.hresult() == 0 ? ""
                                                    : absl::StrFormat("0x%08X", r.hresult()));
    fields.emplace_back("CA message", r.disposition_message());
    fields.emplace_back("Remedy", r.remedy());
  }
  if (!r.connector_id().empty()) {
    fields.emplace_back("Connector", r.ca_identity().empty()
                                         ? r.connector_id()
                                         : absl::StrCat(r.connector_id(), " (", r.ca_identity(),
                                                        ")"));
  }
  fields.emplace_back("Created", TimeWithAge(r.has_create_time(), r.create_time(), now));
  fields.emplace_back("Updated", TimeWithAge(r.has_update_time(), r.update_time(), now));
  std::string out = absl::StrCat(CertificateRequestHeadline(request, r), RenderFields(fields));
  if (std::holds_alternative<v1::CreateCertificateRequestRequest>(request) &&
      IsWaiting(r.state())) {
    absl::StrAppend(&out, "\nCheck later: certbridgectl certificates get ", r.name(), "\n");
  }
  return out;
}

std::string Render(const BrokerRequest& request,
                   const v1::ListCertificateRequestsResponse& response, absl::Time) {
  std::string out;
  if (response.certificate_requests().empty()) {
    out = "No certificate requests.\n";
  } else {
    Table table({"NAME", "STATE", "CA ID", "TEMPLATE", "DEVICE ID", "SERIAL", "NOT AFTER",
                 "UPDATED"});
    for (const v1::CertificateRequest& r : response.certificate_requests()) {
      table.AddRow({r.name(), StateText(r.state()), r.ca_id(), r.template_name(), r.device_id(),
                    r.serial_number(), TimeCell(r.has_expire_time(), r.expire_time()),
                    TimeCell(r.has_update_time(), r.update_time())});
    }
    out = table.Render();
  }
  if (!response.next_page_token().empty()) {
    std::string filters;
    if (const auto* list = std::get_if<v1::ListCertificateRequestsRequest>(&request)) {
      if (list->state() != v1::CertificateRequest::STATE_UNSPECIFIED) {
        absl::StrAppend(&filters, " --state ", StateText(list->state()));
      }
      if (!list->ca_id().empty()) absl::StrAppend(&filters, " --ca ", list->ca_id());
      if (!list->device_id().empty()) {
        absl::StrAppend(&filters, " --device-id ", list->device_id());
      }
      if (list->page_size() > 0) absl::StrAppend(&filters, " --limit ", list->page_size());
    }
    absl::StrAppend(&out, "\nMore requests: certbridgectl certificates list", filters,
                    " --page-token ", response.next_page_token(), "\n");
  }
  return out;
}

std::string Render(const BrokerRequest& request, const google::protobuf::Empty&, absl::Time) {
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
    case v1::Connector::CONNECTIVITY_CONNECTED:
      return absl::StrCat("CONNECTED", age);
    case v1::Connector::CONNECTIVITY_DISCONNECTED:
      return seen ? absl::StrCat("DISCONNECTED", age) : "NEVER CONNECTED";
    default:
      return "";
  }
}

std::string RenderTable(const BrokerRequest& request, const BrokerResponse& response,
                        absl::Time now) {
  return std::visit([&](const auto& message) { return Render(request, message, now); },
                    response);
}

absl::StatusOr<std::string> RenderJsonLine(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("printing the event as JSON: ", status.ToString()));
  }
  return json + "\n";
}

std::string RenderWatchLine(const v1::CertificateRequestEvent& event) {
  const v1::CertificateRequest& r = event.certificate_request();
  std::string time = TimeCell(r.has_update_time(), r.update_time());
  std::string line = absl::StrCat(time.empty() ? "-" : time, " ", r.name(), " ",
                                  StateText(r.state()), " ca=", r.ca_id(),
                                  " template=", r.template_name());
  if (!r.device_id().empty()) absl::StrAppend(&line, " device=", r.device_id());
  if (!r.serial_number().empty()) absl::StrAppend(&line, " serial=", r.serial_number());
  if (!r.error_code().empty()) absl::StrAppend(&line, " error=", r.error_code());
  absl::StrAppend(&line, " cursor=", event.cursor(), "\n");
  return line;
}

absl::StatusOr<std::string> RenderJson(const BrokerResponse& response) {
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

std::string ShownOnceNotice(const BrokerResponse& response) {
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

std::string FormatCallError(const absl::Status& status, absl::string_view command) {
  const bool certificates = absl::StartsWith(command, "certificates ");
  std::string out = absl::StrCat("error: ", absl::StatusCodeToString(status.code()), ": ",
                                 status.message(), "\n");
  // The broker keeps command lines out of its messages (MDMs show them in their own UI)
  // and sends what a person should do as the remedy (docs/certificates.md, "Errors").
  if (const std::string remedy = DetailsOf(status).Remedy(); !remedy.empty()) {
    absl::StrAppend(&out, "remedy: ", remedy, "\n");
  }
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
      absl::StrAppend(&out, certificates
                                ? "hint: certificates commands need a tenant API key with the "
                                  "certificates scope.\n"
                                : "hint: this key may not do that: tenants need the operator "
                                  "key; tenant objects need a tenant API key with the admin "
                                  "scope.\n");
      break;
    case absl::StatusCode::kAlreadyExists:
      if (command == "certificates request") {
        absl::StrAppend(&out,
                        "hint: a request with this --request-id exists with other "
                        "parameters: repeat it exactly, or use a new --request-id.\n");
      }
      break;
    case absl::StatusCode::kFailedPrecondition:
      if (command == "certificates request") {
        absl::StrAppend(&out,
                        "hint: key-generation mode needs the tenant's delivery certificate: "
                        "see 'certbridgectl delivery-certificate get'.\n");
      } else if (command == "certificates cancel") {
        absl::StrAppend(&out, "hint: only QUEUED requests can be cancelled: see "
                              "'certbridgectl certificates get NAME'.\n");
      } else if (command == "certificates revoke") {
        absl::StrAppend(&out, "hint: only ISSUED certificates can be revoked: see "
                              "'certbridgectl certificates get NAME'.\n");
      }
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
