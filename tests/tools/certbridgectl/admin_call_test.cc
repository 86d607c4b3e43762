// The gRPC path of certbridgectl, end to end in one process: RunCertbridgectl against a fake
// AdminService served over TLS on 127.0.0.1:0 with a self-signed certificate made by the
// openssl CLI.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "certbridge/v1/admin.grpc.pb.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/certbridgectl/commands.h"

namespace certbridge::ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kApiKey[] = "cbk_test_5ecret";

// Answers like a broker with one pending connector whose registration code is "K7XQ-2M9P",
// and records what it was sent. Calls without `Bearer kApiKey` are UNAUTHENTICATED.
// Thread-safe: gRPC runs the handlers on its own threads.
class FakeAdminService final : public v1::AdminService::Service {
 public:
  struct Received {
    std::string method;
    std::string authorization;
    std::string registration_code;
    absl::Duration deadline_from_now;
  };

  grpc::Status ApproveConnector(grpc::ServerContext* context,
                                const v1::ApproveConnectorRequest* request,
                                v1::Connector* response) override {
    if (grpc::Status status = Record(context, "ApproveConnector", request->registration_code());
        !status.ok()) {
      return status;
    }
    if (request->registration_code() != "K7XQ-2M9P") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrFormat("registration code \"%s\" not found or expired",
                                          request->registration_code()));
    }
    response->set_connector_id("c-42");
    response->set_state(v1::Connector::ACTIVE);
    response->set_host("adcs01.corp.example.com");
    return grpc::Status::OK;
  }

  grpc::Status ListConnectors(grpc::ServerContext* context, const v1::ListConnectorsRequest*,
                              v1::ListConnectorsResponse* response) override {
    if (grpc::Status status = Record(context, "ListConnectors", ""); !status.ok()) {
      return status;
    }
    v1::Connector* connector = response->add_connectors();
    connector->set_connector_id("c-42");
    connector->set_state(v1::Connector::ACTIVE);
    return grpc::Status::OK;
  }

  grpc::Status CreateEnrollmentToken(grpc::ServerContext* context,
                                     const v1::CreateEnrollmentTokenRequest*,
                                     v1::CreateEnrollmentTokenResponse* response) override {
    if (grpc::Status status = Record(context, "CreateEnrollmentToken", ""); !status.ok()) {
      return status;
    }
    response->set_token("cbe_one_time_token");
    return grpc::Status::OK;
  }

  std::vector<Received> received() const {
    absl::MutexLock lock(&mu_);
    return received_;
  }

 private:
  grpc::Status Record(grpc::ServerContext* context, std::string method, std::string code) {
    Received received;
    received.method = std::move(method);
    received.registration_code = std::move(code);
    const auto& metadata = context->client_metadata();
    if (auto it = metadata.find("authorization"); it != metadata.end()) {
      received.authorization = std::string(it->second.data(), it->second.size());
    }
    received.deadline_from_now = absl::FromChrono(context->deadline()) - absl::Now();
    const bool authorized = received.authorization == absl::StrCat("Bearer ", kApiKey);
    {
      absl::MutexLock lock(&mu_);
      received_.push_back(std::move(received));
    }
    if (!authorized) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "API key not recognised");
    }
    return grpc::Status::OK;
  }

  mutable absl::Mutex mu_;
  std::vector<Received> received_ ABSL_GUARDED_BY(mu_);
};

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

// A self-signed certificate for 127.0.0.1 and localhost, written as <name>.key/<name>.pem.
void MakeSelfSignedCertificate(const std::filesystem::path& dir, const std::string& name) {
  const std::string command = absl::StrFormat(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost "
      "-keyout '%s' -out '%s' >'%s' 2>&1",
      (dir / (name + ".key")).string(), (dir / (name + ".pem")).string(),
      (dir / "openssl.log").string());
  ASSERT_EQ(std::system(command.c_str()), 0) << ReadAll(dir / "openssl.log");
}

class AdminCallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/certbridgectl.XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    ASSERT_NO_FATAL_FAILURE(MakeSelfSignedCertificate(dir_, "broker"));

    grpc::SslServerCredentialsOptions tls;
    tls.pem_key_cert_pairs.push_back(
        {ReadAll(dir_ / "broker.key"), ReadAll(dir_ / "broker.pem")});
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    broker_ = absl::StrCat("127.0.0.1:", port);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Runs certbridgectl with --broker and --ca-cert pointing at the fake, then `args`.
  int Run(std::vector<std::string> args) {
    std::vector<std::string> full = {"--broker", broker_, "--ca-cert",
                                     (dir_ / "broker.pem").string()};
    full.insert(full.end(), args.begin(), args.end());
    out_.str("");
    err_.str("");
    return RunCertbridgectl(full, env_, clock_, out_, err_);
  }

  std::filesystem::path dir_;
  FakeAdminService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string broker_;
  Environment env_ = {{"CERTBRIDGE_API_KEY", kApiKey}};
  FakeClock clock_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(AdminCallTest, ApproveSendsTheCodeWithTheApiKey) {
  ASSERT_EQ(Run({"connectors", "approve", "K7XQ-2M9P"}), kExitSuccess) << err_.str();
  EXPECT_THAT(out_.str(), StartsWith("Approved connector c-42.\n"));
  EXPECT_EQ(err_.str(), "");
  std::vector<FakeAdminService::Received> received = service_.received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].method, "ApproveConnector");
  EXPECT_EQ(received[0].registration_code, "K7XQ-2M9P");
  EXPECT_EQ(received[0].authorization, absl::StrCat("Bearer ", kApiKey));
  EXPECT_THAT(out_.str() + err_.str(), ::testing::Not(HasSubstr(kApiKey)));
}

TEST_F(AdminCallTest, EveryCallCarriesTheTimeoutAsDeadline) {
  ASSERT_EQ(Run({"--timeout", "7", "connectors", "list"}), kExitSuccess) << err_.str();
  std::vector<FakeAdminService::Received> received = service_.received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_GT(received[0].deadline_from_now, absl::ZeroDuration());
  EXPECT_LE(received[0].deadline_from_now, absl::Seconds(7));
}

TEST_F(AdminCallTest, ApiKeyFileIsTrimmedAndWinsOverTheEnvironment) {
  env_["CERTBRIDGE_API_KEY"] = "some-other-key";
  std::ofstream(dir_ / "api-key") << kApiKey << "\n";
  ASSERT_EQ(Run({"--api-key-file", (dir_ / "api-key").string(), "connectors", "list"}),
            kExitSuccess)
      << err_.str();
  ASSERT_EQ(service_.received().size(), 1u);
  EXPECT_EQ(service_.received()[0].authorization, absl::StrCat("Bearer ", kApiKey));
  EXPECT_EQ(out_.str(),
            "CONNECTOR ID   STATE    CONNECTIVITY   HOST   CA IDENTITY   VERSION   CAS\n"
            "c-42           ACTIVE   -              -      -             -         -\n");
}

