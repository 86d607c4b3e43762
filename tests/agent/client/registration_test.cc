#include "agent/client/registration.h"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "agent/client/state_dir.h"
#include "agent/jobs/agent_policy_state.h"
#include "common/clock.h"
#include "common/pki/delivery.h"
#include "common/pki/pki.h"
#include "gtest/gtest.h"
#include "tests/agent/support/platform_test_support.h"
#include "tests/agent/client/fake_agent_service.h"

namespace certbridge::agent {
namespace {

namespace fs = std::filesystem;
using testing::FakeAgentService;
using testing::FakeBroker;
using testing::TestPki;

class RegistrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestPki>> pki = TestPki::Create();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = std::move(*pki);
    service_ = std::make_unique<FakeAgentService>(*pki_);
    broker_ = FakeBroker::Start(*service_, *pki_);
    ASSERT_NE(broker_, nullptr);
    root_ = test_support::MakeTempDir("agent-register-");
    ASSERT_FALSE(root_.empty());
  }
  void TearDown() override {
    broker_.reset();
    fs::remove_all(root_);
  }

  RegistrationParams Params() const {
    RegistrationParams p;
    p.broker_address = broker_->address();
    p.broker_ca_pem = pki_->broker_ca_pem();
    p.enrollment_token = "good-token";
    p.state_dir = root_ + "/state";
    p.host = "adcs01.corp.example";
    p.wait_seconds = 1;
    p.min_poll_interval = absl::Milliseconds(10);
    p.retry_base = absl::Milliseconds(10);
    p.retry_max = absl::Milliseconds(50);
    return p;
  }

  std::unique_ptr<TestPki> pki_;
  std::unique_ptr<FakeAgentService> service_;
  std::unique_ptr<FakeBroker> broker_;
  std::string root_;
  RealClock clock_;
};

TEST_F(RegistrationTest, RegistersWaitsForApprovalAndStoresKeyAndChain) {
  service_->SetPendingPolls(2);
  std::ostringstream out;
  absl::StatusOr<RegistrationResult> result = RegisterAgent(Params(), clock_, out);
  ASSERT_TRUE(result.ok()) << result.status();

  EXPECT_EQ(result->registration.connector_id, "c-1");
  EXPECT_EQ(result->registration.tenant_id, "t-1");
  EXPECT_EQ(result->registration.ca_identity, "ADCS01$");
  EXPECT_EQ(service_->observed().polls, 3);
  // The person at the console sees the code, the URL and the expiry.
  EXPECT_NE(out.str().find("K7QX-M2PD"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("https://broker.example/connectors/approve"), std::string::npos);
  EXPECT_NE(out.str().find("Code expires"), std::string::npos);

  // Only a CSR travelled, for CN=<host>, with the agent's facts.
  testing::Observed seen = service_->observed();
  ASSERT_EQ(seen.register_requests.size(), 1u);
  const auto& request = seen.register_requests[0];
  EXPECT_EQ(request.csr_pem().find("PRIVATE KEY"), std::string::npos);
  absl::StatusOr<pki::CsrInfo> csr = pki::ParseCsr(request.csr_pem());
  ASSERT_TRUE(csr.ok());
  EXPECT_EQ(csr->subject, "CN=adcs01.corp.example");
  EXPECT_EQ(csr->key_type, pki::KeyType::kEcP256);
  EXPECT_EQ(request.host(), "adcs01.corp.example");
  EXPECT_EQ(request.ca_identity(), "ADCS01$");
  EXPECT_FALSE(request.os().empty());
  EXPECT_FALSE(request.agent_version().empty());

  std::string dir = root_ + "/state";
  EXPECT_TRUE(test_support::HasAccess(dir, FileAccess::kOwnerOnly));
  EXPECT_TRUE(test_support::HasAccess(dir + "/agent.key", FileAccess::kOwnerOnly));
  StateDir state(dir);
  absl::StatusOr<AgentRegistration> reg = state.LoadRegistration();
  ASSERT_TRUE(reg.ok()) << reg.status();
  EXPECT_EQ(reg->broker_address, broker_->address());
  EXPECT_EQ(reg->connector_id, "c-1");
  EXPECT_EQ(reg->tenant_id, "t-1");
  absl::StatusOr<AgentCredentials> creds = state.LoadCredentials();
  ASSERT_TRUE(creds.ok()) << creds.status();
  EXPECT_EQ(creds->broker_ca_pem, pki_->broker_ca_pem());
  absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::FromPem(creds->key_pem);
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(pki::KeyMatchesCertificate(*key, pki::SplitPemChain(creds->chain_pem)->front()));
  EXPECT_EQ(pki::SplitPemChain(creds->chain_pem)->size(), 2u);
}

std::string DeliveryCertificatePem(const std::string& subject) {
  auto ca = pki::SigningCa::CreateSelfSigned(subject, pki::KeyType::kEcP256,
                                             absl::Now() - absl::Hours(1),
                                             absl::Now() + absl::Hours(24));
  EXPECT_TRUE(ca.ok()) << ca.status();
  return ca.ok() ? (*ca)->certificate().pem : "";
}

// Before, registration pinned nothing: the first key-generation job's certificate was.
TEST_F(RegistrationTest, ApprovalsDeliveryCertificateIsPinnedAndPrinted) {
  const std::string pem = DeliveryCertificatePem("CN=MDM delivery");
  const std::string sha256 = *pki::DeliveryCertificateSha256(pem);
  service_->SetApprovalDeliveryCertificate(sha256, pem);
  std::ostringstream out;
  absl::StatusOr<RegistrationResult> result = RegisterAgent(Params(), clock_, out);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->delivery_certificate_sha256, sha256);
  auto policy = AgentPolicyState::Open(root_ + "/state/policy");
  ASSERT_TRUE(policy.ok()) << policy.status();
  auto pinned = (*policy)->PinnedDeliveryCertificate();
  ASSERT_TRUE(pinned.ok() && pinned->has_value()) << pinned.status();
  EXPECT_EQ(**pinned, sha256);
}

