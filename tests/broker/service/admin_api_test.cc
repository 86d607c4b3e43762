// AdminApi and AgentApi against the FakeStore and a FakeClock: the registration flow,
// tenant isolation and the errors a person sees, without processes.
#include "broker/service/admin_api.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "broker/service/agent_api.h"
#include "broker/store/fake/fake_store.h"
#include "common/clock.h"
#include "common/pki/pki.h"

namespace certbridge::broker {
namespace {

class RecordingEvents : public ConnectorEvents {
 public:
  void ConnectorChanged(const std::string& connector_id) override { changed.push_back(connector_id); }
  std::vector<std::string> changed;
};

class AdminApiTest : public ::testing::Test {
 protected:
  AdminApiTest()
      : ca_(std::move(pki::SigningCa::CreateSelfSigned("CN=test connector CA",
                                                       pki::KeyType::kEcP256,
                                                       clock_.Now() - absl::Hours(1),
                                                       clock_.Now() + absl::Hours(24 * 365))
                          .value()),
            absl::Hours(24)),
        admin_(&store_, &store_, &clock_, &ca_, &events_, AdminApiOptions()),
        agents_(&store_, &clock_, &ca_, AgentApiOptions()) {
    operator_.is_operator = true;
  }

  Caller NewTenantAdmin(const std::string& name) {
    v1::CreateTenantRequest create;
    create.set_display_name(name);
    auto tenant = admin_.CreateTenant(operator_, create);
    EXPECT_TRUE(tenant.ok()) << tenant.status();
    Caller caller;
    caller.tenant_id = tenant->tenant_id();
    caller.key_id = "k-" + name;
    caller.scopes = {"admin"};
    return caller;
  }

  std::string Token(const Caller& admin) {
    auto token = admin_.CreateEnrollmentToken(admin, {});
    EXPECT_TRUE(token.ok()) << token.status();
    return token->token();
  }

  absl::StatusOr<v1::RegisterResponse> Register(const std::string& token) {
    auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    v1::RegisterRequest request;
    request.set_enrollment_token(token);
    request.set_csr_pem(*pki::CreateCsrPem(*key, {"CN=agent", {}}));
    request.set_host("adcs01.corp.example.com");
    request.set_ca_identity("CORP\\ADCS01$");
    return agents_.Register(request);
  }

  FakeClock clock_;
  FakeStore store_;
  RecordingEvents events_;
  ConnectorCa ca_;
  AdminApi admin_;
  AgentApi agents_;
  Caller operator_;
};

TEST_F(AdminApiTest, ApproveSignsTheAgentCsrAndNotifiesStreams) {
  Caller admin = NewTenantAdmin("acme");
  auto registered = Register(Token(admin));
  ASSERT_TRUE(registered.ok()) << registered.status();
  EXPECT_EQ(registered->registration_code().size(), 9u);  // XXXX-XXXX

  v1::ApproveConnectorRequest approve;
  approve.set_registration_code(registered->registration_code());
  auto approved = admin_.ApproveConnector(admin, approve);
  ASSERT_TRUE(approved.ok()) << approved.status();
  EXPECT_EQ(approved->state(), v1::Connector::STATE_ACTIVE);
  EXPECT_EQ(events_.changed, std::vector<std::string>{registered->connector_id()});

  v1::GetRegistrationRequest poll;
  poll.set_connector_id(registered->connector_id());
  poll.set_poll_secret(registered->poll_secret());
  auto result = agents_.CheckRegistration(poll);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->state(), v1::GetRegistrationResponse::STATE_APPROVED);
  auto leaf = pki::VerifyChain(result->certificate_chain_pem(), ca_.certificate_pem(), clock_.Now());
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  EXPECT_EQ(leaf->serial_hex, approved->certificate_serial());
  auto identity = ca_.Verify(result->certificate_chain_pem(), clock_.Now());
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->tenant_id, admin.tenant_id);
  EXPECT_EQ(identity->connector_id, registered->connector_id());
}

TEST_F(AdminApiTest, ExpiredAgentCertificateTellsTheAgentToReRegister) {
  Caller admin = NewTenantAdmin("acme");
  auto registered = Register(Token(admin));
  v1::ApproveConnectorRequest approve;
  approve.set_registration_code(registered->registration_code());
  ASSERT_TRUE(admin_.ApproveConnector(admin, approve).ok());
  auto connector = store_.GetConnectorById(registered->connector_id(), clock_.Now());
  ASSERT_TRUE(connector.ok());
  clock_.Advance(absl::Hours(25));
  auto stream = agents_.AuthenticateStream(connector->certificate_chain_pem);
  EXPECT_EQ(stream.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(stream.status().message(), "re-register")) << stream.status();
}