TEST_F(AdminCallTest, ServerErrorsExitOneWithTheCodeName) {
  EXPECT_EQ(Run({"connectors", "approve", "NOPE-0000"}), kExitFailure);
  EXPECT_EQ(err_.str(), "error: NOT_FOUND: registration code \"NOPE-0000\" not found or expired\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(AdminCallTest, RejectedKeyGetsTheApiKeyHint) {
  env_["CERTBRIDGE_API_KEY"] = "cbk_wrong_key";
  EXPECT_EQ(Run({"connectors", "approve", "K7XQ-2M9P"}), kExitFailure);
  EXPECT_THAT(err_.str(), StartsWith("error: UNAUTHENTICATED: API key not recognised\nhint: "));
  EXPECT_THAT(err_.str(), HasSubstr("CERTBRIDGE_API_KEY"));
  EXPECT_THAT(out_.str() + err_.str(), ::testing::Not(HasSubstr("cbk_wrong_key")));
}

TEST_F(AdminCallTest, UntrustedBrokerCertificateIsUnavailableWithHint) {
  ASSERT_NO_FATAL_FAILURE(MakeSelfSignedCertificate(dir_, "stranger"));
  out_.str("");
  err_.str("");
  const int exit_code = RunCertbridgectl(
      {"--broker", broker_, "--ca-cert", (dir_ / "stranger.pem").string(), "connectors",
       "approve", "K7XQ-2M9P"},
      env_, clock_, out_, err_);
  EXPECT_EQ(exit_code, kExitFailure);
  EXPECT_THAT(err_.str(), StartsWith("error: UNAVAILABLE: "));
  EXPECT_THAT(err_.str(), HasSubstr("\nhint: "));
  EXPECT_THAT(err_.str(), HasSubstr("--ca-cert"));
  EXPECT_TRUE(service_.received().empty()) << "nothing may reach an unverified broker";
}

TEST_F(AdminCallTest, JsonOutputIsOneDocumentAndTheNoticeGoesToStderr) {
  ASSERT_EQ(Run({"--output", "json", "enrollment-tokens", "create", "--ttl", "1h"}),
            kExitSuccess)
      << err_.str();
  v1::CreateEnrollmentTokenResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out_.str(), &parsed).ok())
      << out_.str();
  EXPECT_EQ(parsed.token(), "cbe_one_time_token");
  EXPECT_THAT(err_.str(), HasSubstr("shown only now"));
}

TEST_F(AdminCallTest, TableOutputPrintsTheTokenAndTheNotice) {
  ASSERT_EQ(Run({"enrollment-tokens", "create"}), kExitSuccess) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("Token:   cbe_one_time_token\n"));
  EXPECT_THAT(out_.str(), HasSubstr("shown only now"));
}

TEST_F(AdminCallTest, UsageErrorsExitTwoAndSendNothing) {
  EXPECT_EQ(Run({"connectors", "approve", "K7XQ-2M9P", "--force"}), kExitUsage);
  EXPECT_EQ(err_.str(),
            "error: unknown flag \"--force\"\n"
            "Run 'certbridgectl connectors approve --help' for usage.\n");
  EXPECT_EQ(Run({"connectors", "approve"}), kExitUsage);
  EXPECT_TRUE(service_.received().empty());
}

TEST_F(AdminCallTest, HelpExitsZeroWithoutCalling) {
  EXPECT_EQ(Run({"connectors", "--help"}), kExitSuccess);
  EXPECT_THAT(out_.str(), HasSubstr("connectors approve CODE"));
  EXPECT_TRUE(service_.received().empty());
}

TEST_F(AdminCallTest, LocalFileProblemsExitOneNamingTheFile) {
  const std::string missing = (dir_ / "no-such-key").string();
  EXPECT_EQ(Run({"--api-key-file", missing, "connectors", "list"}), kExitFailure);
  EXPECT_EQ(err_.str(), absl::StrFormat("error: cannot read API key file \"%s\": No such file "
                                        "or directory\n",
                                        missing));
  std::ofstream(dir_ / "not-a-cert.pem") << "hello\n";
  out_.str("");
  err_.str("");
  EXPECT_EQ(RunCertbridgectl({"--broker", broker_, "--ca-cert",
                              (dir_ / "not-a-cert.pem").string(), "connectors", "list"},
                             env_, clock_, out_, err_),
            kExitFailure);
  EXPECT_THAT(err_.str(), HasSubstr("holds no PEM certificate"));
  EXPECT_TRUE(service_.received().empty());
}

TEST_F(AdminCallTest, ApiKeyWithControlCharactersIsRefusedLocally) {
  env_["CERTBRIDGE_API_KEY"] = "cbk\x01oops";
  EXPECT_EQ(Run({"connectors", "list"}), kExitFailure);
  EXPECT_THAT(err_.str(), HasSubstr("CERTBRIDGE_API_KEY holds a character"));
  EXPECT_THAT(err_.str(), ::testing::Not(HasSubstr("oops")));
  EXPECT_TRUE(service_.received().empty());
}

}  // namespace
}  // namespace certbridge::ctl
