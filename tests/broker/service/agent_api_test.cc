// AgentApi against the FakeStore and a FakeClock: what the approval hands the agent (the
// delivery certificate it pins), how stream takeovers are audited, and the one CA identity
// rule between Register, Hello and the claim of sticky jobs.
#include "broker/service/agent_api.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "broker/service/admin_api.h"
#include "broker/service/job_outcome.h"
#include "broker/store/fake/fake_store.h"
#include "common/adcs/error_catalog.h"
#include "common/clock.h"
#include "common/pki/delivery.h"
#include "common/pki/pki.h"

namespace certbridge::broker {
namespace {

class NoEvents : public ConnectorEvents {
 public:
  void ConnectorChanged(const std::string&) override {}
};

AgentApiOptions WithDeliveryCertificates(CertificateStore* store) {
  AgentApiOptions options;
  options.delivery_certificates = store;
  return options;
}

class AgentApiTest : public ::testing::Test {
 protected:
  AgentApiTest()
      : ca_(std::move(pki::SigningCa::CreateSelfSigned("CN=test connector CA",
                                                       pki::KeyType::kEcP256,
                                                       clock_.Now() - absl::Hours(1),
                                                       clock_.Now() + absl::Hours(24 * 365))
                          .value()),
            absl::Hours(24)),
        admin_(&store_, &store_, &clock_, &ca_, &events_, AdminApiOptions()),
        agents_(&store_, &clock_, &ca_, WithDeliveryCertificates(&store_)) {
    Caller op;
    op.is_operator = true;
    v1::CreateTenantRequest create;
    create.set_display_name("acme");
    auto tenant = admin_.CreateTenant(op, create);
    EXPECT_TRUE(tenant.ok()) << tenant.status();
    admin_caller_.tenant_id = tenant->tenant_id();
    admin_caller_.key_id = "k-acme";
    admin_caller_.scopes = {"admin"};
  }

  absl::StatusOr<v1::RegisterResponse> Register(const std::string& ca_identity) {
    auto token = admin_.CreateEnrollmentToken(admin_caller_, {});
    EXPECT_TRUE(token.ok()) << token.status();
    auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    v1::RegisterRequest request;
    request.set_enrollment_token(token->token());
    request.set_csr_pem(*pki::CreateCsrPem(*key, {"CN=agent", {}}));
    request.set_host("adcs01.corp.example.com");
    request.set_ca_identity(ca_identity);
    return agents_.Register(request);
  }

  // Registers and approves; returns the approval's answer.
  v1::Connector RegisterAndApprove(const std::string& ca_identity,
                                   v1::RegisterResponse* registered = nullptr) {
    auto r = Register(ca_identity);
    EXPECT_TRUE(r.ok()) << r.status();
    v1::ApproveConnectorRequest approve;
    approve.set_registration_code(r->registration_code());
    auto approved = admin_.ApproveConnector(admin_caller_, approve);
    EXPECT_TRUE(approved.ok()) << approved.status();
    if (registered != nullptr) *registered = *r;
    return approved.ok() ? *approved : v1::Connector();
  }

  absl::StatusOr<v1::GetRegistrationResponse> Poll(const v1::RegisterResponse& registered) {
    v1::GetRegistrationRequest poll;
    poll.set_connector_id(registered.connector_id());
    poll.set_poll_secret(registered.poll_secret());
    return agents_.CheckRegistration(poll);
  }

  std::string SetDeliveryCertificate(const std::string& subject) {
    auto cert = pki::SigningCa::CreateSelfSigned(subject, pki::KeyType::kEcP256,
                                                 clock_.Now() - absl::Hours(1),
                                                 clock_.Now() + absl::Hours(24 * 365));
    EXPECT_TRUE(cert.ok()) << cert.status();
    v1::SetDeliveryCertificateRequest set;
    set.set_certificate_pem((*cert)->certificate().pem);
    EXPECT_TRUE(admin_.SetDeliveryCertificate(admin_caller_, set).ok());
    return (*cert)->certificate().pem;
  }

  std::vector<AuditEventRecord> AuditRows(absl::string_view action) {
    auto events = store_.ListAuditEvents(admin_caller_.tenant_id, 0, 1000);
    EXPECT_TRUE(events.ok()) << events.status();
    std::vector<AuditEventRecord> rows;
    for (const auto& e : *events) {
      if (e.action == action) rows.push_back(e);
    }
    return rows;  // newest first
  }

