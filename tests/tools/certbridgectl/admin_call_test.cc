// The gRPC path of certbridgectl's AdminService commands, end to end in one process:
// RunCertbridgectl against the fakes of fake_broker.h.
#include <fstream>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "certbridge/v1/admin.grpc.pb.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tools/certbridgectl/fake_broker.h"
#include "tools/certbridgectl/commands.h"

namespace certbridge::ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using ::certbridge::ctl::fakes::kApiKey;
using ::certbridge::ctl::fakes::MakeSelfSignedCertificate;
using ::certbridge::ctl::fakes::Received;
using AdminCallTest = ::certbridge::ctl::fakes::BrokerCallTest;

TEST_F(AdminCallTest, ApproveSendsTheCodeWithTheApiKey) {
  ASSERT_EQ(Run({"connectors", "approve", "K7XQ-2M9P"}), kExitSuccess) << err_.str();
  EXPECT_THAT(out_.str(), StartsWith("Approved connector c-42.\n"));
  EXPECT_EQ(err_.str(), "");
  std::vector<Received> received = admin_service_.received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].method, "ApproveConnector");
  EXPECT_EQ(received[0].registration_code, "K7XQ-2M9P");
  EXPECT_EQ(received[0].authorization, absl::StrCat("Bearer ", kApiKey));
  EXPECT_THAT(out_.str() + err_.str(), ::testing::Not(HasSubstr(kApiKey)));
}

TEST_F(AdminCallTest, EveryCallCarriesTheTimeoutAsDeadline) {
  ASSERT_EQ(Run({"--timeout", "7", "connectors", "list"}), kExitSuccess) << err_.str();
  std::vector<Received> received = admin_service_.received();
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
  ASSERT_EQ(admin_service_.received().size(), 1u);
  EXPECT_EQ(admin_service_.received()[0].authorization, absl::StrCat("Bearer ", kApiKey));
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
  EXPECT_TRUE(admin_service_.received().empty()) << "nothing may reach an unverified broker";
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
  EXPECT_TRUE(admin_service_.received().empty());
}

TEST_F(AdminCallTest, HelpExitsZeroWithoutCalling) {
  EXPECT_EQ(Run({"connectors", "--help"}), kExitSuccess);
  EXPECT_THAT(out_.str(), HasSubstr("connectors approve CODE"));
  EXPECT_TRUE(admin_service_.received().empty());
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
  EXPECT_TRUE(admin_service_.received().empty());
}

TEST_F(AdminCallTest, ApiKeyWithControlCharactersIsRefusedLocally) {
  env_["CERTBRIDGE_API_KEY"] = "cbk\x01oops";
  EXPECT_EQ(Run({"connectors", "list"}), kExitFailure);
  EXPECT_THAT(err_.str(), HasSubstr("CERTBRIDGE_API_KEY holds a character"));
  EXPECT_THAT(err_.str(), ::testing::Not(HasSubstr("oops")));
  EXPECT_TRUE(admin_service_.received().empty());
}

}  // namespace
}  // namespace certbridge::ctl
