// The bad-input cases of CertificateService, AdminService and ScepService over real gRPC (an in-process
// server on a loopback port, the FakeStore behind it): for each, the gRPC code, the
// ErrorInfo reason read back from grpc-status-details-bin and, for INVALID_ARGUMENT, the
// BadRequest field. The reasons are the table in docs/certificates.md ("Errors").
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "broker/scep/fake_scep_store.h"
#include "broker/scep/scep_grpc_service.h"
#include "broker/service/admin_grpc_service.h"
#include "broker/service/certificate_grpc_service.h"
#include "broker/store/fake/fake_store.h"
#include "common/api_error.h"
#include "common/clock.h"
#include "common/pki/pki.h"

namespace certbridge::broker {
namespace {

constexpr char kOperatorKey[] = "operator-key-0123456789abcdef0123456789";

class NoEvents : public ConnectorEvents {
 public:
  void ConnectorChanged(const std::string&) override {}
};

struct Case {
  std::string name;
  // Makes the call with a context that already carries its deadline and API key.
  std::function<grpc::Status(grpc::ClientContext*)> call;
  std::string api_key;
  grpc::StatusCode code;
  std::string reason;
  std::string field;  // the BadRequest field; "" when the code is not INVALID_ARGUMENT
};

class ApiErrorsTest : public ::testing::Test {
 protected:
  void StartServer(ApiCallLimits limits = {}) {
    EXPECT_TRUE(store_.CreateTenant({"t-1", "Tenant one", clock_.Now()}).ok());
    certificates_key_ = AddKey({"certificates"});
    admin_key_ = AddKey({"admin"});
    CertificateAuthorityRecord ca;
    ca.ca_id = "ca-1";
    ca.tenant_id = "t-1";
    ca.host = "ca01.corp.example.com";
    ca.ca_name = "Corp Issuing CA";
    ca.display_name = "Corp";
    ca.create_time = clock_.Now();
    EXPECT_TRUE(store_.CreateCertificateAuthority(ca).ok());

    gate_ = std::make_unique<ApiCallGate>(&auth_, &pool_, &clock_, limits);
    certificates_ = std::make_unique<CertificateGrpcService>(&certificate_api_, &store_,
                                                             gate_.get(), &pool_, &clock_);
    admin_ = std::make_unique<AdminGrpcService>(&admin_api_, gate_.get());
    scep_ = std::make_unique<scep::ScepGrpcService>(&scep_api_, gate_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(certificates_.get());
    builder.RegisterService(admin_.get());
    builder.RegisterService(scep_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                       grpc::InsecureChannelCredentials());
    certificate_stub_ = v1::CertificateService::NewStub(channel);
    admin_stub_ = v1::AdminService::NewStub(channel);
    scep_stub_ = v1::ScepService::NewStub(channel);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    pool_.Shutdown();
  }

  std::string AddKey(std::vector<std::string> scopes) {
    NewApiKey key = GenerateApiKey();
    ApiKeyRecord record;
    record.key_id = key.key_id;
    record.tenant_id = "t-1";
    record.secret_hash = key.secret_hash;
    record.scopes = std::move(scopes);
    EXPECT_TRUE(store_.CreateApiKey(record).ok());
    return key.full_key;
  }

  grpc::Status Run(const std::function<grpc::Status(grpc::ClientContext*)>& call,
                   const std::string& api_key) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    if (!api_key.empty()) context.AddMetadata("authorization", "Bearer " + api_key);
    return call(&context);
  }

  // Checks one case and what every error must carry.
  void Check(const Case& c) {
    SCOPED_TRACE(c.name);
    const grpc::Status status = Run(c.call, c.api_key);
    EXPECT_EQ(status.error_code(), c.code) << status.error_message();
    ASSERT_FALSE(status.error_details().empty()) << "no grpc-status-details-bin";
    const ApiErrorDetails details = DetailsOf(status);
    EXPECT_EQ(details.reason, c.reason) << status.error_message();
    EXPECT_EQ(details.domain, kErrorDomain);
    if (c.code == grpc::StatusCode::INVALID_ARGUMENT) {
      ASSERT_EQ(details.field_violations.size(), 1u) << status.error_message();
      EXPECT_EQ(details.field_violations[0].first, c.field);
      EXPECT_FALSE(details.field_violations[0].second.empty());
    } else {
      EXPECT_TRUE(details.field_violations.empty());
    }
    // The message is about the API; a command line goes in the remedy.
    EXPECT_FALSE(absl::StrContains(status.error_message(), "certbridgectl"))
        << status.error_message();
  }

