// SCEP end to end through the real stack: broker (ScepService, the SCEP listener and the
// back end), an agent and the AD CS emulator, with Debian's scepclient (micromdm/scep) as
// the device. Every certificate is verified with openssl against the emulator's CA.
// certmonger (its daemon with the scep-submit helper, driven by getcert) enrolls too.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "certbridge/v1/scep.grpc.pb.h"
#include "tests/integration/test_stack.h"
#include "tests/support/scep_clients.h"

namespace certbridge::testing {
namespace {

// scepclient's subject for -cn X: its defaults for OU, O and C.
std::string ScepClientSubject(const std::string& cn) {
  return absl::StrCat("CN=", cn, ",OU=MDM,O=scep-client,C=US");
}

bool IsConnected(v1::Connector::Connectivity c) {
  // By name without the enum's prefix: the values are being renamed.
  const std::string name = v1::Connector::Connectivity_Name(c);
  return absl::EndsWith(name, "CONNECTED") && !absl::EndsWith(name, "DISCONNECTED");
}

class ScepEnrollmentTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto stack = TestStack::Create();
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = stack->release();
    const std::string secret = absl::StrCat(stack_->dir(), "/scep-ra.secret");
    ASSERT_EQ(RunCommand({"sh", "-c", absl::StrCat("umask 077; openssl rand -hex 32 > ", secret)}).exit_code, 0);
    auto broker = stack_->StartBroker({"--queue_timeout=30s", "--sweep_interval=1s",
                                       "--heartbeat_interval_seconds=2", "--scep_listen=127.0.0.1:0",
                                       "--scep_ra_secret_file=" + secret,
                                       "--scep_ra_renewal_interval=1s"});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = new BrokerProcess(*std::move(broker));
    ASSERT_NE(broker_->scep_port, 0);
    auto emulator = stack_->StartEmulator(ReadFileOrEmpty(SourcePath("agent/emulator/example-config.txtpb")));
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
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ReadFileOrEmpty(stack_->pki("tls-ca.pem"));
    scep_ = v1::ScepService::NewStub(grpc::CreateChannel(broker_->api_address(), grpc::SslCredentials(tls)));
    dir_ = MakeTempDir("scep-e2e");
  }
  void TearDown() override { RemoveTree(dir_); }

  // A tenant with the emulator's CA and a connected agent.
  void NewTenantWithAgent() {
    v1::CreateTenantRequest create;
    create.set_display_name("scep");
    v1::Tenant tenant;
    ASSERT_TRUE(admin_->CreateTenant(CallContext(stack_->operator_key()).get(), create, &tenant).ok());
    v1::CreateApiKeyRequest key_request;
    key_request.set_tenant_id(tenant.tenant_id());
    key_request.add_scopes("admin,certificates");
    v1::CreateApiKeyResponse key;
    ASSERT_TRUE(admin_->CreateApiKey(CallContext(stack_->operator_key()).get(), key_request, &key).ok());
    key_ = key.secret();
    v1::CreateCertificateAuthorityRequest ca_request;
    ca_request.set_config_string("adcs01.corp.example\\Corp Issuing CA");
    v1::CertificateAuthority ca;
    ASSERT_TRUE(admin_->CreateCertificateAuthority(CallContext(key_).get(), ca_request, &ca).ok());
    ca_id_ = ca.ca_id();
    auto agent = stack_->RegisterAgent(*broker_, key_, "CORP\\AGENT01$");
    ASSERT_TRUE(agent.ok()) << agent.status();
    v1::AssignCertificateAuthorityRequest assign;
    assign.set_ca_id(ca_id_);
    assign.set_connector_id(agent->connector_id);
    v1::Connector connector;
    ASSERT_TRUE(admin_->AssignCertificateAuthority(CallContext(key_).get(), assign, &connector).ok());
    auto process = stack_->StartAgent(*agent, *emulator_);
    ASSERT_TRUE(process.ok()) << process.status();
    agent_ = *std::move(process);
    ASSERT_TRUE(WaitUntil(
        [&] {
          v1::GetConnectorRequest get;
          get.set_connector_id(agent->connector_id);
          v1::Connector c;
          return admin_->GetConnector(CallContext(key_).get(), get, &c).ok() &&
                 IsConnected(c.connectivity());
        },
        absl::Seconds(30)))
        << agent_->Log();
  }

  // A profile whose RA certificate the emulator has issued through the agent.
  v1::ScepProfile NewProfile(const std::string& template_name, v1::ScepChallengeMode mode,
                             const std::string& static_challenge = "") {
    v1::CreateScepProfileRequest r;
    r.set_display_name("Managed devices");
    r.set_ca_id(ca_id_);
    r.set_template_name(template_name);
    r.set_ra_template_name("CertbridgeScepRa");
    r.mutable_policy()->add_subject_patterns("CN=device-*");
    r.set_challenge_mode(mode);
    r.set_static_challenge(static_challenge);
    v1::ScepProfile profile;
    grpc::Status s = scep_->CreateScepProfile(CallContext(key_).get(), r, &profile);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(WaitUntil(
        [&] {
          v1::GetScepProfileRequest get;
          get.set_profile_id(profile.profile_id());
          return scep_->GetScepProfile(CallContext(key_).get(), get, &profile).ok() &&
                 !profile.ra_certificate_pem().empty();
        },
        absl::Seconds(60)))
        << "RA certificate not issued; pending request " << profile.ra_pending_request_name();
    return profile;
  }

