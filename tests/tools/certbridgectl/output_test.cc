#include "tools/certbridgectl/output.h"

#include <google/protobuf/util/json_util.h>

#include "common/api_error.h"
#include "common/pki/pki.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certbridge::ctl {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);  // 2027-01-15T08:00:00Z

google::protobuf::Timestamp Ago(absl::Duration age) {
  google::protobuf::Timestamp timestamp;
  timestamp.set_seconds(absl::ToUnixSeconds(kNow - age));
  return timestamp;
}

v1::Connector ActiveConnector() {
  v1::Connector connector;
  connector.set_connector_id("c-42");
  connector.set_state(v1::Connector::STATE_ACTIVE);
  connector.set_connectivity(v1::Connector::CONNECTIVITY_CONNECTED);
  connector.set_host("adcs01.corp.example.com");
  connector.set_os("Windows Server 2022");
  connector.set_agent_version("1.4.0");
  connector.set_ca_identity("CORP\\ADCS01$");
  connector.add_ca_ids("ca-1");
  connector.add_ca_ids("ca-2");
  *connector.mutable_last_seen_time() = Ago(absl::Seconds(12));
  *connector.mutable_create_time() = Ago(absl::Hours(72));
  return connector;
}

TEST(OutputTest, ConnectorsListIsAnAlignedTable) {
  v1::ListConnectorsResponse response;
  *response.add_connectors() = ActiveConnector();
  v1::Connector* pending = response.add_connectors();
  pending->set_connector_id("c-43");
  pending->set_state(v1::Connector::STATE_PENDING);
  pending->set_connectivity(v1::Connector::CONNECTIVITY_DISCONNECTED);
  pending->set_host("adcs02");
  EXPECT_EQ(RenderTable(v1::ListConnectorsRequest(), response, kNow),
            "CONNECTOR ID   STATE     CONNECTIVITY        HOST                      "
            "CA IDENTITY    VERSION   CAS\n"
            "c-42           ACTIVE    CONNECTED 12s ago   adcs01.corp.example.com   "
            "CORP\\ADCS01$   1.4.0     ca-1,ca-2\n"
            "c-43           PENDING   NEVER CONNECTED     adcs02                    "
            "-              -         -\n");
}

TEST(OutputTest, EmptyListsSayNothingIsThere) {
  EXPECT_EQ(RenderTable(v1::ListConnectorsRequest(), v1::ListConnectorsResponse(), kNow),
            "No connectors.\n");
  EXPECT_EQ(RenderTable(v1::ListTenantsRequest(), v1::ListTenantsResponse(), kNow),
            "No tenants.\n");
  EXPECT_EQ(RenderTable(v1::ListApiKeysRequest(), v1::ListApiKeysResponse(), kNow),
            "No API keys.\n");
  EXPECT_EQ(RenderTable(v1::ListCertificateAuthoritiesRequest(),
                        v1::ListCertificateAuthoritiesResponse(), kNow),
            "No certificate authorities.\n");
  EXPECT_EQ(RenderTable(v1::ListAuditEventsRequest(), v1::ListAuditEventsResponse(), kNow),
            "No audit events.\n");
}

TEST(OutputTest, ConnectivityReadsLikeKubectl) {
  v1::Connector connector = ActiveConnector();
  EXPECT_EQ(ConnectivityText(connector, kNow), "CONNECTED 12s ago");
  connector.set_connectivity(v1::Connector::CONNECTIVITY_DISCONNECTED);
  *connector.mutable_last_seen_time() = Ago(absl::Hours(3));
  EXPECT_EQ(ConnectivityText(connector, kNow), "DISCONNECTED 3h ago");
  connector.clear_last_seen_time();
  EXPECT_EQ(ConnectivityText(connector, kNow), "NEVER CONNECTED");
  connector.set_connectivity(v1::Connector::CONNECTIVITY_CONNECTED);
  EXPECT_EQ(ConnectivityText(connector, kNow), "CONNECTED");
  connector.set_connectivity(v1::Connector::CONNECTIVITY_UNSPECIFIED);
  EXPECT_EQ(ConnectivityText(connector, kNow), "");
}