  std::string CsrPem() {
    auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    return *pki::CreateCsrPem(*key, {"CN=device-1", {}});
  }

  v1::CreateCertificateRequestRequest ValidCreate(const std::string& request_id) {
    v1::CreateCertificateRequestRequest r;
    r.set_request_id(request_id);
    r.set_ca_id("ca-1");
    r.set_template_name("WebServer");
    r.set_csr_pem(csr_pem_);
    return r;
  }

  std::function<grpc::Status(grpc::ClientContext*)> Create(v1::CreateCertificateRequestRequest r) {
    return [this, r](grpc::ClientContext* context) {
      v1::CertificateRequest out;
      return certificate_stub_->CreateCertificateRequest(context, r, &out);
    };
  }

  template <typename Request, typename Response>
  std::function<grpc::Status(grpc::ClientContext*)> Scep(
      grpc::Status (v1::ScepService::Stub::*rpc)(grpc::ClientContext*, const Request&,
                                                 Response*),
      Request request) {
    return [this, rpc, request](grpc::ClientContext* context) {
      Response out;
      return (scep_stub_.get()->*rpc)(context, request, &out);
    };
  }

  template <typename Request, typename Response>
  std::function<grpc::Status(grpc::ClientContext*)> Admin(
      grpc::Status (v1::AdminService::Stub::*rpc)(grpc::ClientContext*, const Request&,
                                                  Response*),
      Request request) {
    return [this, rpc, request](grpc::ClientContext* context) {
      Response out;
      return (admin_stub_.get()->*rpc)(context, request, &out);
    };
  }