TEST_F(RegistrationTest, ApprovalWhoseFingerprintIsNotItsCertificatesSavesNothing) {
  const std::string pem = DeliveryCertificatePem("CN=MDM delivery");
  const std::string other = *pki::DeliveryCertificateSha256(DeliveryCertificatePem("CN=Other"));
  service_->SetApprovalDeliveryCertificate(other, pem);
  std::ostringstream out;
  absl::StatusOr<RegistrationResult> result = RegisterAgent(Params(), clock_, out);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("nothing was pinned"), std::string::npos)
      << result.status();
  EXPECT_FALSE(StateDir(root_ + "/state").HasRegistration());
}

TEST_F(RegistrationTest, ApprovalWithoutDeliveryCertificatePinsNothing) {
  std::ostringstream out;
  absl::StatusOr<RegistrationResult> result = RegisterAgent(Params(), clock_, out);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->delivery_certificate_sha256, "");
  auto policy = AgentPolicyState::Open(root_ + "/state/policy");
  ASSERT_TRUE(policy.ok()) << policy.status();
  auto pinned = (*policy)->PinnedDeliveryCertificate();
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_FALSE(pinned->has_value());
}

TEST_F(RegistrationTest, ExplicitCaIdentityIsSent) {
  RegistrationParams p = Params();
  p.ca_identity = "CORP\\svc-certbridge";
  std::ostringstream out;
  ASSERT_TRUE(RegisterAgent(p, clock_, out).ok());
  EXPECT_EQ(service_->observed().register_requests[0].ca_identity(), "CORP\\svc-certbridge");
  EXPECT_EQ(StateDir(p.state_dir).LoadRegistration()->ca_identity, "CORP\\svc-certbridge");
}

TEST_F(RegistrationTest, UnknownTokenIsUnauthenticatedWithRemedyAndWritesNothing) {
  RegistrationParams p = Params();
  p.enrollment_token = "stale-token";
  std::ostringstream out;
  absl::StatusOr<RegistrationResult> result = RegisterAgent(p, clock_, out);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated) << result.status();
  // The broker's message carries the remedy; the agent does not repeat it.
  EXPECT_NE(result.status().message().find("not valid for this broker"), absl::string_view::npos);
  EXPECT_NE(result.status().message().find("ask a tenant admin"), absl::string_view::npos);
  EXPECT_EQ(result.status().message().find("new enrollment token"), absl::string_view::npos);
  EXPECT_FALSE(StateDir(p.state_dir).HasRegistration());
}

