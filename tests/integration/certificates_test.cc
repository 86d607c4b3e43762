// Certificates end to end through the public gRPC API, with real processes: PostgreSQL,
// the broker, adcs-emulator and certbridge-agent. Certificates are checked with the
// openssl command line against the emulator's CA.
#include <csignal>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/pki/delivery.h"
#include "common/pki/pki.h"
#include "tests/integration/test_stack.h"

namespace certbridge::testing {
namespace {

using v1::CertificateRequest;

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary) << contents;
}

std::string NewCsr(const std::string& subject, pki::KeyType type = pki::KeyType::kEcP256) {
  auto key = pki::PrivateKey::Generate(type);
  EXPECT_TRUE(key.ok());
  auto csr = pki::CreateCsrPem(*key, {subject, {}});
  EXPECT_TRUE(csr.ok()) << csr.status();
  return *csr;
}

class CertificatesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto stack = TestStack::Create();
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = stack->release();
    auto broker = stack_->StartBroker({"--queue_timeout=4s", "--sweep_interval=1s",
                                       "--heartbeat_interval_seconds=2"});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = new BrokerProcess(*std::move(broker));
    const std::string config =
        ReadFileOrEmpty(SourcePath("agent/emulator/example-config.txtpb"));
    auto emulator = stack_->StartEmulator(config);
    ASSERT_TRUE(emulator.ok()) << emulator.status();
    emulator_ = new EmulatorProcessHandle(*std::move(emulator));
  }
  static void TearDownTestSuite() {
    delete emulator_;
    delete broker_;
    delete stack_;
  }

  void SetUp() override {
    admin_ = stack_->AdminStub(*broker_);
    certificates_ = stack_->CertificateStub(*broker_);
  }

  struct Tenant {
    std::string tenant_id;
    std::string key;  // admin + certificates
    std::string ca_id;
  };

  // A tenant with a CA (the emulator's) and no connector yet.
  Tenant NewTenant(const std::string& name) {
    Tenant t;
    absl::StatusOr<TestTenant> tenant = stack_->CreateTenant(*broker_, name);
    EXPECT_TRUE(tenant.ok()) << tenant.status();
    if (!tenant.ok()) return t;
    t.tenant_id = tenant->tenant_id;
    t.key = tenant->api_key;
    absl::StatusOr<std::string> ca =
        stack_->CreateCertificateAuthority(*broker_, t.key, "adcs01.corp.example\\Corp Issuing CA");
    EXPECT_TRUE(ca.ok()) << ca.status();
    if (ca.ok()) t.ca_id = *ca;
    return t;
  }

  // Registers an agent with `identity`, assigns the tenant's CA and starts it.
  std::unique_ptr<ChildProcess> StartAgent(const Tenant& t, const std::string& identity,
                                           RegisteredAgent* registered = nullptr) {
    auto agent = stack_->RegisterAgent(*broker_, t.key, identity);
    if (!agent.ok()) {
      ADD_FAILURE() << agent.status();
      return nullptr;
    }
    absl::Status assigned =
        stack_->AssignCertificateAuthority(*broker_, t.key, t.ca_id, agent->connector_id);
    EXPECT_TRUE(assigned.ok()) << assigned;
    if (registered) *registered = *agent;
    return RunAgent(t, *agent);
  }

  std::unique_ptr<ChildProcess> RunAgent(const Tenant& t, const RegisteredAgent& agent) {
    auto process = stack_->StartAgent(agent, *emulator_);
    if (!process.ok()) {
      ADD_FAILURE() << process.status();
      return nullptr;
    }
    EXPECT_TRUE(WaitUntil(
        [&] {
          v1::GetConnectorRequest get;
          get.set_connector_id(agent.connector_id);
          v1::Connector c;
          return admin_->GetConnector(CallContext(t.key).get(), get, &c).ok() &&
                 c.connectivity() == v1::Connector::CONNECTIVITY_CONNECTED;
        },
        absl::Seconds(30)))
        << (*process)->Log();
    return *std::move(process);
  }

  v1::CreateCertificateRequestRequest CsrRequest(const Tenant& t, const std::string& csr,
                                                 const std::string& template_name = "CertbridgeDevice") {
    v1::CreateCertificateRequestRequest r;
    r.set_request_id(absl::StrCat("req-", absl::ToUnixNanos(absl::Now())));
    r.set_ca_id(t.ca_id);
    r.set_template_name(template_name);
    r.set_csr_pem(csr);
    r.mutable_wait_timeout()->set_seconds(30);
    return r;
  }

  grpc::Status Create(const Tenant& t, const v1::CreateCertificateRequestRequest& r,
                      CertificateRequest* out) {
    return certificates_->CreateCertificateRequest(CallContext(t.key, absl::Seconds(90)).get(), r, out);
  }

  CertificateRequest Get(const Tenant& t, const std::string& name) {
    v1::GetCertificateRequestRequest get;
    get.set_name(name);
    CertificateRequest out;
    grpc::Status s = certificates_->GetCertificateRequest(CallContext(t.key).get(), get, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  // openssl verify of a PEM certificate against the emulator's CA.
  void ExpectVerifies(const std::string& pem) {
    const std::string path = absl::StrCat(stack_->dir(), "/cert-", absl::ToUnixNanos(absl::Now()), ".pem");
    WriteFile(path, pem);
    CommandResult verify = RunCommand({"openssl", "verify", "-CAfile", emulator_->ca_cert_path(), path});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  }

  static TestStack* stack_;
  static BrokerProcess* broker_;
  static EmulatorProcessHandle* emulator_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::CertificateService::Stub> certificates_;
};

TestStack* CertificatesTest::stack_ = nullptr;
BrokerProcess* CertificatesTest::broker_ = nullptr;
EmulatorProcessHandle* CertificatesTest::emulator_ = nullptr;

TEST_F(CertificatesTest, CsrModeIssuesInOneRoundTripAndRetriesAreIdempotent) {
  Tenant t = NewTenant("csr mode");
  auto agent = StartAgent(t, "CORP\\AGENT01$");
  ASSERT_NE(agent, nullptr);
  // A subject that breaks naive escaping.
  const std::string csr = NewCsr("CN=Müller\\, Jörg+UID=42,O=A\\;B \\+ C,OU=x\\=y\\\\z");
  v1::CreateCertificateRequestRequest request = CsrRequest(t, csr);
  auto* san = request.add_subject_alt_names();
  san->set_type(v1::SubjectAltName::TYPE_DNS);
  san->set_value("ipad-42.devices.example");
  CertificateRequest issued;
  grpc::Status s = Create(t, request, &issued);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(issued.state(), CertificateRequest::STATE_ISSUED) << issued.DebugString() << agent->Log();
  EXPECT_GT(issued.ca_request_id(), 0);
  EXPECT_FALSE(issued.serial_number().empty());
  EXPECT_FALSE(issued.certificate_der().empty());
  ASSERT_EQ(issued.chain_der_size(), 1);  // the emulator's CA is its own root
  auto chain_ca = pki::ParseCertificate(issued.chain_der(0));
  ASSERT_TRUE(chain_ca.ok()) << chain_ca.status();
  EXPECT_EQ(chain_ca->subject, "CN=Corp Issuing CA");
  ExpectVerifies(issued.certificate_pem());
  auto info = pki::ParseCertificate(issued.certificate_pem());
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(absl::StrContains(info->subject, "Müller\\, Jörg")) << info->subject;
  EXPECT_TRUE(absl::StrContains(info->subject, "A\\;B \\+ C")) << info->subject;
  bool has_dns = false;
  for (const auto& name : info->sans) has_dns |= name.value == "ipad-42.devices.example";
  EXPECT_TRUE(has_dns);

  // The same request_id again: the same request, no second certificate.
  CertificateRequest again;
  ASSERT_TRUE(Create(t, request, &again).ok());
  EXPECT_EQ(again.name(), issued.name());
  EXPECT_EQ(again.serial_number(), issued.serial_number());
  // The same request_id with other parameters is refused.
  v1::CreateCertificateRequestRequest changed = request;
  changed.set_template_name("WebServer");
  CertificateRequest refused;
  EXPECT_EQ(Create(t, changed, &refused).error_code(), grpc::StatusCode::ALREADY_EXISTS);
}

TEST_F(CertificatesTest, KeyGenerationModeReturnsPkcs12WhosePasswordOpensWithTheDeliveryKey) {
  Tenant t = NewTenant("keygen mode");
  auto agent = StartAgent(t, "CORP\\AGENT01$");
  ASSERT_NE(agent, nullptr);
  const std::string dir = stack_->dir();
  CommandResult delivery = RunCommand(
      {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
       "/CN=MDM delivery", "-keyout", dir + "/delivery.key", "-out", dir + "/delivery.pem"});
  ASSERT_EQ(delivery.exit_code, 0) << delivery.err;
  v1::SetDeliveryCertificateRequest set;
  set.set_certificate_pem(ReadFileOrEmpty(dir + "/delivery.pem"));
  v1::DeliveryCertificate stored;
  ASSERT_TRUE(admin_->SetDeliveryCertificate(CallContext(t.key).get(), set, &stored).ok());

  for (const auto profile : {v1::PKCS12_PROFILE_MODERN, v1::PKCS12_PROFILE_LEGACY}) {
    SCOPED_TRACE(v1::Pkcs12Profile_Name(profile));
    v1::CreateCertificateRequestRequest r;
    r.set_request_id(absl::StrCat("keygen-", v1::Pkcs12Profile_Name(profile)));
    r.set_ca_id(t.ca_id);
    r.set_template_name("CertbridgeDevice");
    r.mutable_wait_timeout()->set_seconds(30);
    auto* keygen = r.mutable_key_generation();
    keygen->set_key_spec(v1::KEY_SPEC_EC_P256);
    keygen->mutable_subject()->set_rfc4514("CN=mac-7,OU=Devices,O=Example");
    keygen->set_pkcs12_profile(profile);
    auto* san = keygen->add_subject_alt_names();
    san->set_type(v1::SubjectAltName::TYPE_UPN);
    san->set_value("mac-7@corp.example");
    CertificateRequest issued;
    grpc::Status s = Create(t, r, &issued);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(issued.state(), CertificateRequest::STATE_ISSUED) << issued.DebugString() << agent->Log();
    ExpectVerifies(issued.certificate_pem());
    ASSERT_FALSE(issued.pkcs12().empty());
    ASSERT_FALSE(issued.enveloped_password().empty());
    WriteFile(dir + "/p.cms", issued.enveloped_password());
    WriteFile(dir + "/c.p12", issued.pkcs12());
    CommandResult password = RunCommand({"openssl", "cms", "-decrypt", "-inform", "DER", "-in",
                                         dir + "/p.cms", "-recip", dir + "/delivery.pem",
                                         "-inkey", dir + "/delivery.key"});
    ASSERT_EQ(password.exit_code, 0) << password.err;
    std::vector<std::string> open = {"openssl", "pkcs12", "-in", dir + "/c.p12", "-passin",
                                     "pass:" + password.out, "-nodes"};
    // No -legacy for LEGACY either: 3DES and SHA-1 are in OpenSSL 3's default provider
    // (docs/certificates.md says so).
    CommandResult opened = RunCommand(open);
    ASSERT_EQ(opened.exit_code, 0) << opened.err;
    EXPECT_TRUE(absl::StrContains(opened.out, "PRIVATE KEY"));
    EXPECT_TRUE(absl::StrContains(opened.out, "mac-7"));
  }
}

// Before, the agent pinned the delivery certificate its first key-generation job carried,
// so a broker that swapped the tenant's certificate after the registration got its new one
// trusted. Now the approval carries the certificate and the agent pins it at registration.
TEST_F(CertificatesTest, SwappedDeliveryCertificateIsRefusedByTheAgentUntilTheCustomerRepins) {
  Tenant t = NewTenant("pinned delivery");
  const std::string dir = absl::StrCat(stack_->dir(), "/pin-", absl::ToUnixNanos(absl::Now()));
  ASSERT_EQ(RunCommand({"mkdir", "-p", dir}).exit_code, 0);
  auto make_certificate = [&](const std::string& name) {
    CommandResult made = RunCommand({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                     "-days", "30", "-subj", "/CN=" + name, "-keyout",
                                     dir + "/" + name + ".key", "-out", dir + "/" + name + ".pem"});
    EXPECT_EQ(made.exit_code, 0) << made.err;
    return ReadFileOrEmpty(dir + "/" + name + ".pem");
  };
  auto set_delivery = [&](const std::string& pem) {
    v1::SetDeliveryCertificateRequest set;
    set.set_certificate_pem(pem);
    v1::DeliveryCertificate stored;
    grpc::Status s = admin_->SetDeliveryCertificate(CallContext(t.key).get(), set, &stored);
    EXPECT_TRUE(s.ok()) << s.error_message();
  };
  const std::string published = make_certificate("published");
  const std::string swapped = make_certificate("swapped");
  const std::string published_sha256 = *pki::DeliveryCertificateSha256(published);
  const std::string swapped_sha256 = *pki::DeliveryCertificateSha256(swapped);
  set_delivery(published);

  RegisteredAgent registered;
  auto agent = StartAgent(t, "CORP\\AGENT01$", &registered);
  ASSERT_NE(agent, nullptr);
  EXPECT_EQ(ReadFileOrEmpty(registered.state_dir + "/policy/delivery-certificate.sha256"),
            published_sha256 + "\n")
      << "pinned at registration, before any job";

  set_delivery(swapped);  // the broker (or a stolen admin key) swaps the certificate
  auto keygen_request = [&](const std::string& id) {
    v1::CreateCertificateRequestRequest r;
    r.set_request_id(id);
    r.set_ca_id(t.ca_id);
    r.set_template_name("CertbridgeDevice");
    r.mutable_wait_timeout()->set_seconds(30);
    // EC P-256 by number: the enum's value names are being renamed, its numbers are not.
    r.mutable_key_generation()->set_key_spec(static_cast<v1::KeySpec>(4));
    r.mutable_key_generation()->mutable_subject()->set_rfc4514("CN=mac-8,O=Example");
    return r;
  };
  CertificateRequest refused;
  grpc::Status s = Create(t, keygen_request("pinned-1"), &refused);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(refused.error_code(), "AGENT_POLICY_DELIVERY_CERTIFICATE_CHANGED")
      << refused.DebugString() << agent->Log();
  EXPECT_TRUE(refused.pkcs12().empty());
  EXPECT_TRUE(refused.enveloped_password().empty());
  EXPECT_TRUE(absl::StrContains(refused.remedy(), "trust-delivery-certificate --sha256 " +
                                                      swapped_sha256))
      << refused.remedy();
  EXPECT_TRUE(absl::StrContains(agent->Log(), "job.refused")) << agent->Log();
  EXPECT_TRUE(absl::StrContains(agent->Log(), pki::FormatSha256Fingerprint(swapped_sha256)))
      << agent->Log();

  // The customer's admin confirms the new fingerprint and re-pins on the agent's host; the
  // running agent uses it from its next job.
  CommandResult repinned =
      RunCommand({BuildPath("bin/certbridge-agent"), "trust-delivery-certificate", "--sha256",
                  pki::FormatSha256Fingerprint(swapped_sha256), "--state-dir",
                  registered.state_dir});
  ASSERT_EQ(repinned.exit_code, 0) << repinned.out << repinned.err;
  CertificateRequest issued;
  s = Create(t, keygen_request("pinned-2"), &issued);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(issued.error_code(), "") << issued.DebugString() << agent->Log();
  EXPECT_FALSE(issued.pkcs12().empty());
  WriteFile(dir + "/p.cms", issued.enveloped_password());
  CommandResult password = RunCommand({"openssl", "cms", "-decrypt", "-inform", "DER", "-in",
                                       dir + "/p.cms", "-recip", dir + "/swapped.pem", "-inkey",
                                       dir + "/swapped.key"});
  EXPECT_EQ(password.exit_code, 0) << password.err;
}

TEST_F(CertificatesTest, PendingApprovalIsRetrievedAfterTheOfficerApprovesAndWatchSeesIt) {
  Tenant t = NewTenant("pending");
  auto agent = StartAgent(t, "CORP\\AGENT01$");
  ASSERT_NE(agent, nullptr);
  grpc::ClientContext watch_context;
  watch_context.AddMetadata("authorization", "Bearer " + t.key);
  v1::WatchCertificateRequestsRequest watch_request;
  auto watch = certificates_->WatchCertificateRequests(&watch_context, watch_request);

  v1::CreateCertificateRequestRequest r = CsrRequest(t, NewCsr("CN=needs approval"), "CertbridgeDeviceApproval");
  r.mutable_wait_timeout()->set_seconds(20);
  CertificateRequest pending;
  ASSERT_TRUE(Create(t, r, &pending).ok());
  ASSERT_EQ(pending.state(), CertificateRequest::STATE_PENDING_APPROVAL) << pending.DebugString();
  ASSERT_GT(pending.ca_request_id(), 0);
  EXPECT_TRUE(absl::StrContains(pending.waiting_reason(), "pending approval"));

  CommandResult approve = stack_->Officer(*emulator_, {"approve", absl::StrCat(pending.ca_request_id())});
  ASSERT_EQ(approve.exit_code, 0) << approve.out << approve.err;

  // The Watch stream reports the change to ISSUED without the MDM asking.
  v1::CertificateRequestEvent event;
  bool issued = false;
  std::string last_cursor;
  while (!issued && watch->Read(&event)) {
    last_cursor = event.cursor();
    issued = event.certificate_request().name() == pending.name() &&
             event.certificate_request().state() == CertificateRequest::STATE_ISSUED;
  }
  ASSERT_TRUE(issued) << agent->Log();
  ExpectVerifies(event.certificate_request().certificate_pem());
  watch_context.TryCancel();
  watch->Finish();

  // Resuming from an earlier cursor replays what came after it.
  grpc::ClientContext resume_context;
  resume_context.AddMetadata("authorization", "Bearer " + t.key);
  resume_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::WatchCertificateRequestsRequest resume;
  resume.set_cursor("0");
  auto replay = certificates_->WatchCertificateRequests(&resume_context, resume);
  ASSERT_TRUE(replay->Read(&event));
  EXPECT_EQ(event.certificate_request().name(), pending.name());
  resume_context.TryCancel();
  replay->Finish();
}

TEST_F(CertificatesTest, RetrievalGoesOnlyToTheSubmittingIdentity) {
  Tenant t = NewTenant("sticky");
  RegisteredAgent first;
  auto agent1 = StartAgent(t, "CORP\\AGENT01$", &first);
  ASSERT_NE(agent1, nullptr);
  v1::CreateCertificateRequestRequest r = CsrRequest(t, NewCsr("CN=sticky"), "CertbridgeDeviceApproval");
  r.mutable_wait_timeout()->set_seconds(20);
  CertificateRequest pending;
  ASSERT_TRUE(Create(t, r, &pending).ok());
  ASSERT_EQ(pending.state(), CertificateRequest::STATE_PENDING_APPROVAL) << pending.DebugString();
  EXPECT_EQ(pending.ca_identity(), "CORP\\AGENT01$");

  // The submitter goes away; a connector with another identity serves the CA.
  agent1->Signal(SIGTERM);
  ASSERT_EQ(agent1->WaitForExit(absl::Seconds(10)), 0);
  auto agent2 = StartAgent(t, "CORP\\AGENT02$");
  ASSERT_NE(agent2, nullptr);
  ASSERT_EQ(stack_->Officer(*emulator_, {"approve", absl::StrCat(pending.ca_request_id())}).exit_code, 0);
  // Several retrieve periods pass; the other identity never takes the job.
  absl::SleepFor(absl::Seconds(6));
  CertificateRequest still = Get(t, pending.name());
  EXPECT_EQ(still.state(), CertificateRequest::STATE_PENDING_APPROVAL) << still.DebugString();
  EXPECT_FALSE(absl::StrContains(agent2->Log(), pending.name())) << agent2->Log();

  // The submitting identity comes back and collects the certificate.
  auto agent1_again = RunAgent(t, first);
  ASSERT_NE(agent1_again, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return Get(t, pending.name()).state() == CertificateRequest::STATE_ISSUED; },
                        absl::Seconds(60)))
      << agent1_again->Log();
}