TEST(OutputTest, ApprovedConnectorShowsWhatHappenedAndItsDetails) {
  v1::ApproveConnectorRequest request;
  request.set_registration_code("K7XQ-2M9P");
  const std::string text = RenderTable(request, ActiveConnector(), kNow);
  EXPECT_THAT(text, ::testing::StartsWith("Approved connector c-42.\nConnector ID:"));
  EXPECT_THAT(text, HasSubstr("\nConnectivity:        CONNECTED 12s ago\n"));
  EXPECT_THAT(text, HasSubstr("\nCA identity:         CORP\\ADCS01$\n"));
  EXPECT_THAT(text, HasSubstr("\nCreated:             2027-01-12T08:00:00Z (3d ago)\n"));
  EXPECT_THAT(text, HasSubstr("\nApproved:            -\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("Registration code expires")));
}

TEST(OutputTest, ApprovalShowsTheDeliveryCertificateFingerprintTheAgentPins) {
  v1::ApproveConnectorRequest request;
  request.set_registration_code("K7XQ-2M9P");
  v1::Connector connector = ActiveConnector();
  connector.set_delivery_certificate_sha256(std::string(62, 'a') + "0f");
  const std::string text = RenderTable(request, connector, kNow);
  EXPECT_THAT(text, HasSubstr("\nDelivery certificate SHA-256 (the agent pins it at "
                              "registration):\n  AA:AA:"));
  EXPECT_THAT(text, HasSubstr(":AA:0F\nCompare it with the fingerprint your MDM vendor"));
  // Only the approval, where the admin can still compare before the agent pins it.
  EXPECT_THAT(RenderTable(v1::GetConnectorRequest(), connector, kNow),
              ::testing::Not(HasSubstr("Delivery certificate")));
}

TEST(OutputTest, ApprovalWithoutDeliveryCertificateSaysTheAgentPinsOnFirstUse) {
  v1::ApproveConnectorRequest request;
  request.set_registration_code("K7XQ-2M9P");
  const std::string text = RenderTable(request, ActiveConnector(), kNow);
  EXPECT_THAT(text, HasSubstr("\nDelivery certificate: none."));
  EXPECT_THAT(text, HasSubstr("(trust on first use)"));
}

TEST(OutputTest, GetConnectorHasNoHeadline) {
  EXPECT_THAT(RenderTable(v1::GetConnectorRequest(), ActiveConnector(), kNow),
              ::testing::StartsWith("Connector ID:"));
  v1::AssignCertificateAuthorityRequest assign;
  assign.set_ca_id("ca-9");
  EXPECT_THAT(RenderTable(assign, ActiveConnector(), kNow),
              ::testing::StartsWith("Assigned certificate authority ca-9 to connector c-42.\n"));
}

TEST(OutputTest, DeletionsAreOneSentence) {
  v1::DeleteConnectorRequest connector;
  connector.set_connector_id("c-42");
  EXPECT_EQ(RenderTable(connector, google::protobuf::Empty(), kNow),
            "Deleted connector c-42.\n");
  v1::DeleteCertificateAuthorityRequest ca;
  ca.set_ca_id("ca-1");
  EXPECT_EQ(RenderTable(ca, google::protobuf::Empty(), kNow),
            "Deleted certificate authority ca-1.\n");
}

TEST(OutputTest, ApiKeySecretIsPrintedWithAShownOnceNotice) {
  v1::CreateApiKeyResponse response;
  response.mutable_api_key()->set_key_id("k-1");
  response.mutable_api_key()->add_scopes("admin");
  response.mutable_api_key()->add_scopes("certificates");
  response.set_secret("cbk_s3cr3t");
  const std::string text = RenderTable(v1::CreateApiKeyRequest(), response, kNow);
  EXPECT_THAT(text, HasSubstr("\nSecret:    cbk_s3cr3t\n"));
  EXPECT_THAT(text, HasSubstr("\nScopes:    admin,certificates\n"));
  EXPECT_THAT(ShownOnceNotice(response), HasSubstr("shown only now"));
}

TEST(OutputTest, ApiKeyListShowsStateExpiryAndLastUse) {
  v1::ListApiKeysResponse response;
  v1::ApiKey* active = response.add_api_keys();
  active->set_key_id("k-active");
  *active->mutable_expire_time() = Ago(-absl::Hours(24));
  *active->mutable_last_use_time() = Ago(absl::Minutes(3));
  v1::ApiKey* expired = response.add_api_keys();
  expired->set_key_id("k-expired");
  *expired->mutable_expire_time() = Ago(absl::Hours(1));
  v1::ApiKey* revoked = response.add_api_keys();
  revoked->set_key_id("k-revoked");
  *revoked->mutable_revoke_time() = Ago(absl::Hours(2));
  const std::string text = RenderTable(v1::ListApiKeysRequest(), response, kNow);
  EXPECT_THAT(text, HasSubstr("LAST USED"));
  auto line_of = [&text](const std::string& key_id) {
    const size_t start = text.find(key_id);
    return start == std::string::npos ? std::string()
                                      : text.substr(start, text.find('\n', start) - start);
  };
  EXPECT_THAT(line_of("k-active"), HasSubstr(" ACTIVE "));
  EXPECT_THAT(line_of("k-expired"), HasSubstr(" EXPIRED "));
  EXPECT_THAT(line_of("k-revoked"), HasSubstr(" REVOKED "));
}

TEST(OutputTest, EnrollmentTokenShowsExpiry) {
  v1::CreateEnrollmentTokenResponse response;
  response.set_token("cbe_token");
  *response.mutable_expire_time() = Ago(-absl::Hours(24));
  EXPECT_EQ(RenderTable(v1::CreateEnrollmentTokenRequest(), response, kNow),
            "Created enrollment token (single use).\n"
            "Token:   cbe_token\n"
            "Expires: 2027-01-16T08:00:00Z (in 24h)\n");
  EXPECT_THAT(ShownOnceNotice(response), HasSubstr("shown only now"));
  EXPECT_EQ(ShownOnceNotice(v1::ListConnectorsResponse()), "");
}

TEST(OutputTest, CertificateAuthoritiesShowTheConfigString) {
  v1::ListCertificateAuthoritiesResponse response;
  v1::CertificateAuthority* ca = response.add_certificate_authorities();
  ca->set_ca_id("ca-1");
  ca->set_host("adcs01.corp.example.com");
  ca->set_ca_name("Corp Issuing CA");
  ca->add_connector_ids("c-42");
  *ca->mutable_create_time() = Ago(absl::ZeroDuration());
  EXPECT_EQ(RenderTable(v1::ListCertificateAuthoritiesRequest(), response, kNow),
            "CA ID   CONFIG STRING                             DISPLAY NAME   CONNECTORS   "
            "CREATED\n"
            "ca-1    adcs01.corp.example.com\\Corp Issuing CA   -              c-42         "
            "2027-01-15T08:00:00Z\n");
}

TEST(OutputTest, AuditListPointsAtTheNextPage) {
  v1::ListAuditEventsResponse response;
  v1::AuditEvent* event = response.add_events();
  *event->mutable_time() = Ago(absl::Minutes(5));
  event->set_actor("api-key:k-1");
  event->set_action("connector.approve");
  event->set_object_id("c-42");
  response.set_next_page_token("tok2");
  v1::ListAuditEventsRequest request;
  request.set_page_size(1);
  EXPECT_EQ(RenderTable(request, response, kNow),
            "TIME                   ACTOR         ACTION              OBJECT   DETAILS\n"
            "2027-01-15T07:55:00Z   api-key:k-1   connector.approve   c-42     -\n"
            "\n"
            "More events: certbridgectl audit list --limit 1 --page-token tok2\n");
}

TEST(OutputTest, JsonKeepsProtoFieldNamesAndRoundTrips) {
  v1::ListConnectorsResponse response;
  *response.add_connectors() = ActiveConnector();
  absl::StatusOr<std::string> json = RenderJson(response);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(*json, HasSubstr("\"connector_id\": \"c-42\""));
  EXPECT_THAT(*json, HasSubstr("\"last_seen_time\": \"2027-01-15T07:59:48Z\""));
  EXPECT_THAT(*json, HasSubstr("\"state\": \"STATE_ACTIVE\""));  // the proto enum name
  EXPECT_THAT(*json, HasSubstr("\"certificate_serial\": \"\""));
  EXPECT_EQ(json->back(), '\n');
  v1::ListConnectorsResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &parsed).ok());
  EXPECT_EQ(parsed.SerializeAsString(), response.SerializeAsString());
}