TEST_F(RegistrationTest, RejectedRegistrationIsPermissionDenied) {
  service_->FailPolls(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                   "registration of connector c-1 was rejected by an admin"));
  std::ostringstream out;
  absl::StatusOr<RegistrationResult> result = RegisterAgent(Params(), clock_, out);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied) << result.status();
  EXPECT_NE(result.status().message().find("rejected by an admin"), absl::string_view::npos);
  EXPECT_NE(result.status().message().find("new enrollment token"), absl::string_view::npos);
  EXPECT_FALSE(StateDir(Params().state_dir).HasRegistration());
}

TEST_F(RegistrationTest, ExpiredCodeIsFailedPrecondition) {
  service_->FailPolls(
      grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "registration code expired"));
  std::ostringstream out;
  absl::StatusOr<RegistrationResult> result = RegisterAgent(Params(), clock_, out);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition) << result.status();
  EXPECT_NE(result.status().message().find("new enrollment token"), absl::string_view::npos);
}

TEST_F(RegistrationTest, DeletedRegistrationIsNotFound) {
  service_->FailPolls(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                   "registration of connector \"c-1\" not found"));
  std::ostringstream out;
  absl::StatusOr<RegistrationResult> result = RegisterAgent(Params(), clock_, out);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound) << result.status();
  EXPECT_NE(result.status().message().find("new enrollment token"), absl::string_view::npos);
}

TEST_F(RegistrationTest, BrokerUnreachableWhilePollingIsRetried) {
  service_->SetPendingPolls(0);
  service_->FailPolls(grpc::Status(grpc::StatusCode::UNAVAILABLE, "replica restarting"));
  std::ostringstream out;
  absl::StatusOr<RegistrationResult> result;
  std::thread registering([&] { result = RegisterAgent(Params(), clock_, out); });
  ASSERT_TRUE(service_->WaitFor([](const testing::Observed& o) { return o.polls >= 3; },
                                absl::Seconds(20)));
  service_->FailPolls(grpc::Status::OK);
  registering.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->registration.connector_id, "c-1");
}

TEST_F(RegistrationTest, ExistingRegistrationIsRefusedBeforeTheTokenIsSpent) {
  std::ostringstream out;
  ASSERT_TRUE(RegisterAgent(Params(), clock_, out).ok());
  absl::StatusOr<RegistrationResult> again = RegisterAgent(Params(), clock_, out);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  EXPECT_EQ(service_->observed().register_requests.size(), 1u);

  RegistrationParams forced = Params();
  forced.overwrite = true;
  std::string old_key = *ReadWholeFile(forced.state_dir + "/agent.key");
  ASSERT_TRUE(RegisterAgent(forced, clock_, out).ok());
  EXPECT_NE(*ReadWholeFile(forced.state_dir + "/agent.key"), old_key);
}

TEST_F(RegistrationTest, UntrustedBrokerIsUnavailable) {
  RegistrationParams p = Params();
  absl::StatusOr<std::unique_ptr<TestPki>> other = TestPki::Create();
  ASSERT_TRUE(other.ok());
  p.broker_ca_pem = (*other)->broker_ca_pem();
  std::ostringstream out;
  absl::StatusOr<RegistrationResult> result = RegisterAgent(p, clock_, out);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable) << result.status();
  EXPECT_NE(result.status().message().find("--broker-ca"), absl::string_view::npos);
  EXPECT_TRUE(service_->observed().register_requests.empty());
}

TEST(ApprovalBoxTest, ShowsCodeUrlAndExpiryInAFrame) {
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  std::string box = FormatApprovalBox("K7QX-M2PD", "https://b.example/approve",
                                      now + absl::Minutes(15), now);
  EXPECT_NE(box.find("|  Registration code:  K7QX-M2PD"), std::string::npos) << box;
  EXPECT_NE(box.find("(in 15 minutes)"), std::string::npos) << box;
  EXPECT_EQ(box.front(), '+');
  // Every line of the frame has the same width.
  size_t width = box.find('\n');
  for (size_t pos = 0; pos < box.size();) {
    size_t end = box.find('\n', pos);
    EXPECT_EQ(end - pos, width) << box;
    pos = end + 1;
  }
}

}  // namespace
}  // namespace certbridge::agent
