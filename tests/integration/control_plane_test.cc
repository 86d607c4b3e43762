// The control plane end to end, with real processes: PostgreSQL, the broker,
// certbridge-agent and certbridgectl. Bad input is checked through the gRPC API directly
// so that the exact status code is asserted.
#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <memory>
#include <regex>
#include <string>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/pki/pki.h"
#include "tests/integration/test_stack.h"

namespace certbridge::testing {
namespace {

using ::certbridge::v1::AdminService;
using ::certbridge::v1::AgentService;

template <typename Message>
Message ParseJson(const std::string& json) {
  Message message;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status = google::protobuf::util::JsonStringToMessage(json, &message, options);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\nin: " << json;
  return message;
}

class ControlPlaneTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto stack = TestStack::Create();
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = stack->release();
    // Short agent certificates so that renewal happens during the test.
    auto broker = stack_->StartBroker({"--agent_certificate_lifetime=30s",
                                       "--heartbeat_interval_seconds=2"});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = new BrokerProcess(*std::move(broker));
  }
  static void TearDownTestSuite() {
    delete broker_;
    delete stack_;
  }

  void SetUp() override {
    ASSERT_NE(stack_, nullptr);
    ASSERT_NE(broker_, nullptr);
    admin_ = stack_->AdminStub(*broker_);
    agent_ = stack_->AgentStub(*broker_);
  }

  struct TenantKeys {
    std::string tenant_id;
    std::string admin_key;
  };

  TenantKeys NewTenant(const std::string& name, const std::string& scopes = "admin") {
    absl::StatusOr<TestTenant> tenant = stack_->CreateTenant(*broker_, name, scopes);
    EXPECT_TRUE(tenant.ok()) << tenant.status();
    if (!tenant.ok()) return {};
    return {tenant->tenant_id, tenant->api_key};
  }