TEST_F(CertificatesTest, RevocationReachesTheCaAndItsCrl) {
  Tenant t = NewTenant("revoke");
  auto agent = StartAgent(t, "CORP\\AGENT01$");
  ASSERT_NE(agent, nullptr);
  CertificateRequest issued;
  ASSERT_TRUE(Create(t, CsrRequest(t, NewCsr("CN=to revoke")), &issued).ok());
  ASSERT_EQ(issued.state(), CertificateRequest::STATE_ISSUED);
  v1::RevokeCertificateRequest revoke;
  revoke.mutable_certificate_serial()->set_ca_id(t.ca_id);
  // As openssl prints it: lower case here, and a leading zero is tolerated.
  revoke.mutable_certificate_serial()->set_serial_number(
      "0" + absl::AsciiStrToLower(issued.serial_number()));
  revoke.set_reason(v1::REVOCATION_REASON_KEY_COMPROMISE);
  CertificateRequest revoked;
  grpc::Status s = certificates_->RevokeCertificate(CallContext(t.key, absl::Seconds(60)).get(), revoke, &revoked);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(revoked.state(), CertificateRequest::STATE_REVOKED) << revoked.DebugString() << agent->Log();
  CommandResult crl = stack_->Officer(*emulator_, {"publish-crl"});
  ASSERT_EQ(crl.exit_code, 0) << crl.err;
  const std::string crl_path = stack_->dir() + "/ca.crl.pem";
  WriteFile(crl_path, crl.out);
  CommandResult text = RunCommand({"openssl", "crl", "-in", crl_path, "-noout", "-text"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(absl::StrContains(text.out, issued.serial_number())) << text.out;
  EXPECT_TRUE(absl::StrContains(text.out, "Key Compromise")) << text.out;
}

TEST_F(CertificatesTest, AgentKilledMidJobIssuesNoDuplicate) {
  Tenant t = NewTenant("crash");
  RegisteredAgent registered;
  auto agent = StartAgent(t, "CORP\\AGENT01$", &registered);
  ASSERT_NE(agent, nullptr);
  // The CA answers slowly, so the agent dies with the submission in flight.
  ASSERT_EQ(stack_->Officer(*emulator_, {"fault", "set", "--latency-ms", "3000"}).exit_code, 0);
  v1::CreateCertificateRequestRequest r = CsrRequest(t, NewCsr("CN=crash test"));
  r.mutable_wait_timeout()->set_seconds(0);
  CertificateRequest queued;
  ASSERT_TRUE(Create(t, r, &queued).ok());
  ASSERT_TRUE(WaitUntil([&] { return Get(t, queued.name()).state() == CertificateRequest::STATE_DISPATCHED; },
                        absl::Seconds(20)));
  absl::SleepFor(absl::Milliseconds(800));  // the agent has journaled and called the CA
  agent->Signal(SIGKILL);
  agent->WaitForExit(absl::Seconds(5));
  absl::SleepFor(absl::Seconds(3));  // the CA finishes the orphaned submission
  ASSERT_EQ(stack_->Officer(*emulator_, {"fault", "clear"}).exit_code, 0);

  auto restarted = RunAgent(t, registered);
  ASSERT_NE(restarted, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return Get(t, queued.name()).state() == CertificateRequest::STATE_ISSUED; },
                        absl::Seconds(90)))
      << Get(t, queued.name()).DebugString() << restarted->Log();
  // Exactly one CA request carries this certbridge request.
  CommandResult list = stack_->Officer(*emulator_, {"list"});
  ASSERT_EQ(list.exit_code, 0);
  int issued_for_request = 0;
  for (absl::string_view line : absl::StrSplit(list.out, '\n')) {
    if (absl::StrContains(line, queued.name())) ++issued_for_request;
  }
  EXPECT_EQ(issued_for_request, 1) << list.out;
}