  std::string Challenge(const std::string& profile_id, const std::string& subject) {
    v1::CreateScepChallengeRequest r;
    r.set_profile_id(profile_id);
    r.set_device_id("device");
    r.set_subject(subject);
    v1::ScepChallenge challenge;
    grpc::Status s = scep_->CreateScepChallenge(CallContext(key_).get(), r, &challenge);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return challenge.challenge();
  }

  std::string Url(const v1::ScepProfile& profile) const {
    return absl::StrCat("http://127.0.0.1:", broker_->scep_port, profile.scep_path());
  }

  std::vector<std::string> ScepClient(const v1::ScepProfile& profile, const std::string& device,
                                      const std::string& challenge, const std::string& cn) {
    const std::string d = absl::StrCat(dir_, "/", device);
    RunCommand({"mkdir", "-p", d});
    return ScepClientArgv(Url(profile), d + "/key.pem", challenge, cn);
  }

  CommandResult Run(const std::vector<std::string>& argv) { return RunCommand(argv, absl::Seconds(120)); }

  CommandResult Verify(const std::string& device) {
    return RunCommand({"openssl", "verify", "-CAfile", emulator_->ca_cert_path(),
                       absl::StrCat(dir_, "/", device, "/client.pem")});
  }

  int CountScepRequests(const std::string& profile_id) {
    v1::ListCertificateRequestsRequest list;
    list.set_page_size(500);
    v1::ListCertificateRequestsResponse out;
    EXPECT_TRUE(certificates_->ListCertificateRequests(CallContext(key_).get(), list, &out).ok());
    int n = 0;
    for (const auto& r : out.certificate_requests()) {
      auto it = r.labels().find("scep_profile");
      if (it != r.labels().end() && it->second == profile_id &&
          r.labels().count("scep_transaction") != 0) {
        ++n;
      }
    }
    return n;
  }

  static TestStack* stack_;
  static BrokerProcess* broker_;
  static EmulatorProcessHandle* emulator_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::CertificateService::Stub> certificates_;
  std::unique_ptr<v1::ScepService::Stub> scep_;
  std::string dir_;
  std::string key_;
  std::string ca_id_;
  std::unique_ptr<ChildProcess> agent_;
};

TestStack* ScepEnrollmentTest::stack_ = nullptr;
BrokerProcess* ScepEnrollmentTest::broker_ = nullptr;
EmulatorProcessHandle* ScepEnrollmentTest::emulator_ = nullptr;

TEST_F(ScepEnrollmentTest, ScepClientEnrollsRenewsAndIsRefusedOutsideItsChallengeAndPolicy) {
  NewTenantWithAgent();
  v1::ScepProfile profile = NewProfile("CertbridgeDevice", v1::SCEP_CHALLENGE_MODE_DYNAMIC);
  // The RA certificate chains to the customer's CA.
  const std::string ra_path = dir_ + "/ra.pem";
  {
    std::FILE* f = std::fopen(ra_path.c_str(), "w");
    std::fputs(profile.ra_certificate_pem().c_str(), f);
    std::fclose(f);
  }
  CommandResult ra_verified = RunCommand({"openssl", "verify", "-CAfile", emulator_->ca_cert_path(), ra_path});
  EXPECT_EQ(ra_verified.exit_code, 0) << ra_verified.out << ra_verified.err;

  // New enrollment with a challenge bound to the device's subject.
  const std::string challenge = Challenge(profile.profile_id(), ScepClientSubject("device-1"));
  CommandResult enrolled = Run(ScepClient(profile, "device1", challenge, "device-1"));
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.out << enrolled.err;
  CommandResult verified = Verify("device1");
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_EQ(CountScepRequests(profile.profile_id()), 1);

  // The same challenge again, from another device: refused before the CA.
  CommandResult reused = Run(ScepClient(profile, "device1b", challenge, "device-1"));
  EXPECT_NE(reused.exit_code, 0) << reused.out << reused.err;
  EXPECT_TRUE(absl::StrContains(reused.out + reused.err, "badRequest") ||
              absl::StrContains(reused.out + reused.err, "failInfo"))
      << reused.out << reused.err;

  // A wrong challenge: refused.
  CommandResult wrong = Run(ScepClient(profile, "device2", "not-a-challenge", "device-2"));
  EXPECT_NE(wrong.exit_code, 0) << wrong.out << wrong.err;

  // A CSR outside the profile's policy (subject CN=device-*): refused, even with a valid
  // challenge that binds no subject.
  CommandResult outside = Run(ScepClient(profile, "device3", Challenge(profile.profile_id(), ""), "dc01"));
  EXPECT_NE(outside.exit_code, 0) << outside.out << outside.err;
  EXPECT_EQ(CountScepRequests(profile.profile_id()), 1) << "nothing refused reached the CA";

  // Renewal: scepclient signs with the certificate it holds, without a challenge.
  const std::string first = ReadFileOrEmpty(dir_ + "/device1/client.pem");
  CommandResult renewed = Run(ScepClient(profile, "device1", "", "device-1"));
  ASSERT_EQ(renewed.exit_code, 0) << renewed.out << renewed.err;
  EXPECT_NE(ReadFileOrEmpty(dir_ + "/device1/client.pem"), first) << renewed.out << renewed.err;
  verified = Verify("device1");
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_EQ(CountScepRequests(profile.profile_id()), 2);
}