  FakeClock clock_;
  FakeStore store_;
  WorkerPool pool_{2};
  ApiKeyAuthenticator auth_{&store_, kOperatorKey, &clock_};
  std::unique_ptr<ApiCallGate> gate_;
  CertificateApi certificate_api_{&store_, &store_, &clock_, CertificateApiOptions()};
  NoEvents events_;
  ConnectorCa connector_ca_{
      std::move(pki::SigningCa::CreateSelfSigned("CN=test connector CA", pki::KeyType::kEcP256,
                                                 clock_.Now() - absl::Hours(1),
                                                 clock_.Now() + absl::Hours(24 * 365))
                    .value()),
      absl::Hours(24)};
  AdminApi admin_api_{&store_, &store_, &clock_, &connector_ca_, &events_, AdminApiOptions()};
  std::unique_ptr<CertificateGrpcService> certificates_;
  std::unique_ptr<AdminGrpcService> admin_;
  scep::FakeScepStore scep_store_{&store_};
  scep::ScepProfileApi scep_api_{&store_, &scep_store_, &clock_};
  std::unique_ptr<scep::ScepGrpcService> scep_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::CertificateService::Stub> certificate_stub_;
  std::unique_ptr<v1::AdminService::Stub> admin_stub_;
  std::unique_ptr<v1::ScepService::Stub> scep_stub_;
  std::string certificates_key_;
  std::string admin_key_;
  std::string csr_pem_ = CsrPem();
};

TEST_F(ApiErrorsTest, CertificateServiceBadInput) {
  StartServer();
  using grpc::StatusCode;
  const std::string key = certificates_key_;
  std::vector<Case> cases;

  cases.push_back({"no API key", Create(ValidCreate("r-1")), "", StatusCode::UNAUTHENTICATED,
                   "API_KEY_MISSING", ""});
  cases.push_back({"unknown API key", Create(ValidCreate("r-1")), "cbk.nosuchkey.secret",
                   StatusCode::UNAUTHENTICATED, "API_KEY_UNKNOWN", ""});
  cases.push_back({"malformed API key", Create(ValidCreate("r-1")), "cbk.only-two",
                   StatusCode::UNAUTHENTICATED, "API_KEY_MALFORMED", ""});
  cases.push_back({"admin key on the certificate API", Create(ValidCreate("r-1")), admin_key_,
                   StatusCode::PERMISSION_DENIED, "SCOPE_MISSING", ""});
  cases.push_back({"operator key on the certificate API", Create(ValidCreate("r-1")),
                   kOperatorKey, StatusCode::PERMISSION_DENIED, "OPERATOR_KEY_NOT_ALLOWED", ""});

  auto r = ValidCreate("");
  cases.push_back({"request_id missing", Create(r), key, StatusCode::INVALID_ARGUMENT,
                   "FIELD_REQUIRED", "request_id"});
  r = ValidCreate(std::string(200, 'x'));
  cases.push_back({"request_id too long", Create(r), key, StatusCode::INVALID_ARGUMENT,
                   "FIELD_TOO_LONG", "request_id"});
  r = ValidCreate("r-1");
  r.set_ca_id("ca\n1");
  cases.push_back({"ca_id with a newline", Create(r), key, StatusCode::INVALID_ARGUMENT,
                   "FIELD_INVALID", "ca_id"});
  r = ValidCreate("r-1");
  r.clear_template_name();
  cases.push_back({"template_name missing", Create(r), key, StatusCode::INVALID_ARGUMENT,
                   "FIELD_REQUIRED", "template_name"});
  r = ValidCreate("r-1");
  for (int i = 0; i < 33; ++i) (*r.mutable_labels())["k" + std::to_string(i)] = "v";
  cases.push_back({"too many labels", Create(r), key, StatusCode::INVALID_ARGUMENT,
                   "FIELD_INVALID", "labels"});
  r = ValidCreate("r-1");
  r.mutable_wait_timeout()->set_seconds(3600);
  cases.push_back({"wait_timeout above the maximum", Create(r), key,
                   StatusCode::INVALID_ARGUMENT, "FIELD_INVALID", "wait_timeout"});
  r = ValidCreate("r-1");
  r.set_ca_id("ca-unknown");
  cases.push_back({"unknown CA", Create(r), key, StatusCode::NOT_FOUND, "CA_NOT_FOUND", ""});
  r = ValidCreate("r-1");
  r.set_csr_pem("not a CSR");
  cases.push_back({"csr_pem not a CSR", Create(r), key, StatusCode::INVALID_ARGUMENT,
                   "FIELD_INVALID", "csr_pem"});
  r = ValidCreate("r-1");
  r.set_csr_pem(std::string(17 * 1024, 'A'));
  cases.push_back({"csr_pem too large", Create(r), key, StatusCode::INVALID_ARGUMENT,
                   "FIELD_TOO_LONG", "csr_pem"});
  r = ValidCreate("r-1");
  r.clear_csr_pem();
  cases.push_back({"neither CSR nor key generation", Create(r), key,
                   StatusCode::INVALID_ARGUMENT, "FIELD_REQUIRED", "csr_pem"});
  r = ValidCreate("r-1");
  r.add_subject_alt_names()->set_value("device-1.example.com");
  cases.push_back({"SAN without a type", Create(r), key, StatusCode::INVALID_ARGUMENT,
                   "FIELD_INVALID", "subject_alt_names.type"});
  r = ValidCreate("r-1");
  r.set_sid("S-1-banana");
  cases.push_back({"sid not a SID", Create(r), key, StatusCode::INVALID_ARGUMENT,
                   "FIELD_INVALID", "sid"});
  r = ValidCreate("r-1");
  r.mutable_key_generation()->mutable_subject()->set_rfc4514("CN=device-1");
  cases.push_back({"key generation without key_spec", Create(r), key,
                   StatusCode::INVALID_ARGUMENT, "FIELD_INVALID", "key_generation.key_spec"});
  r = ValidCreate("r-1");
  r.mutable_key_generation()->mutable_subject()->set_rfc4514("CN=device-1");
  r.mutable_key_generation()->set_key_spec(static_cast<v1::KeySpec>(1));
  cases.push_back({"key generation without a delivery certificate", Create(r), key,
                   StatusCode::FAILED_PRECONDITION, "DELIVERY_CERTIFICATE_NOT_SET", ""});

  auto get = [this](v1::GetCertificateRequestRequest g) {
    return [this, g](grpc::ClientContext* context) {
      v1::CertificateRequest out;
      return certificate_stub_->GetCertificateRequest(context, g, &out);
    };
  };
  v1::GetCertificateRequestRequest g;
  cases.push_back({"get without name or request_id", get(g), key, StatusCode::INVALID_ARGUMENT,
                   "FIELD_REQUIRED", "name"});
  g.set_name("no-such-request");
  cases.push_back({"get an unknown request", get(g), key, StatusCode::NOT_FOUND,
                   "REQUEST_NOT_FOUND", ""});

  v1::ListCertificateRequestsRequest list;
  list.set_page_token("not-a-token");
  cases.push_back({"list with a foreign page_token",
                   [this, list](grpc::ClientContext* context) {
                     v1::ListCertificateRequestsResponse out;
                     return certificate_stub_->ListCertificateRequests(context, list, &out);
                   },
                   key, StatusCode::INVALID_ARGUMENT, "FIELD_INVALID", "page_token"});

  auto cancel = [this](const std::string& name) {
    return [this, name](grpc::ClientContext* context) {
      v1::CancelCertificateRequestRequest c;
      c.set_name(name);
      v1::CertificateRequest out;
      return certificate_stub_->CancelCertificateRequest(context, c, &out);
    };
  };
  cases.push_back({"cancel without name", cancel(""), key, StatusCode::INVALID_ARGUMENT,
                   "FIELD_REQUIRED", "name"});
  cases.push_back({"cancel an unknown request", cancel("no-such-request"), key,
                   StatusCode::NOT_FOUND, "REQUEST_NOT_FOUND", ""});

  auto revoke = [this](const std::string& name, int reason) {
    return [this, name, reason](grpc::ClientContext* context) {
      v1::RevokeCertificateRequest rv;
      rv.set_name(name);
      rv.set_reason(static_cast<decltype(rv.reason())>(reason));
      v1::CertificateRequest out;
      return certificate_stub_->RevokeCertificate(context, rv, &out);
    };
  };
  cases.push_back({"revoke with reason 2 (not a CRL reason)", revoke("x", 2), key,
                   StatusCode::INVALID_ARGUMENT, "FIELD_INVALID", "reason"});
  cases.push_back({"revoke an unknown request", revoke("no-such-request", 0), key,
                   StatusCode::NOT_FOUND, "REQUEST_NOT_FOUND", ""});

  v1::WatchCertificateRequestsRequest watch;
  watch.set_cursor("yesterday");
  cases.push_back({"watch from a cursor the API never returned",
                   [this, watch](grpc::ClientContext* context) {
                     auto reader = certificate_stub_->WatchCertificateRequests(context, watch);
                     v1::CertificateRequestEvent event;
                     while (reader->Read(&event)) {
                     }
                     return reader->Finish();
                   },
                   key, StatusCode::INVALID_ARGUMENT, "FIELD_INVALID", "cursor"});
  v1::WatchCertificateRequestsRequest gone;
  gone.set_cursor("12345");  // a change this tenant never had (as one past the retention)
  cases.push_back({"watch from a cursor that is not kept",
                   [this, gone](grpc::ClientContext* context) {
                     auto reader = certificate_stub_->WatchCertificateRequests(context, gone);
                     v1::CertificateRequestEvent event;
                     while (reader->Read(&event)) {
                     }
                     return reader->Finish();
                   },
                   key, StatusCode::FAILED_PRECONDITION, "CURSOR_EXPIRED", ""});

  for (const Case& c : cases) Check(c);
}

TEST_F(ApiErrorsTest, CertificateServiceStateErrors) {
  StartServer();
  const std::string key = certificates_key_;
  v1::CertificateRequest created;
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    context.AddMetadata("authorization", "Bearer " + key);
    ASSERT_TRUE(
        certificate_stub_->CreateCertificateRequest(&context, ValidCreate("r-1"), &created).ok());
  }
  auto reused = ValidCreate("r-1");
  reused.set_template_name("User");
  Check({"request_id reused with other parameters", Create(reused), key,
         grpc::StatusCode::ALREADY_EXISTS, "REQUEST_ID_REUSED", ""});

