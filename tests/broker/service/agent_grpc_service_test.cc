// AgentGrpcService in a real in-process gRPC server against the FakeStore: what an
// unauthenticated caller can hold open on the agent port, and the ErrorInfo reasons an agent
// (or the admin reading its log) acts on. (Transport security is beside the point here; the
// integration tests run over TLS.)
#include "broker/service/agent_grpc_service.h"

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "broker/store/fake/fake_store.h"
#include "common/api_error.h"
#include "common/clock.h"
#include "common/pki/pki.h"

namespace certbridge::broker {
namespace {

class AgentGrpcServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.CreateTenant({"t-1", "Tenant one", clock_.Now()}).ok());
    EnrollmentTokenRecord token;
    token.token_hash = "token-hash";
    token.tenant_id = "t-1";
    token.create_time = clock_.Now();
    token.expire_time = clock_.Now() + absl::Hours(1);
    ASSERT_TRUE(store_.CreateEnrollmentToken(token).ok());
    ConnectorRecord connector;
    connector.connector_id = "conn-1";
    connector.host = "adcs01";
    connector.ca_identity = "CORP\\ADCS01$";
    connector.registration_code_hash = "code-hash";
    connector.registration_code_expire_time = clock_.Now() + absl::Hours(1);
    connector.poll_secret_hash = pki::Sha256Hex("poll-secret");
    connector.create_time = clock_.Now();
    ASSERT_TRUE(store_.RegisterConnector("token-hash", clock_.Now(), connector).ok());

    AgentServiceLimits limits;
    limits.max_registration_polls = 3;
    limits.max_registration_polls_per_source = 2;
    service_ = std::make_unique<AgentGrpcService>(&agents_, &dispatcher_, &pool_, &clock_,
                                                  "replica-1", limits);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::AgentService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    service_->Drain(0);  // answers the open polls
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    pool_.Shutdown();
  }

  v1::GetRegistrationRequest Poll() {
    v1::GetRegistrationRequest poll;
    poll.set_connector_id("conn-1");
    poll.set_poll_secret("poll-secret");
    poll.set_wait_seconds(60);
    return poll;
  }

  bool WaitForPolls(size_t want) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      if (service_->RegistrationPollCount() == want) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }

  FakeClock clock_;  // never advances: a poll stays open until answered
  FakeStore store_;
  WorkerPool pool_{2};
  ConnectorCa ca_{std::move(pki::SigningCa::CreateSelfSigned("CN=test connector CA",
                                                              pki::KeyType::kEcP256,
                                                              clock_.Now() - absl::Hours(1),
                                                              clock_.Now() + absl::Hours(48))
                                 .value()),
                  absl::Hours(24)};
  AgentApi agents_{&store_, &clock_, &ca_, AgentApiOptions()};
  JobDispatcher dispatcher_{&store_, &store_, &pool_, &clock_, JobDispatcherOptions()};
  std::unique_ptr<AgentGrpcService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
};

// Before the caps, anyone could hold any number of 60 s polls, each re-reading the
// database every second.
TEST_F(AgentGrpcServiceTest, RegistrationPollsAreCappedPerSource) {
  grpc::ClientContext first_context, second_context;
  const v1::GetRegistrationRequest first_request = Poll(), second_request = Poll();
  v1::GetRegistrationResponse first_response, second_response;
  grpc::Status first_status, second_status;
  absl::Notification first_done, second_done;
  stub_->async()->GetRegistration(&first_context, &first_request,
                                  &first_response, [&](grpc::Status s) {
                                    first_status = s;
                                    first_done.Notify();
                                  });
  stub_->async()->GetRegistration(&second_context, &second_request,
                                  &second_response, [&](grpc::Status s) {
                                    second_status = s;
                                    second_done.Notify();
                                  });
  ASSERT_TRUE(WaitForPolls(2));

  grpc::ClientContext third;
  third.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::GetRegistrationResponse response;
  grpc::Status status = stub_->GetRegistration(&third, Poll(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_EQ(DetailsOf(status).reason, "REGISTRATION_POLL_LIMIT");
  EXPECT_EQ(DetailsOf(status).retry_delay, absl::Seconds(10));
  EXPECT_EQ(service_->RegistrationPollCount(), 2u);

  service_->Drain(0);
  first_done.WaitForNotification();
  second_done.WaitForNotification();
  EXPECT_TRUE(first_status.ok()) << first_status.error_message();
}

TEST_F(AgentGrpcServiceTest, OversizedConnectorIdIsRefusedBeforeAnyLookup) {
  v1::GetRegistrationRequest poll = Poll();
  poll.set_connector_id(std::string(10000, 'c'));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::GetRegistrationResponse response;
  const int64_t before = store_.call_count();
  grpc::Status status = stub_->GetRegistration(&context, poll, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_EQ(DetailsOf(status).reason, "FIELD_TOO_LONG");
  ASSERT_EQ(DetailsOf(status).field_violations.size(), 1u);
  EXPECT_EQ(DetailsOf(status).field_violations[0].first, "connector_id");
  EXPECT_EQ(store_.call_count(), before);
}

// The errors an agent or an admin acts on carry a stable ErrorInfo reason, as on the
// certificate and admin APIs (docs/certificates.md, "Errors"; issue 10).
TEST_F(AgentGrpcServiceTest, AgentErrorsCarryTheirReason) {
  auto call = [&](auto rpc, const auto& request, auto* response) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return (stub_.get()->*rpc)(&context, request, response);
  };
  auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  ASSERT_TRUE(key.ok());
  auto csr = pki::CreateCsrPem(*key, {.subject = "CN=agent"});
  ASSERT_TRUE(csr.ok());
  v1::RegisterRequest reg;
  reg.set_host("adcs02");
  reg.set_ca_identity("CORP\\ADCS02$");
  reg.set_csr_pem(*csr);
  v1::RegisterResponse registered;

  grpc::Status status = call(&v1::AgentService::Stub::Register, reg, &registered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(DetailsOf(status).reason, "FIELD_REQUIRED");
  EXPECT_EQ(DetailsOf(status).metadata["field"], "enrollment_token");

  reg.set_enrollment_token("cbet.not-a-token");
  status = call(&v1::AgentService::Stub::Register, reg, &registered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(DetailsOf(status).reason, "ENROLLMENT_TOKEN_INVALID");

  v1::GetRegistrationRequest poll = Poll();
  poll.set_poll_secret("wrong");
  v1::GetRegistrationResponse answer;
  status = call(&v1::AgentService::Stub::GetRegistration, poll, &answer);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(DetailsOf(status).reason, "REGISTRATION_NOT_FOUND");

  ASSERT_TRUE(store_.TransitionConnector("t-1", "conn-1", {ConnectorState::kPending},
                                         ConnectorState::kRejected)
                  .ok());
  status = call(&v1::AgentService::Stub::GetRegistration, Poll(), &answer);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(DetailsOf(status).reason, "CONNECTOR_REJECTED");
  EXPECT_EQ(DetailsOf(status).metadata["connector_id"], "conn-1");

  // Connect without the agent certificate (this channel has none).
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  auto stream = stub_->Connect(&context);
  v1::BrokerMessage message;
  while (stream->Read(&message)) {
  }
  status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(DetailsOf(status).reason, "AGENT_CERTIFICATE_REQUIRED");
}

}  // namespace
}  // namespace certbridge::broker