  std::string NewEnrollmentToken(const std::string& admin_key, int ttl_seconds = 0) {
    v1::CreateEnrollmentTokenRequest request;
    request.set_ttl_seconds(ttl_seconds);
    v1::CreateEnrollmentTokenResponse response;
    grpc::Status s =
        admin_->CreateEnrollmentToken(CallContext(admin_key).get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.token();
  }

  static std::string NewCsr() {
    auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    EXPECT_TRUE(key.ok());
    auto csr = pki::CreateCsrPem(*key, {"CN=test agent", {}});
    EXPECT_TRUE(csr.ok());
    return *csr;
  }

  grpc::Status Register(const std::string& token, const std::string& csr,
                        v1::RegisterResponse* response, AgentService::Stub* stub = nullptr) {
    v1::RegisterRequest request;
    request.set_enrollment_token(token);
    request.set_csr_pem(csr);
    request.set_host("agent.corp.example.com");
    request.set_os("Linux");
    request.set_agent_version("test");
    request.set_ca_identity("CORP\\svc-certbridge");
    return (stub ? stub : agent_.get())->Register(CallContext("").get(), request, response);
  }

  // Opens Connect with the given client credentials and returns how the stream ended
  // (or OK if it stayed open past the first message exchange).
  grpc::Status ConnectOnce(const std::string& chain_pem, const std::string& key_pem) {
    auto stub = stack_->AgentStub(*broker_, chain_pem, key_pem);
    auto context = CallContext("", absl::Seconds(10));
    auto stream = stub->Connect(context.get());
    v1::AgentMessage hello;
    hello.mutable_hello()->set_agent_version("test");
    stream->Write(hello);
    v1::BrokerMessage reply;
    if (stream->Read(&reply)) {
      context->TryCancel();
      stream->Finish();
      return grpc::Status::OK;
    }
    return stream->Finish();
  }

  // A certificate from the real connector CA (the test holds its key) naming a connector.
  std::pair<std::string, std::string> ForgeAgentCertificate(const std::string& tenant_id,
                                                            const std::string& connector_id,
                                                            const std::string& ca_cert_pem,
                                                            const std::string& ca_key_pem) {
    auto ca = pki::SigningCa::Load(ca_cert_pem, ca_key_pem);
    EXPECT_TRUE(ca.ok()) << ca.status();
    auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    auto csr = pki::CreateCsrPem(*key, {"CN=forged", {}});
    auto info = pki::ParseCsr(*csr);
    pki::IssueParams params;
    params.csr_der = info->der;
    params.sans = {{pki::SubjectAltName::Type::kUri,
                    absl::StrCat("certbridge://tenant/", tenant_id, "/connector/", connector_id)}};
    params.override_sans = true;
    params.not_before = absl::Now() - absl::Minutes(1);
    params.not_after = absl::Now() + absl::Hours(1);
    params.extended_key_usages = {"1.3.6.1.5.5.7.3.2"};
    auto cert = (*ca)->Issue(params);
    EXPECT_TRUE(cert.ok()) << cert.status();
    return {cert->pem + (*ca)->certificate().pem, key->ToPem()};
  }

  v1::Connector GetConnector(const std::string& admin_key, const std::string& connector_id) {
    v1::GetConnectorRequest request;
    request.set_connector_id(connector_id);
    v1::Connector connector;
    grpc::Status s = admin_->GetConnector(CallContext(admin_key).get(), request, &connector);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return connector;
  }

  static TestStack* stack_;
  static BrokerProcess* broker_;
  std::unique_ptr<AdminService::Stub> admin_;
  std::unique_ptr<AgentService::Stub> agent_;
};

TestStack* ControlPlaneTest::stack_ = nullptr;
BrokerProcess* ControlPlaneTest::broker_ = nullptr;

TEST_F(ControlPlaneTest, AgentRegistersIsApprovedConnectsRenewsAndIsCutOffWhenDisabled) {
  const std::string op = stack_->operator_key();
  // The operator makes a tenant and its admin key with certbridgectl.
  CommandResult tenant_out = stack_->Ctl(*broker_, op, {"--output=json", "tenants", "create", "Acme Corp"});
  ASSERT_EQ(tenant_out.exit_code, 0) << tenant_out.err;
  const auto tenant = ParseJson<v1::Tenant>(tenant_out.out);
  ASSERT_FALSE(tenant.tenant_id().empty());
  CommandResult key_out = stack_->Ctl(*broker_, op, {"--output=json", "api-keys", "create", "--tenant",
                                                     tenant.tenant_id(), "--scopes", "admin,certificates"});
  ASSERT_EQ(key_out.exit_code, 0) << key_out.err;
  const std::string admin_key = ParseJson<v1::CreateApiKeyResponse>(key_out.out).secret();
  ASSERT_TRUE(absl::StartsWith(admin_key, "cbk.")) << key_out.out;

  CommandResult token_out = stack_->Ctl(*broker_, admin_key, {"--output=json", "enrollment-tokens", "create"});
  ASSERT_EQ(token_out.exit_code, 0) << token_out.err;
  const std::string token = ParseJson<v1::CreateEnrollmentTokenResponse>(token_out.out).token();
  ASSERT_FALSE(token.empty());

  // The agent registers and waits for approval.
  const std::string state_dir = stack_->dir() + "/agent1";
  auto registering = ChildProcess::Start(
      {BuildPath("bin/certbridge-agent"), "register", "--broker", broker_->agent_address(),
       "--broker-ca", stack_->pki("tls-ca.pem"), "--token", token, "--state-dir", state_dir,
       "--ca-identity", "CORP\\svc-certbridge", "--host", "adcs-agent1.corp.example.com"},
      stack_->dir() + "/agent1-register.log");
  ASSERT_TRUE(registering.ok()) << registering.status();
  std::string code;
  const std::regex code_pattern("Registration code: +([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})\\b");
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::smatch m;
        std::string log = (*registering)->Log();
        if (!std::regex_search(log, m, code_pattern)) return false;
        code = m[1];
        return true;
      },
      absl::Seconds(30)))
      << (*registering)->Log();

  // PENDING: listed, and no stream is accepted for it even with a certificate naming it.
  CommandResult list_out = stack_->Ctl(*broker_, admin_key, {"--output=json", "connectors", "list"});
  ASSERT_EQ(list_out.exit_code, 0) << list_out.err;
  auto listed = ParseJson<v1::ListConnectorsResponse>(list_out.out);
  ASSERT_EQ(listed.connectors_size(), 1);
  const v1::Connector pending = listed.connectors(0);
  EXPECT_EQ(pending.state(), v1::Connector::STATE_PENDING);
  EXPECT_EQ(pending.host(), "adcs-agent1.corp.example.com");
  // Stored as common/adcs/ca_identity normalises it (Windows compares names ignoring case).
  EXPECT_EQ(pending.ca_identity(), "CORP\\SVC-CERTBRIDGE");
  auto [forged_chain, forged_key] =
      ForgeAgentCertificate(tenant.tenant_id(), pending.connector_id(),
                            ReadFileOrEmpty(stack_->pki("connector-ca.pem")),
                            ReadFileOrEmpty(stack_->pki("connector-ca.key")));
  grpc::Status pending_stream = ConnectOnce(forged_chain, forged_key);
  EXPECT_EQ(pending_stream.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << pending_stream.error_message();
  EXPECT_TRUE(absl::StrContains(pending_stream.error_message(), "pending approval"))
      << pending_stream.error_message();

  // Approval by code: the agent gets its certificate and stores it.
  CommandResult approve = stack_->Ctl(*broker_, admin_key, {"connectors", "approve", code});
  ASSERT_EQ(approve.exit_code, 0) << approve.err;
  ASSERT_EQ((*registering)->WaitForExit(absl::Seconds(60)), 0) << (*registering)->Log();
  struct stat key_stat {};
  ASSERT_EQ(stat((state_dir + "/agent.key").c_str(), &key_stat), 0);
  EXPECT_EQ(key_stat.st_mode & 0777, 0600u);
  CommandResult verify = RunCommand({"openssl", "verify", "-CAfile", stack_->pki("connector-ca.pem"),
                                     state_dir + "/agent-chain.pem"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  CommandResult san = RunCommand({"openssl", "x509", "-in", state_dir + "/agent-chain.pem", "-noout",
                                  "-ext", "subjectAltName"});
  EXPECT_TRUE(absl::StrContains(san.out, absl::StrCat("URI:certbridge://tenant/", tenant.tenant_id(),
                                                      "/connector/", pending.connector_id())))
      << san.out;

  // The agent connects and shows CONNECTED.
  auto running = ChildProcess::Start(
      {BuildPath("bin/certbridge-agent"), "run", "--state-dir", state_dir, "--renew-fraction", "0.3"},
      stack_->dir() + "/agent1-run.log");
  ASSERT_TRUE(running.ok()) << running.status();
  ASSERT_TRUE(WaitUntil(
      [&] {
        return GetConnector(admin_key, pending.connector_id()).connectivity() ==
               v1::Connector::CONNECTIVITY_CONNECTED;
      },
      absl::Seconds(30)))
      << (*running)->Log();
  v1::Connector connected = GetConnector(admin_key, pending.connector_id());
  EXPECT_EQ(connected.state(), v1::Connector::STATE_ACTIVE);
  EXPECT_TRUE(connected.has_last_seen_time());

  // A CA is added and assigned; the connector lists it.
  CommandResult ca_out = stack_->Ctl(*broker_, admin_key, {"--output=json", "cas", "add",
                                                           "ca01.corp.example.com\\Corp Issuing CA",
                                                           "--display-name", "Corp Issuing CA"});
  ASSERT_EQ(ca_out.exit_code, 0) << ca_out.err;
  const auto ca = ParseJson<v1::CertificateAuthority>(ca_out.out);
  EXPECT_EQ(ca.config_string(), "ca01.corp.example.com\\Corp Issuing CA");
  CommandResult assign = stack_->Ctl(*broker_, admin_key, {"cas", "assign", ca.ca_id(), pending.connector_id()});
  ASSERT_EQ(assign.exit_code, 0) << assign.err;
  v1::Connector assigned = GetConnector(admin_key, pending.connector_id());
  ASSERT_EQ(assigned.ca_ids_size(), 1);
  EXPECT_EQ(assigned.ca_ids(0), ca.ca_id());

  // Renewal over the stream: 30 s certificates, renewed at 30% of their life.
  const std::string first_serial = connected.certificate_serial();
  ASSERT_TRUE(WaitUntil(
      [&] {
        return GetConnector(admin_key, pending.connector_id()).certificate_serial() != first_serial;
      },
      absl::Seconds(40)))
      << (*running)->Log();
  const std::string renewed_serial = GetConnector(admin_key, pending.connector_id()).certificate_serial();
  ASSERT_TRUE(WaitUntil(
      [&] {
        CommandResult serial = RunCommand({"openssl", "x509", "-in", state_dir + "/agent-chain.pem",
                                           "-noout", "-serial"});
        return absl::StrContains(serial.out, renewed_serial);
      },
      absl::Seconds(10)));
  EXPECT_EQ(GetConnector(admin_key, pending.connector_id()).connectivity(), v1::Connector::CONNECTIVITY_CONNECTED);

  // Disabling cuts the stream at once.
  v1::DisableConnectorRequest disable;
  disable.set_connector_id(pending.connector_id());
  v1::Connector disabled;
  ASSERT_TRUE(admin_->DisableConnector(CallContext(admin_key).get(), disable, &disabled).ok());
  const absl::Time disabled_at = absl::Now();
  ASSERT_TRUE(WaitUntil(
      [&] {
        return GetConnector(admin_key, pending.connector_id()).connectivity() ==
               v1::Connector::CONNECTIVITY_DISCONNECTED;
      },
      absl::Seconds(5)));
  const absl::Duration cut_after = absl::Now() - disabled_at;
  std::cout << "stream cut " << absl::FormatDuration(cut_after) << " after DisableConnector\n";
  EXPECT_LT(cut_after, absl::Seconds(2));
  // The agent's own credentials are refused while disabled, and the agent says why.
  grpc::Status refused = ConnectOnce(ReadFileOrEmpty(state_dir + "/agent-chain.pem"),
                                     ReadFileOrEmpty(state_dir + "/agent.key"));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED) << refused.error_message();
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "disabled")) << refused.error_message();
  EXPECT_TRUE(WaitUntil([&] { return absl::StrContains((*running)->Log(), "disabled"); },
                        absl::Seconds(10)))
      << (*running)->Log();

  // SIGTERM ends the agent cleanly.
  (*running)->Signal(SIGTERM);
  EXPECT_EQ((*running)->WaitForExit(absl::Seconds(5)), 0);

  // The audit trail has the story.
  CommandResult audit = stack_->Ctl(*broker_, admin_key, {"--output=json", "audit", "list"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  for (const char* action : {"connector.register", "connector.approve", "ca.assign",
                             "connector.certificate_renew", "connector.disable"}) {
    EXPECT_TRUE(absl::StrContains(audit.out, action)) << action << " missing in " << audit.out;
  }
}

TEST_F(ControlPlaneTest, EnrollmentTokensAreSingleUseAndMustBeKnownAndFresh) {
  TenantKeys t = NewTenant("tokens");
  v1::RegisterResponse response;
  grpc::Status unknown = Register("cbet.not-a-token", NewCsr(), &response);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::UNAUTHENTICATED) << unknown.error_message();
  EXPECT_TRUE(absl::StrContains(unknown.error_message(), "enrollment-tokens create"));

  const std::string token = NewEnrollmentToken(t.admin_key);
  ASSERT_TRUE(Register(token, NewCsr(), &response).ok());
  EXPECT_FALSE(response.registration_code().empty());
  EXPECT_TRUE(absl::StrContains(response.registration_url(), response.registration_code()));
  grpc::Status reused = Register(token, NewCsr(), &response);
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << reused.error_message();
  EXPECT_TRUE(absl::StrContains(reused.error_message(), "used")) << reused.error_message();

  const std::string short_lived = NewEnrollmentToken(t.admin_key, /*ttl_seconds=*/1);
  absl::SleepFor(absl::Milliseconds(1500));  // let the token's own clock run out
  grpc::Status expired = Register(short_lived, NewCsr(), &response);
  EXPECT_EQ(expired.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << expired.error_message();
  EXPECT_TRUE(absl::StrContains(expired.error_message(), "expired")) << expired.error_message();
}

TEST_F(ControlPlaneTest, RegisterRefusesMalformedCsrAndOversizedMessages) {
  TenantKeys t = NewTenant("csr");
  v1::RegisterResponse response;
  grpc::Status garbage = Register(NewEnrollmentToken(t.admin_key), "-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----\n", &response);
  EXPECT_EQ(garbage.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << garbage.error_message();
  EXPECT_TRUE(absl::StrContains(garbage.error_message(), "CSR")) << garbage.error_message();

  grpc::Status oversized = Register(NewEnrollmentToken(t.admin_key), std::string(2 << 20, 'A'), &response);
  EXPECT_EQ(oversized.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << oversized.error_message();

  grpc::Status big_csr = Register(NewEnrollmentToken(t.admin_key), std::string(64 << 10, 'A'), &response);
  EXPECT_EQ(big_csr.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << big_csr.error_message();
  EXPECT_TRUE(absl::StrContains(big_csr.error_message(), "at most")) << big_csr.error_message();
}

TEST_F(ControlPlaneTest, RegistrationCodesAreTenantScopedSingleUseAndRejectable) {
  TenantKeys a = NewTenant("tenant a");
  TenantKeys b = NewTenant("tenant b");
  v1::RegisterResponse registered;
  ASSERT_TRUE(Register(NewEnrollmentToken(a.admin_key), NewCsr(), &registered).ok());

  v1::ApproveConnectorRequest approve;
  approve.set_registration_code(registered.registration_code());
  v1::Connector out;
  grpc::Status foreign = admin_->ApproveConnector(CallContext(b.admin_key).get(), approve, &out);
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::NOT_FOUND) << foreign.error_message();

  // Codes are typed by people: lower case without the dash works too.
  std::string typed = absl::AsciiStrToLower(registered.registration_code());
  typed.erase(std::remove(typed.begin(), typed.end(), '-'), typed.end());
  approve.set_registration_code(typed);
  grpc::Status own = admin_->ApproveConnector(CallContext(a.admin_key).get(), approve, &out);
  ASSERT_TRUE(own.ok()) << own.error_message();
  EXPECT_EQ(out.state(), v1::Connector::STATE_ACTIVE);
  grpc::Status again = admin_->ApproveConnector(CallContext(a.admin_key).get(), approve, &out);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::NOT_FOUND) << again.error_message();

  v1::GetRegistrationRequest poll;
  poll.set_connector_id(registered.connector_id());
  poll.set_poll_secret(registered.poll_secret());
  v1::GetRegistrationResponse approved;
  ASSERT_TRUE(agent_->GetRegistration(CallContext("").get(), poll, &approved).ok());
  EXPECT_EQ(approved.state(), v1::GetRegistrationResponse::STATE_APPROVED);
  EXPECT_TRUE(absl::StrContains(approved.certificate_chain_pem(), "BEGIN CERTIFICATE"));
  poll.set_poll_secret("wrong");
  grpc::Status wrong_secret = agent_->GetRegistration(CallContext("").get(), poll, &approved);
  EXPECT_EQ(wrong_secret.error_code(), grpc::StatusCode::NOT_FOUND);

  // Rejection ends the agent's wait with a clear answer.
  v1::RegisterResponse second;
  ASSERT_TRUE(Register(NewEnrollmentToken(a.admin_key), NewCsr(), &second).ok());
  v1::RejectConnectorRequest reject;
  reject.set_registration_code(second.registration_code());
  ASSERT_TRUE(admin_->RejectConnector(CallContext(a.admin_key).get(), reject, &out).ok());
  EXPECT_EQ(out.state(), v1::Connector::STATE_REJECTED);
  v1::GetRegistrationRequest poll2;
  poll2.set_connector_id(second.connector_id());
  poll2.set_poll_secret(second.poll_secret());
  poll2.set_wait_seconds(5);
  grpc::Status rejected = agent_->GetRegistration(CallContext("").get(), poll2, &approved);
  EXPECT_EQ(rejected.error_code(), grpc::StatusCode::PERMISSION_DENIED) << rejected.error_message();
}

TEST_F(ControlPlaneTest, LongPollReturnsAsSoonAsTheConnectorIsApproved) {
  TenantKeys t = NewTenant("long poll");
  v1::RegisterResponse registered;
  ASSERT_TRUE(Register(NewEnrollmentToken(t.admin_key), NewCsr(), &registered).ok());
  v1::GetRegistrationRequest poll;
  poll.set_connector_id(registered.connector_id());
  poll.set_poll_secret(registered.poll_secret());
  poll.set_wait_seconds(30);
  v1::GetRegistrationResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(40)));
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status poll_status;
  agent_->async()->GetRegistration(&context, &poll, &response, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    poll_status = s;
    done = true;
    cv.notify_all();
  });
  absl::SleepFor(absl::Milliseconds(300));  // let the poll reach the broker and wait
  v1::ApproveConnectorRequest approve;
  approve.set_registration_code(registered.registration_code());
  v1::Connector out;
  ASSERT_TRUE(admin_->ApproveConnector(CallContext(t.admin_key).get(), approve, &out).ok());
  const absl::Time approved_at = absl::Now();
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(35), [&] { return done; }));
  EXPECT_TRUE(poll_status.ok()) << poll_status.error_message();
  EXPECT_EQ(response.state(), v1::GetRegistrationResponse::STATE_APPROVED);
  EXPECT_LT(absl::Now() - approved_at, absl::Seconds(2));
}