TEST(OutputTest, JsonOfEmptyListHasTheEmptyArray) {
  absl::StatusOr<std::string> json = RenderJson(v1::ListConnectorsResponse());
  ASSERT_TRUE(json.ok());
  EXPECT_THAT(*json, HasSubstr("\"connectors\": []"));
}

TEST(OutputTest, CallErrorsNameTheCodeAndHint) {
  EXPECT_EQ(FormatCallError(absl::NotFoundError("connector \"c-9\" not found")),
            "error: NOT_FOUND: connector \"c-9\" not found\n");
  const std::string unavailable = FormatCallError(absl::UnavailableError("connect failed"));
  EXPECT_THAT(unavailable, ::testing::StartsWith("error: UNAVAILABLE: connect failed\nhint: "));
  EXPECT_THAT(unavailable, HasSubstr("--broker"));
  EXPECT_THAT(unavailable, HasSubstr("--ca-cert"));
  const std::string unauthenticated = FormatCallError(absl::UnauthenticatedError("bad key"));
  EXPECT_THAT(unauthenticated, ::testing::StartsWith("error: UNAUTHENTICATED: bad key\nhint: "));
  EXPECT_THAT(unauthenticated, HasSubstr("API key"));
  EXPECT_THAT(FormatCallError(absl::PermissionDeniedError("no")), HasSubstr("hint: "));
  EXPECT_THAT(FormatCallError(absl::DeadlineExceededError("late")), HasSubstr("--timeout"));
  EXPECT_EQ(FormatCallError(absl::FailedPreconditionError("connector \"c-1\" is PENDING")),
            "error: FAILED_PRECONDITION: connector \"c-1\" is PENDING\n");
}