  // A QUEUED request cannot be revoked: a precondition on its state.
  const std::string name = created.name();
  auto revoke = [this, name](grpc::ClientContext* context) {
    v1::RevokeCertificateRequest rv;
    rv.set_name(name);
    v1::CertificateRequest out;
    return certificate_stub_->RevokeCertificate(context, rv, &out);
  };
  Check({"revoke a request that is not ISSUED", revoke, key,
         grpc::StatusCode::FAILED_PRECONDITION, "REQUEST_NOT_ISSUED", ""});
  const ApiErrorDetails details = DetailsOf(Run(revoke, key));
  EXPECT_EQ(details.precondition_types, std::vector<std::string>{"STATE"});
  EXPECT_EQ(details.metadata.at("state"), "QUEUED");

  // The unknown CA's remedy names the command; the message does not.
  auto unknown_ca = ValidCreate("r-2");
  unknown_ca.set_ca_id("ca-unknown");
  const ApiErrorDetails ca = DetailsOf(Run(Create(unknown_ca), key));
  EXPECT_EQ(ca.metadata.at("ca_id"), "ca-unknown");
  EXPECT_TRUE(absl::StrContains(ca.Remedy(), "certbridgectl cas list")) << ca.Remedy();
}

TEST_F(ApiErrorsTest, AdminServiceBadInput) {
  StartServer();
  using grpc::StatusCode;
  using Stub = v1::AdminService::Stub;
  const std::string key = admin_key_;
  std::vector<Case> cases;

  v1::CreateTenantRequest tenant;
  tenant.set_display_name("Acme");
  cases.push_back({"tenant key creates a tenant", Admin(&Stub::CreateTenant, tenant), key,
                   StatusCode::PERMISSION_DENIED, "OPERATOR_KEY_REQUIRED", ""});
  cases.push_back({"tenant without display_name",
                   Admin(&Stub::CreateTenant, v1::CreateTenantRequest()), kOperatorKey,
                   StatusCode::INVALID_ARGUMENT, "FIELD_REQUIRED", "display_name"});
  cases.push_back({"operator key lists connectors",
                   Admin(&Stub::ListConnectors, v1::ListConnectorsRequest()), kOperatorKey,
                   StatusCode::PERMISSION_DENIED, "OPERATOR_KEY_NOT_ALLOWED", ""});

  v1::CreateApiKeyRequest api_key;
  api_key.add_scopes("everything");
  cases.push_back({"API key with an unknown scope", Admin(&Stub::CreateApiKey, api_key), key,
                   StatusCode::INVALID_ARGUMENT, "FIELD_INVALID", "scopes"});
  cases.push_back({"API key without scopes",
                   Admin(&Stub::CreateApiKey, v1::CreateApiKeyRequest()), key,
                   StatusCode::INVALID_ARGUMENT, "FIELD_REQUIRED", "scopes"});
  v1::CreateApiKeyRequest other_tenant;
  other_tenant.set_tenant_id("t-2");
  other_tenant.add_scopes("admin");
  cases.push_back({"API key for another tenant", Admin(&Stub::CreateApiKey, other_tenant), key,
                   StatusCode::NOT_FOUND, "TENANT_NOT_FOUND", ""});
  v1::RevokeApiKeyRequest revoke_key;
  revoke_key.set_key_id("no-such-key");
  cases.push_back({"revoke an unknown API key", Admin(&Stub::RevokeApiKey, revoke_key), key,
                   StatusCode::NOT_FOUND, "API_KEY_NOT_FOUND", ""});

  v1::CreateEnrollmentTokenRequest token;
  token.set_ttl_seconds(365 * 24 * 3600);
  cases.push_back({"enrollment token living a year", Admin(&Stub::CreateEnrollmentToken, token),
                   key, StatusCode::INVALID_ARGUMENT, "FIELD_INVALID", "ttl_seconds"});

  v1::CreateCertificateAuthorityRequest ca;
  ca.set_host("ca 01");
  ca.set_ca_name("Corp Issuing CA");
  cases.push_back({"CA host with a space", Admin(&Stub::CreateCertificateAuthority, ca), key,
                   StatusCode::INVALID_ARGUMENT, "FIELD_INVALID", "host"});
  ca.set_host("ca01.corp.example.com");
  ca.set_ca_name("Corp \"Issuing\" CA");
  cases.push_back({"CA name with quotes", Admin(&Stub::CreateCertificateAuthority, ca), key,
                   StatusCode::INVALID_ARGUMENT, "FIELD_INVALID", "ca_name"});
  v1::CreateCertificateAuthorityRequest config;
  config.set_config_string("ca01.corp.example.com");
  cases.push_back({"config string without a backslash",
                   Admin(&Stub::CreateCertificateAuthority, config), key,
                   StatusCode::INVALID_ARGUMENT, "FIELD_INVALID", "config_string"});
  v1::DeleteCertificateAuthorityRequest delete_ca;
  delete_ca.set_ca_id("ca-unknown");
  cases.push_back({"delete an unknown CA", Admin(&Stub::DeleteCertificateAuthority, delete_ca),
                   key, StatusCode::NOT_FOUND, "CA_NOT_FOUND", ""});

  cases.push_back({"connector without id",
                   Admin(&Stub::GetConnector, v1::GetConnectorRequest()), key,
                   StatusCode::INVALID_ARGUMENT, "FIELD_REQUIRED", "connector_id"});
  v1::GetConnectorRequest connector;
  connector.set_connector_id("no-such-connector");
  cases.push_back({"unknown connector", Admin(&Stub::GetConnector, connector), key,
                   StatusCode::NOT_FOUND, "CONNECTOR_NOT_FOUND", ""});
  v1::DisableConnectorRequest disable;
  disable.set_connector_id("no-such-connector");
  cases.push_back({"disable an unknown connector", Admin(&Stub::DisableConnector, disable), key,
                   StatusCode::NOT_FOUND, "CONNECTOR_NOT_FOUND", ""});
  cases.push_back({"approve without a code",
                   Admin(&Stub::ApproveConnector, v1::ApproveConnectorRequest()), key,
                   StatusCode::INVALID_ARGUMENT, "FIELD_REQUIRED", "registration_code"});
  v1::ApproveConnectorRequest approve;
  approve.set_registration_code("ABCD-EFGH");
  cases.push_back({"approve an unknown code", Admin(&Stub::ApproveConnector, approve), key,
                   StatusCode::NOT_FOUND, "REGISTRATION_CODE_NOT_FOUND", ""});

  v1::ListAuditEventsRequest audit;
  audit.set_page_token("not-a-token");
  cases.push_back({"audit events with a foreign page_token",
                   Admin(&Stub::ListAuditEvents, audit), key, StatusCode::INVALID_ARGUMENT,
                   "FIELD_INVALID", "page_token"});

  v1::SetDeliveryCertificateRequest delivery;
  delivery.set_certificate_pem("not a certificate");
  cases.push_back({"delivery certificate not a PEM",
                   Admin(&Stub::SetDeliveryCertificate, delivery), key,
                   StatusCode::INVALID_ARGUMENT, "FIELD_INVALID", "certificate_pem"});
  delivery.set_certificate_pem(std::string(17 * 1024, 'A'));
  cases.push_back({"delivery certificate too large",
                   Admin(&Stub::SetDeliveryCertificate, delivery), key,
                   StatusCode::INVALID_ARGUMENT, "FIELD_TOO_LONG", "certificate_pem"});
  cases.push_back({"no delivery certificate yet",
                   Admin(&Stub::GetDeliveryCertificate, v1::GetDeliveryCertificateRequest()),
                   key, StatusCode::NOT_FOUND, "DELIVERY_CERTIFICATE_NOT_SET", ""});

  for (const Case& c : cases) Check(c);

  // The registration-code remedy reaches the client in ErrorInfo.
  const ApiErrorDetails details = DetailsOf(Run(Admin(&Stub::ApproveConnector, approve), key));
  EXPECT_TRUE(absl::StrContains(details.Remedy(), "certbridge-agent register")) << details.Remedy();
}

// ScepService: the errors an admin or an MDM acts on carry their reason (issue 10).
TEST_F(ApiErrorsTest, ScepServiceErrors) {
  StartServer();
  using grpc::StatusCode;
  v1::CreateScepProfileRequest profile;
  profile.set_display_name("Macs");
  profile.set_ca_id("ca-1");
  profile.set_template_name("Device");
  profile.set_ra_template_name("ScepRa");
  profile.set_challenge_mode(v1::SCEP_CHALLENGE_MODE_STATIC);
  profile.set_static_challenge("0123456789abcdef0123");
  v1::ScepProfile static_profile;
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    context.AddMetadata("authorization", "Bearer " + admin_key_);
    grpc::Status s = scep_stub_->CreateScepProfile(&context, profile, &static_profile);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  std::vector<Case> cases;
  v1::CreateScepProfileRequest r = profile;
  r.set_ca_id("ca-unknown");
  cases.push_back({"profile for an unknown CA", Scep(&v1::ScepService::Stub::CreateScepProfile, r),
                   admin_key_, StatusCode::NOT_FOUND, "CA_NOT_FOUND", ""});
  r = profile;
  r.set_static_challenge("short");
  cases.push_back({"static challenge too short",
                   Scep(&v1::ScepService::Stub::CreateScepProfile, r), admin_key_,
                   StatusCode::INVALID_ARGUMENT, "FIELD_INVALID", "static_challenge"});
  r = profile;
  r.mutable_challenge_ttl()->set_seconds(10);
  cases.push_back({"challenge_ttl below a minute",
                   Scep(&v1::ScepService::Stub::CreateScepProfile, r), admin_key_,
                   StatusCode::INVALID_ARGUMENT, "FIELD_INVALID", "challenge_ttl"});
  v1::GetScepProfileRequest get;
  get.set_profile_id("6f1c2e4a-9b3d-4c8e-a1f0-2d7b5e9c3a41");
  cases.push_back({"unknown profile", Scep(&v1::ScepService::Stub::GetScepProfile, get),
                   admin_key_, StatusCode::NOT_FOUND, "SCEP_PROFILE_NOT_FOUND", ""});
  v1::CreateScepChallengeRequest challenge;
  challenge.set_profile_id(static_profile.profile_id());
  cases.push_back({"dynamic challenge of a static profile",
                   Scep(&v1::ScepService::Stub::CreateScepChallenge, challenge),
                   certificates_key_, StatusCode::FAILED_PRECONDITION,
                   "SCEP_PROFILE_NOT_DYNAMIC", ""});
  challenge.set_profile_id("6f1c2e4a-9b3d-4c8e-a1f0-2d7b5e9c3a41");
  cases.push_back({"challenge of an unknown profile",
                   Scep(&v1::ScepService::Stub::CreateScepChallenge, challenge),
                   certificates_key_, StatusCode::NOT_FOUND, "SCEP_PROFILE_NOT_FOUND", ""});
  cases.push_back({"challenge with the admin key",
                   Scep(&v1::ScepService::Stub::CreateScepChallenge, challenge), admin_key_,
                   StatusCode::PERMISSION_DENIED, "SCOPE_MISSING", ""});
  for (const Case& c : cases) Check(c);
}

TEST_F(ApiErrorsTest, RateLimitCarriesTheLimitersRetryDelay) {
  ApiCallLimits limits;
  limits.key_calls_per_second = 0.5;  // one call per 2 s; the FakeClock does not move
  limits.key_burst = 1;
  StartServer(limits);
  v1::GetCertificateRequestRequest g;
  g.set_name("no-such-request");
  auto get = [this, g](grpc::ClientContext* context) {
    v1::CertificateRequest out;
    return certificate_stub_->GetCertificateRequest(context, g, &out);
  };
  EXPECT_EQ(Run(get, certificates_key_).error_code(), grpc::StatusCode::NOT_FOUND);
  const grpc::Status limited = Run(get, certificates_key_);
  EXPECT_EQ(limited.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const ApiErrorDetails details = DetailsOf(limited);
  EXPECT_EQ(details.reason, "RATE_LIMITED_API_KEY");
  EXPECT_EQ(details.retry_delay, absl::Seconds(2));
}

TEST(ApiErrorTest, ErrorsMadeElsewhereGetTheCodeAsReasonAndARetryDelay) {
  const grpc::Status status = ToGrpcStatusWithDetails(absl::UnavailableError("store down"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "store down");
  const ApiErrorDetails details = DetailsOf(status);
  EXPECT_EQ(details.reason, "UNAVAILABLE");
  EXPECT_EQ(details.retry_delay, absl::Seconds(1));
  EXPECT_TRUE(ToGrpcStatusWithDetails(absl::OkStatus()).ok());
}

TEST(ApiErrorTest, WithReasonKeepsAnExistingReason) {
  absl::Status first = ApiError(absl::StatusCode::kNotFound, "CA_NOT_FOUND", "gone");
  EXPECT_EQ(DetailsOf(WithReason(first, "REQUEST_NOT_FOUND")).reason, "CA_NOT_FOUND");
  EXPECT_EQ(DetailsOf(WithReason(absl::NotFoundError("x"), "REQUEST_NOT_FOUND")).reason,
            "REQUEST_NOT_FOUND");
  EXPECT_TRUE(WithReason(absl::OkStatus(), "X").ok());
}

}  // namespace
}  // namespace certbridge::broker