// Before, Connect accepted any unexpired certificate of the connector, even one a renewal
// had replaced, and renewals were unbounded.
TEST_F(AdminApiTest, OnlyTheCurrentAgentCertificateConnectsAfterTheRenewalGrace) {
  Caller admin = NewTenantAdmin("acme");
  auto registered = Register(Token(admin));
  v1::ApproveConnectorRequest approve;
  approve.set_registration_code(registered->registration_code());
  ASSERT_TRUE(admin_.ApproveConnector(admin, approve).ok());
  auto connector = store_.GetConnectorById(registered->connector_id(), clock_.Now());
  ASSERT_TRUE(connector.ok());
  const std::string first_chain = connector->certificate_chain_pem;
  ASSERT_TRUE(agents_.AuthenticateStream(first_chain).ok());

  auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  v1::RenewalRequest renewal;
  renewal.set_csr_pem(*pki::CreateCsrPem(*key, {"CN=agent", {}}));
  EXPECT_EQ(agents_.Renew(*connector, renewal).status().code(),
            absl::StatusCode::kFailedPrecondition);  // just issued: too soon

  clock_.Advance(absl::Hours(16));  // two thirds of the 24 h lifetime
  auto renewed = agents_.Renew(*connector, renewal);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_TRUE(agents_.AuthenticateStream(renewed->certificate_chain_pem()).ok());
  // The agent may not have saved the new certificate yet: the old one works for a while.
  EXPECT_TRUE(agents_.AuthenticateStream(first_chain).ok());
  clock_.Advance(absl::Minutes(61));
  auto replaced = agents_.AuthenticateStream(first_chain);
  EXPECT_EQ(replaced.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(replaced.status().message(), "replaced by a renewal"))
      << replaced.status();
  EXPECT_TRUE(agents_.AuthenticateStream(renewed->certificate_chain_pem()).ok());
}

// Before, Hello silently replaced the approved CA identity, redirecting sticky RETRIEVE
// and REVOKE jobs.
TEST_F(AdminApiTest, HelloCannotChangeTheApprovedCaIdentity) {
  Caller admin = NewTenantAdmin("acme");
  auto registered = Register(Token(admin));
  v1::ApproveConnectorRequest approve;
  approve.set_registration_code(registered->registration_code());
  ASSERT_TRUE(admin_.ApproveConnector(admin, approve).ok());
  auto connector = store_.GetConnectorById(registered->connector_id(), clock_.Now());
  ASSERT_TRUE(connector.ok());
  v1::Hello hello;
  hello.set_ca_identity("corp\\adcs01$");  // the same, in another case
  EXPECT_TRUE(agents_.RecordHello(*connector, hello, "r1", clock_.Now()).ok());
  hello.set_ca_identity("CORP\\Attacker");
  auto changed = agents_.RecordHello(*connector, hello, "r1", clock_.Now());
  EXPECT_EQ(changed.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(changed.message(), "register --force")) << changed;
  EXPECT_EQ(store_.GetConnectorById(registered->connector_id(), clock_.Now())->ca_identity,
            "CORP\\ADCS01$");
}