v1::CertificateRequest FailedRequest() {
  v1::CertificateRequest r;
  r.set_name("cr-81");
  r.set_request_id("r-1");
  r.set_ca_id("ca-1");
  r.set_template_name("WebServer");
  r.set_state(v1::CertificateRequest::STATE_DENIED);
  r.set_ca_request_id(4711);
  r.set_hresult(0x80094800u);
  r.set_error_code("CA_TEMPLATE_NOT_SUPPORTED");
  r.set_error_message("the CA does not offer template \"WebServer\"");
  r.set_disposition_message("Denied by Policy Module");
  r.set_remedy("Publish the template on the CA.");
  r.set_connector_id("c-42");
  r.set_ca_identity("CORP\\ADCS01$");
  *r.mutable_create_time() = Ago(absl::Seconds(40));
  *r.mutable_update_time() = Ago(absl::Seconds(2));
  return r;
}

TEST(OutputTest, FailedCertificateRequestShowsCodeHresultCaMessageAndRemedy) {
  v1::CreateCertificateRequestRequest request;
  EXPECT_EQ(RenderTable(request, FailedRequest(), kNow),
            "The CA denied the request.\n"
            "Name:          cr-81\n"
            "Request ID:    r-1\n"
            "State:         DENIED\n"
            "CA ID:         ca-1\n"
            "Template:      WebServer\n"
            "CA request ID: 4711\n"
            "Error code:    CA_TEMPLATE_NOT_SUPPORTED\n"
            "Error:         the CA does not offer template \"WebServer\"\n"
            "HRESULT:       0x80094800\n"
            "CA message:    Denied by Policy Module\n"
            "Remedy:        Publish the template on the CA.\n"
            "Connector:     c-42 (CORP\\ADCS01$)\n"
            "Created:       2027-01-15T07:59:20Z (40s ago)\n"
            "Updated:       2027-01-15T07:59:58Z (2s ago)\n");
  // `certificates get` shows the same without the headline.
  EXPECT_THAT(RenderTable(v1::GetCertificateRequestRequest(), FailedRequest(), kNow),
              ::testing::StartsWith("Name:          cr-81\n"));
}

TEST(OutputTest, SmallHresultIsStillEightDigits) {
  v1::CertificateRequest r = FailedRequest();
  r.set_hresult(0x5);
  EXPECT_THAT(RenderTable(v1::GetCertificateRequestRequest(), r, kNow),
              HasSubstr("\nHRESULT:       0x00000005\n"));
}

