// The example MDM clients in examples/ (Python and Node.js) run against a real local stack:
// PostgreSQL, the broker, adcs-emulator and certbridge-agent. Each example issues in CSR and
// key-generation mode, opens the PKCS#12 with the password from the CMS envelope, resumes a
// Watch from its cursor, re-lists and resumes from the list's watch_cursor when a cursor has
// expired, and reads a bad request's error details; it exits non-zero when any step
// did not do what it should. The API key reaches the examples in a 0600 file, not on their
// command line.
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/test_stack.h"

namespace certbridge::testing {
namespace {

class ExampleClientsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto stack = TestStack::Create();
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = stack->release();
    auto broker = stack_->StartBroker({"--heartbeat_interval_seconds=2"});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = new BrokerProcess(*std::move(broker));
    auto emulator =
        stack_->StartEmulator(ReadFileOrEmpty(SourcePath("agent/emulator/example-config.txtpb")));
    ASSERT_TRUE(emulator.ok()) << emulator.status();
    emulator_ = new EmulatorProcessHandle(*std::move(emulator));

    // A tenant whose CA is served by a connected agent, with a delivery certificate.
    auto admin = stack_->AdminStub(*broker_);
    v1::CreateTenantRequest create;
    create.set_display_name("example clients");
    v1::Tenant tenant;
    ASSERT_TRUE(admin->CreateTenant(CallContext(stack_->operator_key()).get(), create, &tenant).ok());
    const std::string admin_key = NewApiKey(*admin, tenant.tenant_id(), "admin");
    v1::CreateCertificateAuthorityRequest ca_request;
    ca_request.set_config_string("adcs01.corp.example\\Corp Issuing CA");
    v1::CertificateAuthority ca;
    ASSERT_TRUE(
        admin->CreateCertificateAuthority(CallContext(admin_key).get(), ca_request, &ca).ok());
    ca_id_ = new std::string(ca.ca_id());
    auto agent = stack_->RegisterAgent(*broker_, admin_key, "CORP\\AGENT01$");
    ASSERT_TRUE(agent.ok()) << agent.status();
    v1::AssignCertificateAuthorityRequest assign;
    assign.set_ca_id(ca.ca_id());
    assign.set_connector_id(agent->connector_id);
    v1::Connector connector;
    ASSERT_TRUE(admin->AssignCertificateAuthority(CallContext(admin_key).get(), assign, &connector).ok());
    auto process = stack_->StartAgent(*agent, *emulator_);
    ASSERT_TRUE(process.ok()) << process.status();
    agent_ = process->release();
    ASSERT_TRUE(WaitUntil(
        [&] {
          v1::GetConnectorRequest get;
          get.set_connector_id(agent->connector_id);
          v1::Connector c;
          return admin->GetConnector(CallContext(admin_key).get(), get, &c).ok() &&
                 c.connectivity() == v1::Connector::CONNECTIVITY_CONNECTED;
        },
        absl::Seconds(30)))
        << agent_->Log();

    const std::string dir = stack_->dir();
    CommandResult delivery = RunCommand(
        {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
         "/CN=MDM delivery", "-keyout", dir + "/example-delivery.key", "-out",
         dir + "/example-delivery.pem"});
    ASSERT_EQ(delivery.exit_code, 0) << delivery.err;
    v1::SetDeliveryCertificateRequest set;
    set.set_certificate_pem(ReadFileOrEmpty(dir + "/example-delivery.pem"));
    v1::DeliveryCertificate stored;
    ASSERT_TRUE(admin->SetDeliveryCertificate(CallContext(admin_key).get(), set, &stored).ok());

    // The examples get a key with the `certificates` scope only, as an MDM back end would.
    const std::string key_file = dir + "/example-api-key";
    std::ofstream(key_file) << NewApiKey(*admin, tenant.tenant_id(), "certificates");
    ASSERT_EQ(chmod(key_file.c_str(), 0600), 0);
  }

  static void TearDownTestSuite() {
    delete agent_;
    delete ca_id_;
    delete emulator_;
    delete broker_;
    delete stack_;
  }

  static std::string NewApiKey(v1::AdminService::Stub& admin, const std::string& tenant_id,
                               const std::string& scope) {
    v1::CreateApiKeyRequest request;
    request.set_tenant_id(tenant_id);
    request.set_display_name(absl::StrCat("example ", scope));
    request.add_scopes(scope);
    v1::CreateApiKeyResponse key;
    grpc::Status s = admin.CreateApiKey(CallContext(stack_->operator_key()).get(), request, &key);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return key.secret();
  }

  // The flags both examples take.
  static std::vector<std::string> ExampleFlags() {
    const std::string dir = stack_->dir();
    return {"--endpoint=" + broker_->api_address(),
            "--ca-cert=" + stack_->pki("tls-ca.pem"),
            "--api-key-file=" + dir + "/example-api-key",
            "--ca-id=" + *ca_id_,
            "--template=CertbridgeDevice",
            "--delivery-key=" + dir + "/example-delivery.key",
            "--delivery-cert=" + dir + "/example-delivery.pem"};
  }

  static void ExpectRanEveryStep(const CommandResult& run) {
    EXPECT_EQ(run.exit_code, 0) << run.out << run.err << agent_->Log();
    // The bad CSR's ErrorInfo reason and BadRequest field were decoded from
    // grpc-status-details-bin; a stale cursor's CURSOR_EXPIRED made the loop re-list and
    // resume from the list's watch_cursor (issue 10).
    for (const char* step : {"csr: ", "keygen: ", "watch: resumed from cursor ",
                             "watch: cursor expired, re-listed and resumed from cursor ",
                             "error: INVALID_ARGUMENT reason=FIELD_INVALID field=csr_pem: ",
                             "\nok\n"}) {
      EXPECT_TRUE(absl::StrContains(run.out, step)) << step << " missing from:\n" << run.out;
    }
  }

  static TestStack* stack_;
  static BrokerProcess* broker_;
  static EmulatorProcessHandle* emulator_;
  static ChildProcess* agent_;
  static std::string* ca_id_;
};

TestStack* ExampleClientsTest::stack_ = nullptr;
BrokerProcess* ExampleClientsTest::broker_ = nullptr;
EmulatorProcessHandle* ExampleClientsTest::emulator_ = nullptr;
ChildProcess* ExampleClientsTest::agent_ = nullptr;
std::string* ExampleClientsTest::ca_id_ = nullptr;

TEST_F(ExampleClientsTest, PythonClientRunsEveryStep) {
  const std::string stubs = stack_->dir() + "/python-stubs";
  CommandResult generated =
      RunCommand({SourcePath("examples/python/generate_stubs.sh"), stubs});
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  // Debian's python3, which has python3-grpcio and python3-cryptography.
  std::vector<std::string> argv = {"/usr/bin/python3",
                                   SourcePath("examples/python/certbridge_example.py"),
                                   "--stubs=" + stubs};
  for (const std::string& flag : ExampleFlags()) argv.push_back(flag);
  ExpectRanEveryStep(RunCommand(argv, absl::Seconds(120)));
}

TEST_F(ExampleClientsTest, NodeClientRunsEveryStep) {
  std::vector<std::string> argv = {"node", SourcePath("examples/node/certbridge_example.js")};
  for (const std::string& flag : ExampleFlags()) argv.push_back(flag);
  ExpectRanEveryStep(RunCommand(argv, absl::Seconds(120)));
}

}  // namespace
}  // namespace certbridge::testing
