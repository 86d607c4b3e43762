#include "tests/integration/test_stack.h"

#include <cstdlib>
#include <optional>
#include <fstream>
#include <regex>
#include <utility>

#include <libpq-fe.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "broker/store/certificate_store.h"
#include "common/pki/pki.h"

namespace certbridge::testing {

absl::StatusOr<std::unique_ptr<TestStack>> TestStack::Create() {
  std::unique_ptr<TestStack> stack(new TestStack());
  stack->dir_ = MakeTempDir("stack");
  if (stack->dir_.empty()) return absl::InternalError("cannot make a temp dir");
  absl::StatusOr<std::unique_ptr<PostgresServer>> postgres = PostgresServer::Start();
  if (!postgres.ok()) return postgres.status();
  stack->postgres_ = *std::move(postgres);
  absl::StatusOr<std::string> dsn = stack->postgres_->CreateDatabase();
  if (!dsn.ok()) return dsn.status();
  stack->database_dsn_ = *dsn;
  CommandResult pki =
      RunCommand({SourcePath("deploy/local/make-pki.sh"), stack->dir_ + "/pki"});
  if (pki.exit_code != 0) {
    return absl::InternalError(absl::StrCat("make-pki.sh failed: ", pki.err));
  }
  return stack;
}

TestStack::~TestStack() {
  postgres_.reset();
  RemoveTree(dir_);
}

std::string TestStack::operator_key() const {
  return std::string(absl::StripAsciiWhitespace(ReadFileOrEmpty(pki("operator.key"))));
}

pid_t TestStack::postgres_pid() const {
  // postmaster.pid's first line is the postmaster's pid.
  const std::string content = ReadFileOrEmpty(postgres_->dir() + "/data/postmaster.pid");
  std::vector<absl::string_view> lines = absl::StrSplit(content, '\n');
  int pid = -1;
  if (lines.empty() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(lines[0]), &pid)) return -1;
  return pid;
}

absl::StatusOr<std::vector<std::string>> TestStack::QueryRow(const std::string& sql) const {
  PGconn* conn = PQconnectdb(database_dsn_.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("connect to the stack's database: ", message));
  }
  PGresult* result = PQexec(conn, sql.c_str());
  absl::StatusOr<std::vector<std::string>> row = std::vector<std::string>();
  if (PQresultStatus(result) != PGRES_TUPLES_OK) {
    row = absl::InternalError(absl::StrCat("query failed: ", PQerrorMessage(conn)));
  } else if (PQntuples(result) > 0) {
    for (int column = 0; column < PQnfields(result); ++column) {
      row->push_back(PQgetvalue(result, 0, column));
    }
  }
  PQclear(result);
  PQfinish(conn);
  return row;
}

absl::StatusOr<BrokerProcess> TestStack::StartBroker(const std::vector<std::string>& extra_flags) {
  const int n = ++broker_count_;
  const std::string port_file = absl::StrCat(dir_, "/broker", n, ".ports");
  std::vector<std::string> argv = {
      BuildPath("bin/certbridge-broker"),
      "--database_url=" + database_dsn_,
      "--api_listen=127.0.0.1:0",
      "--agent_listen=127.0.0.1:0",
      "--tls_cert=" + pki("broker.pem"),
      "--tls_key=" + pki("broker.key"),
      "--connector_ca_cert=" + pki("connector-ca.pem"),
      "--connector_ca_key=" + pki("connector-ca.key"),
      "--operator_key_file=" + pki("operator.key"),
      "--port_file=" + port_file,
      absl::StrCat("--replica_id=test-replica-", n),
  };
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  absl::StatusOr<std::unique_ptr<ChildProcess>> process =
      ChildProcess::Start(argv, absl::StrCat(dir_, "/broker", n, ".log"));
  if (!process.ok()) return process.status();
  BrokerProcess broker;
  broker.process = *std::move(process);
  bool ready = WaitUntil(
      [&] {
        for (absl::string_view line : absl::StrSplit(ReadFileOrEmpty(port_file), '\n')) {
          if (absl::ConsumePrefix(&line, "api=")) (void)absl::SimpleAtoi(line, &broker.api_port);
          if (absl::ConsumePrefix(&line, "agent=")) (void)absl::SimpleAtoi(line, &broker.agent_port);
          if (absl::ConsumePrefix(&line, "health=")) {
            (void)absl::SimpleAtoi(line, &broker.health_port);
          }
          if (absl::ConsumePrefix(&line, "metrics=")) {
            (void)absl::SimpleAtoi(line, &broker.metrics_port);
          }
          if (absl::ConsumePrefix(&line, "scep=")) (void)absl::SimpleAtoi(line, &broker.scep_port);
        }
        return (broker.api_port != 0 && broker.agent_port != 0) || !broker.process->Running();
      },
      absl::Seconds(60));
  if (!ready || broker.api_port == 0) {
    return absl::UnavailableError(
        absl::StrCat("broker did not start; its log:\n", broker.process->Log()));
  }
  return broker;
}