  FakeClock clock_;
  FakeStore store_;
  NoEvents events_;
  ConnectorCa ca_;
  AdminApi admin_;
  AgentApi agents_;
  Caller admin_caller_;
};

// ---- A: the delivery certificate at approval.

// Before, the approval carried no delivery certificate: the agent trusted whichever one
// its first key-generation job carried.
TEST_F(AgentApiTest, ApprovalCarriesTheDeliveryCertificateAndItsFingerprint) {
  const std::string delivery = SetDeliveryCertificate("CN=MDM delivery");
  const std::string sha256 = pki::Sha256Hex(pki::ParseCertificate(delivery)->der);
  v1::RegisterResponse registered;
  v1::Connector approved = RegisterAndApprove("CORP\\ADCS01$", &registered);
  EXPECT_EQ(approved.delivery_certificate_sha256(), sha256)
      << "the admin sees what the agent will pin";

  auto answer = Poll(registered);
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_FALSE(answer->certificate_chain_pem().empty()) << "approved";
  EXPECT_EQ(answer->delivery_certificate_sha256(), sha256);
  EXPECT_EQ(*pki::DeliveryCertificateSha256(answer->delivery_certificate_pem()), sha256);

  auto audit = AuditRows("connector.approve");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_TRUE(absl::StrContains(audit[0].details, sha256)) << audit[0].details;
}

TEST_F(AgentApiTest, ApprovalWithoutDeliveryCertificateSaysNone) {
  v1::RegisterResponse registered;
  v1::Connector approved = RegisterAndApprove("CORP\\ADCS01$", &registered);
  EXPECT_EQ(approved.delivery_certificate_sha256(), "");
  auto answer = Poll(registered);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_FALSE(answer->certificate_chain_pem().empty());
  EXPECT_EQ(answer->delivery_certificate_sha256(), "");
  EXPECT_EQ(answer->delivery_certificate_pem(), "");
  auto audit = AuditRows("connector.approve");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_TRUE(absl::StrContains(audit[0].details, "delivery certificate SHA-256 none"))
      << audit[0].details;
}

TEST_F(AgentApiTest, PendingRegistrationCarriesNoDeliveryCertificate) {
  SetDeliveryCertificate("CN=MDM delivery");
  auto registered = Register("CORP\\ADCS01$");
  ASSERT_TRUE(registered.ok());
  auto answer = Poll(*registered);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->certificate_chain_pem(), "");
  EXPECT_EQ(answer->delivery_certificate_sha256(), "");
  EXPECT_EQ(answer->delivery_certificate_pem(), "");
}

// ---- B: stream takeovers.

// Before, every takeover wrote an audit row: two clones of one registration reconnecting
// in a loop grew the audit log without bound.
TEST_F(AgentApiTest, StreamTakeoversAreAuditedAtMostOncePerMinutePerConnector) {
  v1::RegisterResponse a;
  RegisterAndApprove("CORP\\ADCS01$", &a);
  v1::RegisterResponse b;
  RegisterAndApprove("CORP\\ADCS02$", &b);
  auto connector_a = store_.GetConnectorById(a.connector_id(), clock_.Now());
  auto connector_b = store_.GetConnectorById(b.connector_id(), clock_.Now());
  ASSERT_TRUE(connector_a.ok() && connector_b.ok());

  for (int i = 0; i < 50; ++i) {
    agents_.ReportStreamReplaced(*connector_a, "the stream from 10.0.0.1 was ended");
    clock_.Advance(absl::Seconds(1));
  }
  std::vector<AuditEventRecord> rows = AuditRows("connector.stream_replaced");
  ASSERT_EQ(rows.size(), 1u) << "the first takeover is audited, the next 49 within the minute are not";
  EXPECT_EQ(rows[0].object_id, a.connector_id());
  EXPECT_FALSE(absl::StrContains(rows[0].details, "not audited")) << rows[0].details;

  // Another connector is not held back by the first one's noise.
  agents_.ReportStreamReplaced(*connector_b, "the stream from 10.0.0.2 was ended");
  ASSERT_EQ(AuditRows("connector.stream_replaced").size(), 2u);

  clock_.Advance(absl::Seconds(11));  // a minute after the first row
  agents_.ReportStreamReplaced(*connector_a, "the stream from 10.0.0.1 was ended");
  rows = AuditRows("connector.stream_replaced");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].object_id, a.connector_id());
  EXPECT_TRUE(absl::StrContains(rows[0].details, "49 more takeovers")) << rows[0].details;

  // A takeover after a quiet minute is audited with nothing left out.
  clock_.Advance(absl::Minutes(2));
  agents_.ReportStreamReplaced(*connector_a, "the stream from 10.0.0.1 was ended");
  rows = AuditRows("connector.stream_replaced");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_FALSE(absl::StrContains(rows[0].details, "not audited")) << rows[0].details;
}