TEST_F(CertificatesTest, RequestsForACaNoConnectorServesFailWithTheReason) {
  Tenant t = NewTenant("no connector");
  v1::CreateCertificateRequestRequest r = CsrRequest(t, NewCsr("CN=nobody home"));
  r.mutable_wait_timeout()->set_seconds(20);
  CertificateRequest out;
  ASSERT_TRUE(Create(t, r, &out).ok());
  EXPECT_EQ(out.state(), CertificateRequest::STATE_EXPIRED) << out.DebugString();
  EXPECT_EQ(out.error_code(), "NO_CONNECTOR_ASSIGNED");
  EXPECT_TRUE(absl::StrContains(out.error_message(), "adcs01.corp.example\\Corp Issuing CA"))
      << out.error_message();
}

TEST_F(CertificatesTest, AnotherTenantsRequestsAreNotFound) {
  Tenant a = NewTenant("owner");
  Tenant b = NewTenant("other");
  v1::CreateCertificateRequestRequest r = CsrRequest(a, NewCsr("CN=private"));
  r.mutable_wait_timeout()->set_seconds(0);
  CertificateRequest created;
  ASSERT_TRUE(Create(a, r, &created).ok());
  v1::GetCertificateRequestRequest get;
  get.set_name(created.name());
  CertificateRequest out;
  EXPECT_EQ(certificates_->GetCertificateRequest(CallContext(b.key).get(), get, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::CancelCertificateRequestRequest cancel;
  cancel.set_name(created.name());
  EXPECT_EQ(certificates_->CancelCertificateRequest(CallContext(b.key).get(), cancel, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // b's own CA id, a's request: still NOT_FOUND; and a's CA from b is NOT_FOUND too.
  v1::CreateCertificateRequestRequest foreign_ca = CsrRequest(b, NewCsr("CN=x"));
  foreign_ca.set_ca_id(a.ca_id);
  EXPECT_EQ(Create(b, foreign_ca, &out).error_code(), grpc::StatusCode::NOT_FOUND);
  // Lists are per tenant too, filtered by state and paged.
  v1::ListCertificateRequestsRequest list;
  v1::ListCertificateRequestsResponse listed;
  ASSERT_TRUE(certificates_->ListCertificateRequests(CallContext(b.key).get(), list, &listed).ok());
  EXPECT_EQ(listed.certificate_requests_size(), 0);
  CertificateRequest second;
  v1::CreateCertificateRequestRequest r2 = CsrRequest(a, NewCsr("CN=second"));
  r2.mutable_wait_timeout()->set_seconds(0);
  ASSERT_TRUE(Create(a, r2, &second).ok());
  list.set_page_size(1);
  ASSERT_TRUE(certificates_->ListCertificateRequests(CallContext(a.key).get(), list, &listed).ok());
  ASSERT_EQ(listed.certificate_requests_size(), 1);
  EXPECT_EQ(listed.certificate_requests(0).name(), second.name());  // newest first
  ASSERT_FALSE(listed.next_page_token().empty());
  list.set_page_token(listed.next_page_token());
  ASSERT_TRUE(certificates_->ListCertificateRequests(CallContext(a.key).get(), list, &listed).ok());
  ASSERT_EQ(listed.certificate_requests_size(), 1);
  EXPECT_EQ(listed.certificate_requests(0).name(), created.name());

  // The owner can cancel while it is queued; a cancelled request is no longer QUEUED.
  ASSERT_TRUE(certificates_->CancelCertificateRequest(CallContext(a.key).get(), cancel, &out).ok());
  EXPECT_EQ(out.state(), CertificateRequest::STATE_CANCELLED);
  v1::ListCertificateRequestsRequest cancelled_only;
  cancelled_only.set_state(CertificateRequest::STATE_CANCELLED);
  ASSERT_TRUE(
      certificates_->ListCertificateRequests(CallContext(a.key).get(), cancelled_only, &listed).ok());
  ASSERT_EQ(listed.certificate_requests_size(), 1);
  EXPECT_EQ(listed.certificate_requests(0).name(), created.name());
  EXPECT_EQ(certificates_->CancelCertificateRequest(CallContext(a.key).get(), cancel, &out).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(CertificatesTest, BadInputIsRefusedWithPreciseErrors) {
  Tenant t = NewTenant("bad input");
  auto agent = StartAgent(t, "CORP\\AGENT01$");
  ASSERT_NE(agent, nullptr);
  CertificateRequest out;

  v1::CreateCertificateRequestRequest garbage = CsrRequest(t, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n");
  grpc::Status s = Create(t, garbage, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "csr_pem")) << s.error_message();

  v1::CreateCertificateRequestRequest weak = CsrRequest(t, "");
  weak.set_csr_pem(std::string(20000, 'A'));
  s = Create(t, weak, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "at most")) << s.error_message();

  v1::CreateCertificateRequestRequest huge = CsrRequest(t, std::string(2 << 20, 'A'));
  EXPECT_EQ(Create(t, huge, &out).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  v1::CreateCertificateRequestRequest bad_subject;
  bad_subject.set_request_id("bad-subject");
  bad_subject.set_ca_id(t.ca_id);
  bad_subject.set_template_name("CertbridgeDevice");
  bad_subject.mutable_key_generation()->set_key_spec(v1::KEY_SPEC_EC_P256);
  bad_subject.mutable_key_generation()->mutable_subject()->set_rfc4514("CN=a,XX=b");
  s = Create(t, bad_subject, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "XX")) << s.error_message();

  v1::CreateCertificateRequestRequest bad_san = CsrRequest(t, NewCsr("CN=san"));
  auto* san = bad_san.add_subject_alt_names();
  san->set_type(v1::SubjectAltName::TYPE_IP);
  san->set_value("300.1.1.1");
  s = Create(t, bad_san, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "300.1.1.1")) << s.error_message();

  v1::CreateCertificateRequestRequest injection = CsrRequest(t, NewCsr("CN=inject"));
  injection.set_template_name("CertbridgeDevice\nSAN:dns=evil.example");
  EXPECT_EQ(Create(t, injection, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // The template's display name: the CA refuses with 0x80094800 and the agent says which
  // name was meant.
  v1::CreateCertificateRequestRequest display = CsrRequest(t, NewCsr("CN=display"), "Certbridge Device");
  s = Create(t, display, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.state(), CertificateRequest::STATE_DENIED) << out.DebugString();
  EXPECT_EQ(out.hresult(), 0x80094800u);
  EXPECT_EQ(out.error_code(), "CA_TEMPLATE_NOT_SUPPORTED");
  EXPECT_TRUE(absl::StrContains(out.remedy(), "CertbridgeDevice")) << out.remedy();

  // A key below the template's minimum: 0x80094811.
  v1::CreateCertificateRequestRequest short_key = CsrRequest(t, NewCsr("CN=short"), "WebServer");
  s = Create(t, short_key, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.state(), CertificateRequest::STATE_DENIED) << out.DebugString();
  EXPECT_EQ(out.hresult(), 0x80094811u);
}

}  // namespace
}  // namespace certbridge::testing