TEST_F(ScepEnrollmentTest, PendingApprovalIsCollectedByPollingAfterTheOfficerApproves) {
  NewTenantWithAgent();
  v1::ScepProfile profile = NewProfile("CertbridgeDeviceApproval", v1::SCEP_CHALLENGE_MODE_STATIC,
                                       "static-challenge-0123456789");
  auto client = ChildProcess::Start(ScepClient(profile, "device9", "static-challenge-0123456789", "device-9"),
                                    dir_ + "/scepclient9.log");
  ASSERT_TRUE(client.ok()) << client.status();
  // The request waits for the CA officer; approve it at the emulator.
  int64_t ca_request_id = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        v1::ListCertificateRequestsRequest list;
        v1::ListCertificateRequestsResponse out;
        if (!certificates_->ListCertificateRequests(CallContext(key_).get(), list, &out).ok()) return false;
        for (const auto& r : out.certificate_requests()) {
          if (r.labels().count("scep_transaction") != 0 &&
              absl::EndsWith(v1::CertificateRequest::State_Name(r.state()), "PENDING_APPROVAL")) {
            ca_request_id = r.ca_request_id();
            return true;
          }
        }
        return false;
      },
      absl::Seconds(60)));
  CommandResult approve = stack_->Officer(*emulator_, {"approve", absl::StrCat(ca_request_id)});
  ASSERT_EQ(approve.exit_code, 0) << approve.out << approve.err;
  // scepclient polls (CertPoll) 30 s after PENDING and gets the certificate.
  std::optional<int> exit_code = (*client)->WaitForExit(absl::Seconds(120));
  ASSERT_TRUE(exit_code.has_value()) << (*client)->Log();
  EXPECT_EQ(*exit_code, 0) << (*client)->Log();
  EXPECT_TRUE(absl::StrContains((*client)->Log(), "PENDING")) << (*client)->Log();
  CommandResult verified = Verify("device9");
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
}

// certmonger: the daemon on a private session bus with its state in the test's directory
// (nothing of the machine's certmonger is touched), its scep-submit helper talking to the
// broker, driven with getcert.
TEST_F(ScepEnrollmentTest, CertmongerEnrollsAndAWrongChallengeIsRefused) {
  NewTenantWithAgent();
  v1::ScepProfile profile = NewProfile("CertbridgeDevice", v1::SCEP_CHALLENGE_MODE_DYNAMIC);
  const std::string challenge = Challenge(profile.profile_id(), "CN=device-cm");
  const std::string state = dir_ + "/certmonger";
  std::vector<std::string> mkdir = {"mkdir", "-p"};
  for (std::string& d : CertmongerStateDirs(state)) mkdir.push_back(std::move(d));
  RunCommand(mkdir);
  const std::string script = dir_ + "/certmonger.sh";
  {
    std::FILE* f = std::fopen(script.c_str(), "w");
    const std::string text = absl::StrCat(
        CertmongerScriptPrologue(Url(profile)), "set -x\n",
        "getcert request -s -w -c testca -I good -f ", dir_, "/good.crt -k ", dir_,
        "/good.key -L '", challenge, "' -N CN=device-cm\n",
        "getcert list -s -i good\n",
        "getcert request -s -w -c testca -I bad -f ", dir_, "/bad.crt -k ", dir_,
        "/bad.key -L 'not-the-challenge' -N CN=device-cm2\n",
        "getcert list -s -i bad\n");
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  CommandResult run = RunCommand(
      {"bash", "-c", absl::StrCat(CertmongerDaemonLine(state, script, /*timeout_seconds=*/90), " 2>&1")},
      absl::Seconds(120));
  const std::string output = run.out + run.err;
  EXPECT_TRUE(absl::StrContains(output, "status: MONITORING")) << output;
  CommandResult verified =
      RunCommand({"openssl", "verify", "-CAfile", emulator_->ca_cert_path(), dir_ + "/good.crt"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err << output;
  EXPECT_TRUE(ReadFileOrEmpty(dir_ + "/bad.crt").empty()) << output;
  EXPECT_EQ(CountScepRequests(profile.profile_id()), 1) << output;
}

}  // namespace
}  // namespace certbridge::testing