TEST_F(AdminApiTest, StreamsOfPendingAndDisabledConnectorsAreRefused) {
  Caller admin = NewTenantAdmin("acme");
  auto registered = Register(Token(admin));
  AgentIdentity identity{admin.tenant_id, registered->connector_id()};
  EXPECT_EQ(agents_.CheckStreamConnector(identity).status().code(),
            absl::StatusCode::kFailedPrecondition);
  v1::ApproveConnectorRequest approve;
  approve.set_registration_code(registered->registration_code());
  ASSERT_TRUE(admin_.ApproveConnector(admin, approve).ok());
  EXPECT_TRUE(agents_.CheckStreamConnector(identity).ok());
  v1::DisableConnectorRequest disable;
  disable.set_connector_id(registered->connector_id());
  ASSERT_TRUE(admin_.DisableConnector(admin, disable).ok());
  EXPECT_EQ(agents_.CheckStreamConnector(identity).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::DeleteConnectorRequest del;
  del.set_connector_id(registered->connector_id());
  ASSERT_TRUE(admin_.DeleteConnector(admin, del).ok());
  EXPECT_EQ(agents_.CheckStreamConnector(identity).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(AdminApiTest, RegistrationCodeExpires) {
  Caller admin = NewTenantAdmin("acme");
  auto registered = Register(Token(admin));
  clock_.Advance(AgentApiOptions().registration_code_ttl + absl::Seconds(1));
  v1::ApproveConnectorRequest approve;
  approve.set_registration_code(registered->registration_code());
  auto approved = admin_.ApproveConnector(admin, approve);
  EXPECT_EQ(approved.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(approved.status().message(), "expired")) << approved.status();
}

TEST_F(AdminApiTest, EnrollmentTokenExpiresAndIsSingleUse) {
  Caller admin = NewTenantAdmin("acme");
  v1::CreateEnrollmentTokenRequest short_ttl;
  short_ttl.set_ttl_seconds(60);
  auto token = admin_.CreateEnrollmentToken(admin, short_ttl);
  ASSERT_TRUE(token.ok());
  clock_.Advance(absl::Seconds(61));
  EXPECT_EQ(Register(token->token()).status().code(), absl::StatusCode::kFailedPrecondition);
  std::string fresh = Token(admin);
  ASSERT_TRUE(Register(fresh).ok());
  EXPECT_EQ(Register(fresh).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Register("cbet.unknown").status().code(), absl::StatusCode::kUnauthenticated);

  v1::CreateEnrollmentTokenRequest too_long;
  too_long.set_ttl_seconds(8 * 24 * 3600);
  EXPECT_EQ(admin_.CreateEnrollmentToken(admin, too_long).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AdminApiTest, CaConfigStringIsValidated) {
  Caller admin = NewTenantAdmin("acme");
  v1::CreateCertificateAuthorityRequest request;
  request.set_config_string("no backslash");
  auto bad = admin_.CreateCertificateAuthority(admin, request);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "HOST\\CA_NAME")) << bad.status();
  request.set_config_string("bad host!\\CA");
  EXPECT_EQ(admin_.CreateCertificateAuthority(admin, request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.set_config_string("ca01.corp.example.com\\Corp Issuing CA");
  auto ok = admin_.CreateCertificateAuthority(admin, request);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->host(), "ca01.corp.example.com");
  EXPECT_EQ(ok->ca_name(), "Corp Issuing CA");
  EXPECT_EQ(admin_.CreateCertificateAuthority(admin, request).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(AdminApiTest, ScopesAndRolesAreEnforced) {
  Caller admin = NewTenantAdmin("acme");
  EXPECT_EQ(admin_.CreateTenant(admin, {}).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(admin_.ListConnectors(operator_, {}).status().code(),
            absl::StatusCode::kPermissionDenied);
  Caller certificates_only = admin;
  certificates_only.scopes = {"certificates"};
  EXPECT_EQ(admin_.ListConnectors(certificates_only, {}).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::CreateApiKeyRequest key;
  key.add_scopes("admin,superuser");
  EXPECT_EQ(admin_.CreateApiKey(admin, key).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AdminApiTest, ApiKeysExpireAndAreRevokedWithinTheirTenant) {
  Caller acme = NewTenantAdmin("acme");
  Caller other = NewTenantAdmin("other");
  v1::CreateApiKeyRequest create;
  create.add_scopes("certificates");
  create.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(clock_.Now() - absl::Seconds(1)));
  EXPECT_EQ(admin_.CreateApiKey(acme, create).status().code(),
            absl::StatusCode::kInvalidArgument);
  create.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(clock_.Now() + absl::Hours(24)));
  auto key = admin_.CreateApiKey(acme, create);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->api_key().expire_time().seconds(),
            absl::ToUnixSeconds(clock_.Now() + absl::Hours(24)));

  v1::RevokeApiKeyRequest revoke;
  revoke.set_key_id(key->api_key().key_id());
  EXPECT_EQ(admin_.RevokeApiKey(other, revoke).status().code(), absl::StatusCode::kNotFound);
  auto revoked = admin_.RevokeApiKey(acme, revoke);
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_TRUE(revoked->has_revoke_time());

  auto listed = admin_.ListApiKeys(acme, {});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->api_keys_size(), 1);
  EXPECT_TRUE(listed->api_keys(0).has_revoke_time());
  v1::ListAuditEventsRequest audit;
  auto events = admin_.ListAuditEvents(acme, audit);
  ASSERT_TRUE(events.ok()) << events.status();
  bool revoke_audited = false;
  for (const auto& e : events->events()) revoke_audited |= e.action() == "api_key.revoke";
  EXPECT_TRUE(revoke_audited);
}

TEST_F(AdminApiTest, AuditListPagesNewestFirst) {
  Caller admin = NewTenantAdmin("acme");
  for (int i = 0; i < 5; ++i) {
    Token(admin);
    clock_.Advance(absl::Seconds(1));
  }
  v1::ListAuditEventsRequest page;
  page.set_page_size(3);
  auto first = admin_.ListAuditEvents(admin, page);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->events_size(), 3);
  ASSERT_FALSE(first->next_page_token().empty());
  page.set_page_token(first->next_page_token());
  auto second = admin_.ListAuditEvents(admin, page);
  ASSERT_TRUE(second.ok());
  std::set<std::string> ids;
  for (const auto& e : first->events()) ids.insert(e.event_id());
  for (const auto& e : second->events()) ids.insert(e.event_id());
  EXPECT_EQ(ids.size(), static_cast<size_t>(first->events_size() + second->events_size()));
  EXPECT_GE(first->events(0).time().seconds(), first->events(2).time().seconds());
  // Listing again gives the same ids.
  auto again = admin_.ListAuditEvents(admin, {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->events(0).event_id(), first->events(0).event_id());
  page.set_page_token("garbage");
  EXPECT_EQ(admin_.ListAuditEvents(admin, page).status().code(), absl::StatusCode::kInvalidArgument);
}

// Ids and page tokens used to be the store's global sequence: a tenant could watch how busy
// the others were, and use a token in another tenant.
TEST_F(AdminApiTest, AuditIdsAndPageTokensAreOpaqueAndTenantScoped) {
  Caller acme = NewTenantAdmin("acme");
  Caller other = NewTenantAdmin("other");
  for (int i = 0; i < 3; ++i) Token(acme);
  v1::ListAuditEventsRequest page;
  page.set_page_size(2);
  auto first = admin_.ListAuditEvents(acme, page);
  ASSERT_TRUE(first.ok()) << first.status();
  for (const auto& e : first->events()) {
    int64_t as_number = 0;
    EXPECT_FALSE(absl::SimpleAtoi(e.event_id(), &as_number)) << e.event_id();
  }
  int64_t as_number = 0;
  EXPECT_FALSE(absl::SimpleAtoi(first->next_page_token(), &as_number));
  page.set_page_token(first->next_page_token());
  EXPECT_TRUE(admin_.ListAuditEvents(acme, page).ok());
  auto replayed = admin_.ListAuditEvents(other, page);
  EXPECT_EQ(replayed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(replayed.status().message().find("page_token"), absl::string_view::npos);
}

// The broker, not only certbridgectl, refuses a delivery certificate upload that also holds
// the private key: the key must stay with whoever opens the PKCS#12 passwords.
TEST_F(AdminApiTest, DeliveryCertificateWithItsPrivateKeyIsRefused) {
  Caller admin = NewTenantAdmin("acme");
  auto delivery = pki::SigningCa::CreateSelfSigned("CN=MDM delivery", pki::KeyType::kEcP256,
                                                   clock_.Now() - absl::Hours(1),
                                                   clock_.Now() + absl::Hours(24 * 30));
  ASSERT_TRUE(delivery.ok()) << delivery.status();
  v1::SetDeliveryCertificateRequest set;
  set.set_certificate_pem((*delivery)->certificate().pem + (*delivery)->KeyPem());
  absl::Status refused = admin_.SetDeliveryCertificate(admin, set).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(refused.message(), "private key")) << refused;
  EXPECT_EQ(admin_.GetDeliveryCertificate(admin, {}).status().code(),
            absl::StatusCode::kNotFound);

  set.set_certificate_pem((*delivery)->certificate().pem);
  auto stored = admin_.SetDeliveryCertificate(admin, set);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(stored->has_expire_time());
}

TEST_F(AdminApiTest, StoreOutageIsUnavailable) {
  Caller admin = NewTenantAdmin("acme");
  store_.FailNextCalls(absl::UnavailableError("database unreachable"), 1);
  EXPECT_EQ(admin_.ListConnectors(admin, {}).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace certbridge::broker