TEST(OutputTest, IssuedCertificateRequestReadsSubjectAndIssuerFromThePem) {
  auto ca = pki::SigningCa::CreateSelfSigned("CN=Corp Issuing CA,O=Corp",
                                             pki::KeyType::kEcP256, kNow - absl::Hours(1),
                                             kNow + absl::Hours(100));
  ASSERT_TRUE(ca.ok()) << ca.status();
  auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  ASSERT_TRUE(key.ok());
  auto csr = pki::CreateCsrPem(*key, {.subject = "CN=web01.corp.example.com,O=Corp"});
  ASSERT_TRUE(csr.ok());
  pki::IssueParams params;
  params.csr_der = pki::ParseCsr(*csr)->der;
  params.not_before = kNow - absl::Minutes(5);
  params.not_after = kNow + absl::Hours(72);
  params.serial_hex = "4F1C9A0E";
  auto leaf = (*ca)->Issue(params);
  ASSERT_TRUE(leaf.ok()) << leaf.status();

  v1::CertificateRequest r;
  r.set_name("cr-81");
  r.set_request_id("r-1");
  r.set_ca_id("ca-1");
  r.set_template_name("WebServer");
  r.set_state(v1::CertificateRequest::STATE_ISSUED);
  r.set_device_id("dev-42");
  (*r.mutable_labels())["zone"] = "eu";
  (*r.mutable_labels())["fleet"] = "ios";
  r.set_certificate_pem(leaf->pem);
  r.set_serial_number("4F1C9A0E");  // not_after unset: taken from the certificate.
  const std::string text = RenderTable(v1::CreateCertificateRequestRequest(), r, kNow);
  EXPECT_EQ(text,
            "Certificate issued.\n"
            "Name:       cr-81\n"
            "Request ID: r-1\n"
            "State:      ISSUED\n"
            "CA ID:      ca-1\n"
            "Template:   WebServer\n"
            "Device ID:  dev-42\n"
            "Labels:     fleet=ios,zone=eu\n"
            "Serial:     4F1C9A0E\n"
            "Subject:    CN=web01.corp.example.com,O=Corp\n"
            "Issuer:     CN=Corp Issuing CA,O=Corp\n"
            "Not after:  2027-01-18T08:00:00Z (in 3d)\n"
            "Created:    -\n"
            "Updated:    -\n");
}