CommandResult TestStack::Ctl(const BrokerProcess& broker, const std::string& api_key,
                             const std::vector<std::string>& args) const {
  const std::string key_file = dir_ + "/ctl.key";
  {
    std::vector<std::string> write = {"sh", "-c", "umask 077; printf %s \"$0\" > \"$1\"", api_key,
                                      key_file};
    RunCommand(write);
  }
  std::vector<std::string> argv = {BuildPath("bin/certbridgectl"),
                                   "--broker=" + broker.api_address(),
                                   "--ca-cert=" + pki("tls-ca.pem"),
                                   "--api-key-file=" + key_file};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

std::unique_ptr<v1::AdminService::Stub> TestStack::AdminStub(const BrokerProcess& broker) const {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadFileOrEmpty(pki("tls-ca.pem"));
  return v1::AdminService::NewStub(
      grpc::CreateChannel(broker.api_address(), grpc::SslCredentials(tls)));
}

std::unique_ptr<v1::CertificateService::Stub> TestStack::CertificateStub(
    const BrokerProcess& broker) const {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadFileOrEmpty(pki("tls-ca.pem"));
  return v1::CertificateService::NewStub(
      grpc::CreateChannel(broker.api_address(), grpc::SslCredentials(tls)));
}

namespace {
absl::Status FromGrpc(const std::string& what, const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", s.error_message()));
}
}  // namespace

absl::StatusOr<TestTenant> TestStack::CreateTenant(const BrokerProcess& broker,
                                                   const std::string& display_name,
                                                   const std::string& scopes) const {
  auto admin = AdminStub(broker);
  v1::CreateTenantRequest create;
  create.set_display_name(display_name);
  v1::Tenant tenant;
  absl::Status s = FromGrpc("CreateTenant",
                            admin->CreateTenant(CallContext(operator_key()).get(), create, &tenant));
  if (!s.ok()) return s;
  v1::CreateApiKeyRequest key_request;
  key_request.set_tenant_id(tenant.tenant_id());
  key_request.add_scopes(scopes);
  v1::CreateApiKeyResponse key;
  s = FromGrpc("CreateApiKey",
               admin->CreateApiKey(CallContext(operator_key()).get(), key_request, &key));
  if (!s.ok()) return s;
  return TestTenant{tenant.tenant_id(), key.secret()};
}

absl::StatusOr<std::string> TestStack::CreateCertificateAuthority(
    const BrokerProcess& broker, const std::string& api_key,
    const std::string& config_string) const {
  v1::CreateCertificateAuthorityRequest request;
  request.set_config_string(config_string);
  v1::CertificateAuthority ca;
  absl::Status s = FromGrpc("CreateCertificateAuthority",
                            AdminStub(broker)->CreateCertificateAuthority(
                                CallContext(api_key).get(), request, &ca));
  if (!s.ok()) return s;
  return ca.ca_id();
}

absl::Status TestStack::AssignCertificateAuthority(const BrokerProcess& broker,
                                                   const std::string& api_key,
                                                   const std::string& ca_id,
                                                   const std::string& connector_id) const {
  v1::AssignCertificateAuthorityRequest assign;
  assign.set_ca_id(ca_id);
  assign.set_connector_id(connector_id);
  v1::Connector connector;
  return FromGrpc("AssignCertificateAuthority",
                  AdminStub(broker)->AssignCertificateAuthority(CallContext(api_key).get(),
                                                                assign, &connector));
}

absl::StatusOr<EmulatorProcessHandle> TestStack::StartEmulator(const std::string& config_text,
                                                               const std::string& state_dir,
                                                               int port) {
  const int n = ++emulator_count_;
  EmulatorProcessHandle emulator;
  emulator.state_dir = state_dir.empty() ? absl::StrCat(dir_, "/emulator", n) : state_dir;
  const std::string config = absl::StrCat(dir_, "/emulator", n, ".txtpb");
  const std::string port_file = absl::StrCat(dir_, "/emulator", n, ".port");
  {
    std::ofstream out(config);
    out << config_text;
  }
  absl::StatusOr<std::unique_ptr<ChildProcess>> process = ChildProcess::Start(
      {BuildPath("bin/adcs-emulator"), "--config", config, "--state-dir", emulator.state_dir,
       "--port-file", port_file, "--listen", absl::StrCat("127.0.0.1:", port)},
      absl::StrCat(dir_, "/emulator", n, ".log"));
  if (!process.ok()) return process.status();
  emulator.process = *std::move(process);
  bool ready = WaitUntil(
      [&] {
        return absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFileOrEmpty(port_file)),
                                &emulator.port) ||
               !emulator.process->Running();
      },
      absl::Seconds(30));
  if (!ready || emulator.port == 0) {
    return absl::UnavailableError(
        absl::StrCat("emulator did not start; its log:\n", emulator.process->Log()));
  }
  return emulator;
}