TEST(AuditThrottleTest, BoundedKeysNeverLoseAFirstEvent) {
  AuditThrottle throttle(absl::Minutes(1), /*max_keys=*/2);
  const absl::Time t0 = absl::FromUnixSeconds(1'900'000'000);
  EXPECT_EQ(throttle.Admit("a", t0), 0);
  EXPECT_EQ(throttle.Admit("b", t0), 0);
  EXPECT_EQ(throttle.Admit("a", t0 + absl::Seconds(1)), std::nullopt);
  // Full: "c" is admitted untracked, so it is admitted again.
  EXPECT_EQ(throttle.Admit("c", t0 + absl::Seconds(2)), 0);
  EXPECT_EQ(throttle.Admit("c", t0 + absl::Seconds(3)), 0);
  // A minute on, the quiet keys are forgotten to make room.
  EXPECT_EQ(throttle.Admit("d", t0 + absl::Minutes(1)), 0);
  EXPECT_EQ(throttle.Admit("d", t0 + absl::Minutes(1) + absl::Seconds(1)), std::nullopt);
}

// ---- C3: one CA identity rule.

// Before, Register stored the identity as typed: Hello accepted "corp\adcs01$" for
// "CORP\ADCS01$" (ignoring case) while the store's claim compared exactly, so a second
// connector of the same account, registered in another spelling, never got the sticky
// RETRIEVE/REVOKE jobs of the first.
TEST_F(AgentApiTest, CaIdentityIsStoredNormalisedSoClaimsAndHelloAgree) {
  v1::RegisterResponse first;
  RegisterAndApprove("corp\\adcs01$", &first);
  v1::RegisterResponse second;
  RegisterAndApprove("CORP\\ADCS01$", &second);
  auto a = store_.GetConnectorById(first.connector_id(), clock_.Now());
  auto b = store_.GetConnectorById(second.connector_id(), clock_.Now());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ca_identity, "CORP\\ADCS01$");
  EXPECT_EQ(b->ca_identity, "CORP\\ADCS01$");

  v1::Hello hello;
  hello.set_ca_identity("Corp\\Adcs01$");
  EXPECT_TRUE(agents_.RecordHello(*a, hello, "r1", clock_.Now()).ok());

  // A sticky job of the first connector's identity is claimable by the second.
  CertificateRequestRecord request;
  request.name = "req-1";
  request.tenant_id = admin_caller_.tenant_id;
  request.request_id = "rid-1";
  request.ca_id = "ca-1";
  request.create_time = clock_.Now();
  JobRecord retrieve;
  retrieve.ca_id = "ca-1";
  retrieve.kind = JobKind::kRetrieve;
  retrieve.required_identity = a->ca_identity;
  retrieve.create_time = clock_.Now();
  ASSERT_TRUE(store_.CreateCertificateRequest(request, retrieve).ok());
  ClaimParams claim;
  claim.tenant_id = admin_caller_.tenant_id;
  claim.connector_id = b->connector_id;
  claim.ca_identity = b->ca_identity;
  claim.ca_ids = {"ca-1"};
  claim.limit = 1;
  claim.per_ca_limit = 1;
  claim.now = clock_.Now();
  claim.lease_until = clock_.Now() + absl::Minutes(2);
  auto claimed = store_.ClaimJobs(claim);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  EXPECT_EQ(claimed->size(), 1u);
}

// ---- C1: a key-generation RETRIEVE goes to the connector that holds the key.

TEST_F(AgentApiTest, KeyGenerationRetrieveIsClaimedOnlyByTheConnectorHoldingTheKey) {
  CertificateRequestRecord request;
  request.name = "req-kg";
  request.tenant_id = admin_caller_.tenant_id;
  request.request_id = "rid-kg";
  request.ca_id = "ca-1";
  request.key_type = "EC-P256";
  request.subject = "CN=device";
  request.create_time = clock_.Now();
  JobRecord submit;
  submit.ca_id = "ca-1";
  submit.kind = JobKind::kSubmit;
  submit.create_time = clock_.Now();
  ASSERT_TRUE(store_.CreateCertificateRequest(request, submit).ok());

  ClaimParams holder;
  holder.tenant_id = admin_caller_.tenant_id;
  holder.connector_id = "conn-holder";
  holder.ca_identity = "CORP\\SVC-CERTBRIDGE";
  holder.ca_ids = {"ca-1"};
  holder.limit = 4;
  holder.per_ca_limit = 4;
  holder.now = clock_.Now();
  holder.lease_until = clock_.Now() + absl::Minutes(2);
  auto claimed = store_.ClaimJobs(holder);
  ASSERT_TRUE(claimed.ok() && claimed->size() == 1u);
  auto stored = store_.GetCertificateRequest(admin_caller_.tenant_id, "req-kg");
  ASSERT_TRUE(stored.ok());

  v1::JobResult pending;
  pending.set_job_id(claimed->front().job_id);
  pending.set_ca_answered(true);
  pending.set_disposition(adcs::kDispositionUnderSubmission);
  pending.set_ca_request_id(12);
  auto completion = OutcomeOfJob(*stored, claimed->front(), pending, holder.connector_id,
                                 holder.ca_identity, clock_.Now(), JobOutcomeOptions());
  ASSERT_TRUE(completion.ok()) << completion.status();
  ASSERT_TRUE(store_.CompleteJob(*completion).ok());

  clock_.Advance(absl::Minutes(10));
  ClaimParams same_account = holder;  // another agent, same Windows account
  same_account.connector_id = "conn-other";
  same_account.now = clock_.Now();
  same_account.lease_until = clock_.Now() + absl::Minutes(2);
  auto other = store_.ClaimJobs(same_account);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE(other->empty()) << "it does not hold the generated key";

  holder.now = clock_.Now();
  holder.lease_until = clock_.Now() + absl::Minutes(2);
  auto mine = store_.ClaimJobs(holder);
  ASSERT_TRUE(mine.ok()) << mine.status();
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ(mine->front().kind, JobKind::kRetrieve);
}

}  // namespace
}  // namespace certbridge::broker