TEST(OutputTest, WaitingRequestSaysWhyAndHowToCheckLater) {
  v1::CertificateRequest r;
  r.set_name("cr-82");
  r.set_state(v1::CertificateRequest::STATE_QUEUED);
  r.set_waiting_reason("no connector assigned to CA ca-1 is connected");
  const std::string text = RenderTable(v1::CreateCertificateRequestRequest(), r, kNow);
  EXPECT_THAT(text, ::testing::StartsWith("Not issued yet: the request is QUEUED.\n"));
  EXPECT_THAT(text, HasSubstr("\nWaiting for: no connector assigned to CA ca-1 is connected\n"));
  EXPECT_THAT(text, ::testing::EndsWith("\nCheck later: certbridgectl certificates get cr-82\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("Serial:")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("HRESULT")));
}

TEST(OutputTest, CancelAndRevokeSayWhatHappened) {
  v1::CertificateRequest r;
  r.set_name("cr-83");
  r.set_state(v1::CertificateRequest::STATE_CANCELLED);
  EXPECT_THAT(RenderTable(v1::CancelCertificateRequestRequest(), r, kNow),
              ::testing::StartsWith("Cancelled certificate request cr-83.\nName:"));
  r.set_state(v1::CertificateRequest::STATE_REVOKED);
  r.set_serial_number("0AFF");
  r.set_revocation_reason(v1::REVOCATION_REASON_CESSATION_OF_OPERATION);
  *r.mutable_revoke_time() = Ago(absl::Seconds(1));
  const std::string text = RenderTable(v1::RevokeCertificateRequest(), r, kNow);
  EXPECT_THAT(text, ::testing::StartsWith("Revoked certificate 0AFF (request cr-83).\n"));
  EXPECT_THAT(text, HasSubstr("\nRevoked:    2027-01-15T07:59:59Z (1s ago) "
                              "(cessation-of-operation)\n"));
}

TEST(OutputTest, CertificateRequestListPointsAtTheNextPageWithTheSameFilters) {
  v1::ListCertificateRequestsResponse response;
  v1::CertificateRequest* r = response.add_certificate_requests();
  r->set_name("cr-81");
  r->set_state(v1::CertificateRequest::STATE_ISSUED);
  r->set_ca_id("ca-1");
  r->set_template_name("WebServer");
  r->set_serial_number("4F1C");
  *r->mutable_expire_time() = Ago(-absl::Hours(24));
  *r->mutable_update_time() = Ago(absl::Minutes(1));
  response.set_next_page_token("p2");
  v1::ListCertificateRequestsRequest request;
  request.set_state(v1::CertificateRequest::STATE_ISSUED);
  request.set_ca_id("ca-1");
  request.set_page_size(1);
  EXPECT_EQ(RenderTable(request, response, kNow),
            "NAME    STATE    CA ID   TEMPLATE    DEVICE ID   SERIAL   NOT AFTER              "
            "UPDATED\n"
            "cr-81   ISSUED   ca-1    WebServer   -           4F1C     2027-01-16T08:00:00Z   "
            "2027-01-15T07:59:00Z\n"
            "\n"
            "More requests: certbridgectl certificates list --state ISSUED --ca ca-1 --limit 1 "
            "--page-token p2\n");
  EXPECT_EQ(RenderTable(v1::ListCertificateRequestsRequest(),
                        v1::ListCertificateRequestsResponse(), kNow),
            "No certificate requests.\n");
}

TEST(OutputTest, WatchLinesAreOneLinePerEvent) {
  v1::CertificateRequestEvent event;
  event.set_cursor("c-9");
  *event.mutable_certificate_request() = FailedRequest();
  event.mutable_certificate_request()->set_device_id("dev-1");
  EXPECT_EQ(RenderWatchLine(event),
            "2027-01-15T07:59:58Z cr-81 DENIED ca=ca-1 template=WebServer device=dev-1 "
            "error=CA_TEMPLATE_NOT_SUPPORTED cursor=c-9\n");
  absl::StatusOr<std::string> json = RenderJsonLine(event);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(std::count(json->begin(), json->end(), '\n'), 1) << *json;
  EXPECT_EQ(json->back(), '\n');
  EXPECT_THAT(*json, HasSubstr("\"cursor\":\"c-9\""));
  EXPECT_THAT(*json, HasSubstr("\"hresult\":2148091904"));
}

TEST(OutputTest, DeliveryCertificateShowsSubjectExpiryAndPem) {
  v1::DeliveryCertificate certificate;
  certificate.set_subject("CN=Acme MDM delivery");
  *certificate.mutable_expire_time() = Ago(-absl::Hours(24 * 365));
  certificate.set_certificate_pem("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  EXPECT_EQ(RenderTable(v1::SetDeliveryCertificateRequest(), certificate, kNow),
            "Set the delivery certificate.\n"
            "Subject:   CN=Acme MDM delivery\n"
            "Not after: 2028-01-15T08:00:00Z (in 365d)\n"
            "\n"
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  EXPECT_THAT(RenderTable(v1::GetDeliveryCertificateRequest(), certificate, kNow),
              ::testing::StartsWith("Subject:"));
}

TEST(OutputTest, CertificatesErrorsHintAtTheirScopeAndState) {
  EXPECT_THAT(FormatCallError(absl::PermissionDeniedError("no"), "certificates list"),
              HasSubstr("hint: certificates commands need a tenant API key with the "
                        "certificates scope.\n"));
  EXPECT_THAT(FormatCallError(absl::PermissionDeniedError("no"), "delivery-certificate set"),
              HasSubstr("admin scope"));
  EXPECT_THAT(FormatCallError(absl::AlreadyExistsError("r-1 differs"), "certificates request"),
              HasSubstr("--request-id"));
  EXPECT_EQ(FormatCallError(absl::AlreadyExistsError("tenant exists"), "tenants create"),
            "error: ALREADY_EXISTS: tenant exists\n");
  EXPECT_THAT(FormatCallError(absl::FailedPreconditionError("not queued"), "certificates cancel"),
              HasSubstr("only QUEUED requests can be cancelled"));
  EXPECT_THAT(FormatCallError(absl::FailedPreconditionError("not issued"), "certificates revoke"),
              HasSubstr("only ISSUED certificates can be revoked"));
  EXPECT_THAT(FormatCallError(absl::FailedPreconditionError("no delivery certificate"),
                              "certificates request"),
              HasSubstr("delivery-certificate get"));
}

// The broker's remedy travels in grpc-status-details-bin, not in the message; the CLI
// prints it after the error line.
TEST(OutputTest, CallErrorPrintsTheBrokersRemedy) {
  const absl::Status status = FromGrpcStatusWithDetails(ToGrpcStatusWithDetails(
      ApiError(absl::StatusCode::kNotFound, "CA_NOT_FOUND",
               "certificate authority \"ca-9\" not found in this tenant")
          .Remedy("list them with `certbridgectl cas list`")));
  EXPECT_EQ(FormatCallError(status, "certificates request"),
            "error: NOT_FOUND: certificate authority \"ca-9\" not found in this tenant\n"
            "remedy: list them with `certbridgectl cas list`\n");
}

}  // namespace
}  // namespace certbridge::ctl