CommandResult TestStack::Officer(const EmulatorProcessHandle& emulator,
                                 const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {BuildPath("bin/adcs-emulator"), "officer", "--emulator",
                                   emulator.address()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

absl::StatusOr<RegisteredAgent> TestStack::RegisterAgent(const BrokerProcess& broker,
                                                         const std::string& admin_key,
                                                         const std::string& ca_identity,
                                                         const std::vector<std::string>& extra) {
  const int n = ++agent_count_;
  auto admin = AdminStub(broker);
  v1::CreateEnrollmentTokenResponse token;
  grpc::Status s = admin->CreateEnrollmentToken(CallContext(admin_key).get(), {}, &token);
  if (!s.ok()) return absl::InternalError(s.error_message());
  RegisteredAgent agent;
  agent.state_dir = absl::StrCat(dir_, "/registered-agent", n);
  agent.ca_identity = ca_identity;
  // As an admin should: the token from a file, not on the command line (process list).
  const std::string token_file = agent.state_dir + ".token";
  {
    std::ofstream(token_file) << token.token() << "\n";
  }
  std::vector<std::string> argv = {
      BuildPath("bin/certbridge-agent"), "register", "--broker", broker.agent_address(),
      "--broker-ca", pki("tls-ca.pem"), "--token-file", token_file, "--state-dir",
      agent.state_dir, "--ca-identity", ca_identity, "--host",
      absl::StrCat("agent", n, ".corp.example")};
  argv.insert(argv.end(), extra.begin(), extra.end());
  absl::StatusOr<std::unique_ptr<ChildProcess>> registering =
      ChildProcess::Start(argv, agent.state_dir + "-register.log");
  if (!registering.ok()) return registering.status();
  // The pending connector shows up in the tenant; approve it by its code from the log.
  std::string code;
  const std::regex pattern("Registration code: +([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})\\b");
  if (!WaitUntil(
          [&] {
            std::smatch m;
            std::string log = (*registering)->Log();
            if (!std::regex_search(log, m, pattern)) return false;
            code = m[1];
            return true;
          },
          absl::Seconds(30))) {
    return absl::InternalError(absl::StrCat("no registration code; log:\n", (*registering)->Log()));
  }
  v1::ApproveConnectorRequest approve;
  approve.set_registration_code(code);
  v1::Connector connector;
  s = admin->ApproveConnector(CallContext(admin_key).get(), approve, &connector);
  if (!s.ok()) return absl::InternalError(s.error_message());
  if ((*registering)->WaitForExit(absl::Seconds(60)) != 0) {
    return absl::InternalError(absl::StrCat("register failed:\n", (*registering)->Log()));
  }
  agent.connector_id = connector.connector_id();
  return agent;
}

absl::StatusOr<std::unique_ptr<ChildProcess>> TestStack::StartAgent(
    const RegisteredAgent& agent, const EmulatorProcessHandle& emulator,
    const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {BuildPath("bin/certbridge-agent"), "run", "--state-dir",
                                   agent.state_dir, "--ca-emulator", emulator.address()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return ChildProcess::Start(argv, agent.state_dir + ".run.log");
}

std::unique_ptr<v1::AgentService::Stub> TestStack::AgentStub(const BrokerProcess& broker,
                                                             const std::string& client_chain_pem,
                                                             const std::string& client_key_pem) const {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadFileOrEmpty(pki("tls-ca.pem"));
  tls.pem_cert_chain = client_chain_pem;
  tls.pem_private_key = client_key_pem;
  // A channel of its own per stub, so that client certificates never share a connection.
  grpc::ChannelArguments args;
  args.SetInt("certbridge.test.unique", rand());
  return v1::AgentService::NewStub(
      grpc::CreateCustomChannel(broker.agent_address(), grpc::SslCredentials(tls), args));
}

bool IsTerminal(v1::CertificateRequest::State state) {
  std::optional<broker::RequestState> as_stored =
      broker::RequestStateFromName(
          absl::StripPrefix(v1::CertificateRequest::State_Name(state), "STATE_"));
  return as_stored.has_value() && broker::IsTerminal(*as_stored);
}

std::string NewCsrPem(const std::string& subject) {
  absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  if (!key.ok()) return "";
  absl::StatusOr<std::string> csr = pki::CreateCsrPem(*key, {subject, {}});
  return csr.ok() ? *csr : "";
}

std::unique_ptr<grpc::ClientContext> CallContext(const std::string& api_key,
                                                 absl::Duration deadline) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  if (!api_key.empty()) context->AddMetadata("authorization", "Bearer " + api_key);
  return context;
}

}  // namespace certbridge::testing