TEST_F(ControlPlaneTest, RegistrationCodesExpire) {
  // A second replica on the same database, with codes that live one second.
  auto short_codes = stack_->StartBroker({"--registration_code_ttl=1s"});
  ASSERT_TRUE(short_codes.ok()) << short_codes.status();
  auto agent_stub = stack_->AgentStub(*short_codes);
  TenantKeys t = NewTenant("expiring codes");
  v1::RegisterResponse registered;
  ASSERT_TRUE(Register(NewEnrollmentToken(t.admin_key), NewCsr(), &registered, agent_stub.get()).ok());
  absl::SleepFor(absl::Milliseconds(1500));  // the code's own lifetime
  v1::ApproveConnectorRequest approve;
  approve.set_registration_code(registered.registration_code());
  v1::Connector out;
  grpc::Status late = admin_->ApproveConnector(CallContext(t.admin_key).get(), approve, &out);
  EXPECT_EQ(late.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << late.error_message();
  EXPECT_TRUE(absl::StrContains(late.error_message(), "expired")) << late.error_message();
  v1::GetRegistrationRequest poll;
  poll.set_connector_id(registered.connector_id());
  poll.set_poll_secret(registered.poll_secret());
  v1::GetRegistrationResponse response;
  grpc::Status polled = agent_stub->GetRegistration(CallContext("").get(), poll, &response);
  EXPECT_EQ(polled.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << polled.error_message();
}

TEST_F(ControlPlaneTest, ApiKeysAreCheckedWithScopes) {
  TenantKeys admin = NewTenant("keys");
  v1::ListConnectorsRequest list;
  v1::ListConnectorsResponse connectors;
  grpc::Status missing = admin_->ListConnectors(CallContext("").get(), list, &connectors);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(absl::StrContains(missing.error_message(), "authorization"));
  grpc::Status wrong = admin_->ListConnectors(CallContext("cbk.nokey.nosecret").get(), list, &connectors);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  std::string tampered = admin.admin_key;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  grpc::Status bad_secret = admin_->ListConnectors(CallContext(tampered).get(), list, &connectors);
  EXPECT_EQ(bad_secret.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  TenantKeys certs_only = NewTenant("certs only", "certificates");
  grpc::Status scope = admin_->ListConnectors(CallContext(certs_only.admin_key).get(), list, &connectors);
  EXPECT_EQ(scope.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(scope.error_message(), "admin")) << scope.error_message();

  grpc::Status operator_in_tenant =
      admin_->ListConnectors(CallContext(stack_->operator_key()).get(), list, &connectors);
  EXPECT_EQ(operator_in_tenant.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::CreateTenantRequest create;
  create.set_display_name("not allowed");
  v1::Tenant tenant;
  grpc::Status tenant_creates = admin_->CreateTenant(CallContext(admin.admin_key).get(), create, &tenant);
  EXPECT_EQ(tenant_creates.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(admin_->ListConnectors(CallContext(admin.admin_key).get(), list, &connectors).ok());
}

// Through certbridgectl, as a tenant admin would: a revoked key stops working on the live
// broker within the authenticator's cache lifetime, and the list shows it revoked and used.
TEST_F(ControlPlaneTest, RevokedApiKeyStopsWorkingAndIsListedAsRevoked) {
  TenantKeys admin = NewTenant("revocation");
  CommandResult created = stack_->Ctl(
      *broker_, admin.admin_key,
      {"--output=json", "api-keys", "create", "--scopes", "certificates", "--expires-in", "90d"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  v1::CreateApiKeyResponse key;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(created.out, &key).ok()) << created.out;
  EXPECT_TRUE(key.api_key().has_expire_time());

  v1::CertificateRequest unused;
  v1::GetCertificateRequestRequest get;
  get.set_request_id("nothing-here");
  auto certificates = stack_->CertificateStub(*broker_);
  EXPECT_EQ(certificates->GetCertificateRequest(CallContext(key.secret()).get(), get, &unused)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);

  CommandResult revoked =
      stack_->Ctl(*broker_, admin.admin_key, {"api-keys", "revoke", key.api_key().key_id()});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_TRUE(absl::StrContains(revoked.out, "Revoked API key")) << revoked.out;
  grpc::Status refused;
  EXPECT_TRUE(WaitUntil(
      [&] {
        refused = certificates->GetCertificateRequest(CallContext(key.secret()).get(), get, &unused);
        return refused.error_code() == grpc::StatusCode::UNAUTHENTICATED;
      },
      absl::Seconds(15)))
      << refused.error_message();
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "was revoked")) << refused.error_message();

  CommandResult listed = stack_->Ctl(*broker_, admin.admin_key, {"api-keys", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const size_t row = listed.out.find(key.api_key().key_id());
  ASSERT_NE(row, std::string::npos) << listed.out;
  const std::string line = listed.out.substr(row, listed.out.find('\n', row) - row);
  EXPECT_TRUE(absl::StrContains(line, "REVOKED")) << line;
  EXPECT_TRUE(absl::StrContains(line, "Z")) << "last use and expiry times: " << line;
}

// The operator key file is re-read while the broker runs: during a rotation both keys work,
// afterwards only the new one, with no restart.
TEST_F(ControlPlaneTest, OperatorKeyRotatesWithoutARestart) {
  const std::string key_file = stack_->dir() + "/rotating-operator.key";
  auto write_keys = [&key_file](const std::string& text) {
    const std::string tmp = key_file + ".tmp";
    std::ofstream(tmp) << text;
    ASSERT_EQ(std::rename(tmp.c_str(), key_file.c_str()), 0);
  };
  const std::string old_key(40, 'o');
  const std::string new_key(40, 'n');
  write_keys(old_key + "\n");
  auto broker = stack_->StartBroker(
      {"--operator_key_file=" + key_file, "--operator_key_reload_interval=200ms"});
  ASSERT_TRUE(broker.ok()) << broker.status();
  auto admin = stack_->AdminStub(*broker);
  auto operator_call = [&admin](const std::string& key) {
    v1::ListTenantsResponse tenants;
    return admin->ListTenants(CallContext(key).get(), {}, &tenants).error_code();
  };
  EXPECT_EQ(operator_call(old_key), grpc::StatusCode::OK);
  EXPECT_EQ(operator_call(new_key), grpc::StatusCode::UNAUTHENTICATED);

  write_keys("# rotation in progress\n" + old_key + "\n" + new_key + "\n");
  EXPECT_TRUE(WaitUntil([&] { return operator_call(new_key) == grpc::StatusCode::OK; },
                        absl::Seconds(10)));
  EXPECT_EQ(operator_call(old_key), grpc::StatusCode::OK);

  write_keys("too short\n");  // a broken edit keeps the keys in use
  write_keys(new_key + "\n");
  EXPECT_TRUE(WaitUntil(
      [&] { return operator_call(old_key) == grpc::StatusCode::UNAUTHENTICATED; },
      absl::Seconds(10)));
  EXPECT_EQ(operator_call(new_key), grpc::StatusCode::OK);
}

TEST_F(ControlPlaneTest, AnotherTenantsObjectsAreNotFoundLikeMissingOnes) {
  TenantKeys a = NewTenant("owner");
  TenantKeys b = NewTenant("intruder");
  v1::RegisterResponse registered;
  ASSERT_TRUE(Register(NewEnrollmentToken(a.admin_key), NewCsr(), &registered).ok());
  v1::CreateCertificateAuthorityRequest create_ca;
  create_ca.set_config_string("ca.a.example\\A CA");
  v1::CertificateAuthority ca_a;
  ASSERT_TRUE(admin_->CreateCertificateAuthority(CallContext(a.admin_key).get(), create_ca, &ca_a).ok());
  create_ca.set_config_string("ca.b.example\\B CA");
  v1::CertificateAuthority ca_b;
  ASSERT_TRUE(admin_->CreateCertificateAuthority(CallContext(b.admin_key).get(), create_ca, &ca_b).ok());

  for (const std::string& id : {registered.connector_id(), std::string("00000000-0000-4000-8000-000000000000")}) {
    SCOPED_TRACE(id);
    v1::GetConnectorRequest get;
    get.set_connector_id(id);
    v1::Connector out;
    EXPECT_EQ(admin_->GetConnector(CallContext(b.admin_key).get(), get, &out).error_code(),
              grpc::StatusCode::NOT_FOUND);
    v1::DisableConnectorRequest disable;
    disable.set_connector_id(id);
    EXPECT_EQ(admin_->DisableConnector(CallContext(b.admin_key).get(), disable, &out).error_code(),
              grpc::StatusCode::NOT_FOUND);
    v1::DeleteConnectorRequest del;
    del.set_connector_id(id);
    google::protobuf::Empty empty;
    EXPECT_EQ(admin_->DeleteConnector(CallContext(b.admin_key).get(), del, &empty).error_code(),
              grpc::StatusCode::NOT_FOUND);
    v1::AssignCertificateAuthorityRequest assign;
    assign.set_ca_id(ca_b.ca_id());
    assign.set_connector_id(id);
    EXPECT_EQ(admin_->AssignCertificateAuthority(CallContext(b.admin_key).get(), assign, &out).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  v1::DeleteCertificateAuthorityRequest delete_ca;
  delete_ca.set_ca_id(ca_a.ca_id());
  google::protobuf::Empty empty;
  EXPECT_EQ(admin_->DeleteCertificateAuthority(CallContext(b.admin_key).get(), delete_ca, &empty).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::ListCertificateAuthoritiesResponse cas;
  ASSERT_TRUE(admin_->ListCertificateAuthorities(CallContext(b.admin_key).get(), {}, &cas).ok());
  ASSERT_EQ(cas.certificate_authorities_size(), 1);
  EXPECT_EQ(cas.certificate_authorities(0).ca_id(), ca_b.ca_id());
  v1::ListConnectorsResponse connectors;
  ASSERT_TRUE(admin_->ListConnectors(CallContext(b.admin_key).get(), {}, &connectors).ok());
  EXPECT_EQ(connectors.connectors_size(), 0);
}

TEST_F(ControlPlaneTest, DisablingOnAnotherReplicaCutsTheStreamThere) {
  TenantKeys t = NewTenant("two replicas");
  auto agent = stack_->RegisterAgent(*broker_, t.admin_key, "CORP\\AGENT09$");
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto running = ChildProcess::Start(
      {BuildPath("bin/certbridge-agent"), "run", "--state-dir", agent->state_dir},
      agent->state_dir + ".run.log");
  ASSERT_TRUE(running.ok());
  ASSERT_TRUE(WaitUntil(
      [&] {
        return GetConnector(t.admin_key, agent->connector_id).connectivity() ==
               v1::Connector::CONNECTIVITY_CONNECTED;
      },
      absl::Seconds(30)))
      << (*running)->Log();
  // The admin talks to another replica than the one holding the stream.
  auto other = stack_->StartBroker({});
  ASSERT_TRUE(other.ok()) << other.status();
  auto other_admin = stack_->AdminStub(*other);
  v1::DisableConnectorRequest disable;
  disable.set_connector_id(agent->connector_id);
  v1::Connector out;
  ASSERT_TRUE(other_admin->DisableConnector(CallContext(t.admin_key).get(), disable, &out).ok());
  const absl::Time disabled_at = absl::Now();
  ASSERT_TRUE(WaitUntil(
      [&] {
        return GetConnector(t.admin_key, agent->connector_id).connectivity() ==
               v1::Connector::CONNECTIVITY_DISCONNECTED;
      },
      absl::Seconds(5)));
  const absl::Duration cut_after = absl::Now() - disabled_at;
  std::cout << "stream on replica 1 cut " << absl::FormatDuration(cut_after)
            << " after DisableConnector on replica 2\n";
  EXPECT_LT(cut_after, absl::Seconds(2));
}

// One live stream per connector: a second stream with the same agent certificate (a cloned
// state directory, or a reconnect while the old TCP connection is still half open) takes
// over, and the older stream is ended with a reason: at once on the same replica, at its
// next heartbeat on another replica. Each takeover is audited.
TEST_F(ControlPlaneTest, OnlyTheNewestStreamOfAConnectorStaysConnected) {
  TenantKeys t = NewTenant("one stream");
  auto agent = stack_->RegisterAgent(*broker_, t.admin_key, "CORP\\AGENT11$");
  ASSERT_TRUE(agent.ok()) << agent.status();
  const std::string chain = ReadFileOrEmpty(agent->state_dir + "/agent-chain.pem");
  const std::string key = ReadFileOrEmpty(agent->state_dir + "/agent.key");
  ASSERT_FALSE(chain.empty());
  auto other = stack_->StartBroker({});
  ASSERT_TRUE(other.ok()) << other.status();

  struct OpenStream {
    std::unique_ptr<AgentService::Stub> stub;
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::BrokerMessage>> stream;
  };
  auto open = [&](const BrokerProcess& broker) {
    OpenStream s;
    s.stub = stack_->AgentStub(broker, chain, key);
    s.context = CallContext("", absl::Seconds(60));
    s.stream = s.stub->Connect(s.context.get());
    v1::AgentMessage hello;
    hello.mutable_hello()->set_agent_version("test");
    hello.mutable_hello()->set_ca_identity("CORP\\AGENT11$");
    EXPECT_TRUE(s.stream->Write(hello));
    v1::BrokerMessage config;
    EXPECT_TRUE(s.stream->Read(&config) && config.has_config());
    return s;
  };
  // Reads until the stream ends; its status.
  auto ended = [](OpenStream& s) {
    v1::BrokerMessage ignored;
    while (s.stream->Read(&ignored)) {
    }
    return s.stream->Finish();
  };

  OpenStream first = open(*broker_);
  OpenStream second = open(*broker_);
  grpc::Status first_end = ended(first);
  EXPECT_EQ(first_end.error_code(), grpc::StatusCode::ABORTED) << first_end.error_message();
  EXPECT_TRUE(absl::StrContains(first_end.error_message(), "newer stream"))
      << first_end.error_message();

  // The newest stream moves to the other replica; the one on the first replica hears of it
  // when it next beats.
  OpenStream third = open(*other);
  v1::AgentMessage heartbeat;
  heartbeat.mutable_heartbeat();
  ASSERT_TRUE(second.stream->Write(heartbeat));
  grpc::Status second_end = ended(second);
  EXPECT_EQ(second_end.error_code(), grpc::StatusCode::ABORTED) << second_end.error_message();
  ASSERT_TRUE(third.stream->Write(heartbeat));
  EXPECT_EQ(GetConnector(t.admin_key, agent->connector_id).connectivity(),
            v1::Connector::CONNECTIVITY_CONNECTED);

  // Both takeovers were seen on the first replica within a minute: audited once (the audit
  // is rate-limited per connector so that clones cannot flood it; docs/security.md).
  int replaced = 0;
  auto count_replaced = [&] {
    v1::ListAuditEventsResponse events;
    replaced = 0;
    if (!admin_->ListAuditEvents(CallContext(t.admin_key).get(), {}, &events).ok()) return false;
    for (const auto& e : events.events()) replaced += e.action() == "connector.stream_replaced";
    return replaced >= 1;
  };
  EXPECT_TRUE(WaitUntil(count_replaced, absl::Seconds(5))) << replaced << " takeovers audited";
  EXPECT_EQ(replaced, 1);
  third.context->TryCancel();
  (void)third.stream->Finish();
}

// grpc.health.v1.Health/Check for `service` over `channel`: the serialized response
// ("\x08\x01" is SERVING), or the call's error.
absl::StatusOr<std::string> HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
                                        const std::string& service) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  // HealthCheckRequest{service}: field 1, length-delimited.
  std::string encoded;
  if (!service.empty()) {
    encoded.push_back('\x0a');
    encoded.push_back(static_cast<char>(service.size()));
    encoded += service;
  }
  grpc::Slice slice(encoded);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                 &response, [&](grpc::Status s) {
                   std::lock_guard<std::mutex> lock(mu);
                   status = s;
                   done = true;
                   cv.notify_all();
                 });
  std::unique_lock<std::mutex> lock(mu);
  if (!cv.wait_for(lock, std::chrono::seconds(15), [&] { return done; })) {
    return absl::DeadlineExceededError("no answer");
  }
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::InternalError("cannot read the response");
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return bytes;
}

const std::string kServing("\x08\x01", 2);

// Kubernetes gRPC probes call grpc.health.v1.Health/Check, with "" or a service name.
TEST_F(ControlPlaneTest, BothPortsServeTheHealthService) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadFileOrEmpty(stack_->pki("tls-ca.pem"));
  auto api = grpc::CreateChannel(broker_->api_address(), grpc::SslCredentials(tls));
  auto agent = grpc::CreateChannel(broker_->agent_address(), grpc::SslCredentials(tls));
  for (const auto& [channel, service] :
       std::vector<std::pair<std::shared_ptr<grpc::Channel>, std::string>>{
           {api, ""},
           {api, "certbridge.v1.CertificateService"},
           {api, "certbridge.v1.AdminService"},
           {agent, ""},
           {agent, "certbridge.v1.AgentService"}}) {
    SCOPED_TRACE(service);
    absl::StatusOr<std::string> answer = HealthCheck(channel, service);
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(*answer, kServing);
  }
}

// Kubernetes cannot probe the TLS ports with gRPC probes (it does not trust our CA): the
// plaintext health port answers for every service, and only health.
TEST_F(ControlPlaneTest, PlaintextHealthPortServesOnlyHealth) {
  auto broker = stack_->StartBroker({"--health_listen=127.0.0.1:0"});
  ASSERT_TRUE(broker.ok()) << broker.status();
  ASSERT_NE(broker->health_port, 0);
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", broker->health_port),
                                     grpc::InsecureChannelCredentials());
  for (const std::string service : {"", "certbridge.v1.CertificateService",
                                     "certbridge.v1.AdminService", "certbridge.v1.AgentService"}) {
    SCOPED_TRACE(service);
    absl::StatusOr<std::string> answer = HealthCheck(channel, service);
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(*answer, kServing);
  }
  v1::ListTenantsResponse tenants;
  auto admin = v1::AdminService::NewStub(channel);
  EXPECT_EQ(admin->ListTenants(CallContext(stack_->operator_key()).get(), {}, &tenants)
                .error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(ControlPlaneTest, StreamsNeedTheBrokersAgentCertificate) {
  grpc::Status none = ConnectOnce("", "");
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << none.error_message();
  EXPECT_TRUE(absl::StrContains(none.error_message(), "register")) << none.error_message();

  // A certificate of the right shape from a CA the broker does not know.
  auto other_ca = pki::SigningCa::CreateSelfSigned("CN=other CA", pki::KeyType::kEcP256,
                                                   absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(24));
  ASSERT_TRUE(other_ca.ok()) << other_ca.status();
  auto [chain, key] = ForgeAgentCertificate("t", "c", (*other_ca)->certificate().pem, (*other_ca)->KeyPem());
  grpc::Status foreign = ConnectOnce(chain, key);
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::UNAUTHENTICATED) << foreign.error_message();
  EXPECT_TRUE(absl::StrContains(foreign.error_message(), "connector CA")) << foreign.error_message();
}

}  // namespace
}  // namespace certbridge::testing
