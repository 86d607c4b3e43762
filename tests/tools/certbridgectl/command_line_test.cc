#include "tools/certbridgectl/command_line.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certbridge::ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class CommandLineTest : public ::testing::Test {
 protected:
  // An environment with a broker and a key, so that tests of one rule need not repeat the
  // global flags.
  Environment env_ = {{"CERTBRIDGE_BROKER", "broker.example.com:8443"},
                      {"CERTBRIDGE_API_KEY", "cbk_test"}};

  Invocation ParseOk(const std::vector<std::string>& args) {
    ParseResult result = ParseCommandLine(args, env_);
    EXPECT_EQ(result.kind, ParseResult::Kind::kInvocation) << result.text;
    return result.invocation;
  }

  ParseResult ParseUsageError(const std::vector<std::string>& args) {
    ParseResult result = ParseCommandLine(args, env_);
    EXPECT_EQ(result.kind, ParseResult::Kind::kUsageError);
    return result;
  }
};

TEST_F(CommandLineTest, ApproveBuildsRequestWithTheCode) {
  Invocation invocation = ParseOk({"connectors", "approve", "K7XQ-2M9P"});
  EXPECT_EQ(invocation.command, "connectors approve");
  ASSERT_TRUE(std::holds_alternative<v1::ApproveConnectorRequest>(invocation.request));
  EXPECT_EQ(std::get<v1::ApproveConnectorRequest>(invocation.request).registration_code(),
            "K7XQ-2M9P");
}

TEST_F(CommandLineTest, GlobalOptionsComeFromTheEnvironmentWithDefaults) {
  env_["CERTBRIDGE_CA_CERT"] = "/etc/certbridge/ca.pem";
  Invocation invocation = ParseOk({"connectors", "list"});
  EXPECT_EQ(invocation.global.broker, "broker.example.com:8443");
  EXPECT_EQ(invocation.global.api_key, "cbk_test");
  EXPECT_EQ(invocation.global.api_key_file, "");
  EXPECT_EQ(invocation.global.ca_cert_file, "/etc/certbridge/ca.pem");
  EXPECT_EQ(invocation.global.output, OutputFormat::kTable);
  EXPECT_EQ(invocation.global.timeout, absl::Seconds(30));
}

TEST_F(CommandLineTest, FlagsWinOverTheEnvironmentAndGoAnywhere) {
  env_["CERTBRIDGE_CA_CERT"] = "/env/ca.pem";
  Invocation invocation =
      ParseOk({"--broker", "flag.example.com:443", "connectors", "--output=json", "list",
               "--api-key-file", "/keys/admin", "--ca-cert=/flag/ca.pem", "--timeout", "2.5"});
  EXPECT_EQ(invocation.global.broker, "flag.example.com:443");
  EXPECT_EQ(invocation.global.api_key_file, "/keys/admin");
  EXPECT_EQ(invocation.global.api_key, "") << "the key file wins over CERTBRIDGE_API_KEY";
  EXPECT_EQ(invocation.global.ca_cert_file, "/flag/ca.pem");
  EXPECT_EQ(invocation.global.output, OutputFormat::kJson);
  EXPECT_EQ(invocation.global.timeout, absl::Milliseconds(2500));
  EXPECT_TRUE(std::holds_alternative<v1::ListConnectorsRequest>(invocation.request));
}

TEST_F(CommandLineTest, EveryCommandParses) {
  struct Case {
    std::vector<std::string> args;
    size_t request_index;
  };
  const std::vector<Case> cases = {
      {{"tenants", "create", "Acme"}, AdminRequest(v1::CreateTenantRequest()).index()},
      {{"tenants", "list"}, AdminRequest(v1::ListTenantsRequest()).index()},
      {{"api-keys", "create", "--scopes", "admin"}, AdminRequest(v1::CreateApiKeyRequest()).index()},
      {{"api-keys", "list"}, AdminRequest(v1::ListApiKeysRequest()).index()},
      {{"enrollment-tokens", "create"}, AdminRequest(v1::CreateEnrollmentTokenRequest()).index()},
      {{"cas", "add", "h\\c"}, AdminRequest(v1::CreateCertificateAuthorityRequest()).index()},
      {{"cas", "list"}, AdminRequest(v1::ListCertificateAuthoritiesRequest()).index()},
      {{"cas", "delete", "ca-1"}, AdminRequest(v1::DeleteCertificateAuthorityRequest()).index()},
      {{"cas", "assign", "ca-1", "c-1"},
       AdminRequest(v1::AssignCertificateAuthorityRequest()).index()},
      {{"cas", "unassign", "ca-1", "c-1"},
       AdminRequest(v1::UnassignCertificateAuthorityRequest()).index()},
      {{"connectors", "list"}, AdminRequest(v1::ListConnectorsRequest()).index()},
      {{"connectors", "get", "c-1"}, AdminRequest(v1::GetConnectorRequest()).index()},
      {{"connectors", "approve", "X"}, AdminRequest(v1::ApproveConnectorRequest()).index()},
      {{"connectors", "reject", "X"}, AdminRequest(v1::RejectConnectorRequest()).index()},
      {{"connectors", "disable", "c-1"}, AdminRequest(v1::DisableConnectorRequest()).index()},
      {{"connectors", "enable", "c-1"}, AdminRequest(v1::EnableConnectorRequest()).index()},
      {{"connectors", "delete", "c-1"}, AdminRequest(v1::DeleteConnectorRequest()).index()},
      {{"audit", "list"}, AdminRequest(v1::ListAuditEventsRequest()).index()},
  };
  for (const Case& c : cases) {
    Invocation invocation = ParseOk(c.args);
    EXPECT_EQ(invocation.request.index(), c.request_index) << c.args[0] << " " << c.args[1];
  }
}

TEST_F(CommandLineTest, TwoArgumentCommandsKeepTheOrder) {
  Invocation invocation = ParseOk({"cas", "unassign", "ca-7", "c-42"});
  const auto& request = std::get<v1::UnassignCertificateAuthorityRequest>(invocation.request);
  EXPECT_EQ(request.ca_id(), "ca-7");
  EXPECT_EQ(request.connector_id(), "c-42");
}

TEST_F(CommandLineTest, CasAddSplitsTheConfigString) {
  Invocation invocation = ParseOk(
      {"cas", "add", "adcs01.corp.example.com\\Corp Issuing CA", "--display-name", "Corp"});
  const auto& request = std::get<v1::CreateCertificateAuthorityRequest>(invocation.request);
  EXPECT_EQ(request.host(), "adcs01.corp.example.com");
  EXPECT_EQ(request.ca_name(), "Corp Issuing CA");
  EXPECT_EQ(request.display_name(), "Corp");
}

TEST_F(CommandLineTest, CasAddRejectsAnythingButOneBackslash) {
  for (const char* config : {"adcs01.corp.example.com", "a\\b\\c", "\\ca", "host\\"}) {
    ParseResult result = ParseUsageError({"cas", "add", config});
    EXPECT_THAT(result.text, HasSubstr("is not a CA config string")) << config;
    EXPECT_EQ(result.help_command, "certbridgectl cas add");
  }
}

TEST_F(CommandLineTest, ApiKeysCreateTakesScopesTenantAndName) {
  Invocation invocation = ParseOk({"api-keys", "create", "--tenant", "t-1", "--scopes",
                                   "admin, certificates", "--name", "jamf-prod"});
  const auto& request = std::get<v1::CreateApiKeyRequest>(invocation.request);
  EXPECT_EQ(request.tenant_id(), "t-1");
  EXPECT_EQ(request.display_name(), "jamf-prod");
  EXPECT_THAT(request.scopes(), ::testing::ElementsAre("admin", "certificates"));
}

TEST_F(CommandLineTest, ApiKeysCreateNeedsKnownScopes) {
  ParseResult missing = ParseUsageError({"api-keys", "create"});
  EXPECT_EQ(missing.text, "\"api-keys create\" needs --scopes SCOPES");
  ParseResult unknown = ParseUsageError({"api-keys", "create", "--scopes", "admin,root"});
  EXPECT_THAT(unknown.text, HasSubstr("unknown scope \"root\""));
  ParseResult empty = ParseUsageError({"api-keys", "create", "--scopes", ","});
  EXPECT_THAT(empty.text, HasSubstr("--scopes is empty"));
}

TEST_F(CommandLineTest, EnrollmentTokenTtlBecomesSeconds) {
  auto ttl_of = [&](const std::string& ttl) {
    Invocation invocation = ParseOk({"enrollment-tokens", "create", "--ttl", ttl});
    return std::get<v1::CreateEnrollmentTokenRequest>(invocation.request).ttl_seconds();
  };
  EXPECT_EQ(ttl_of("24h"), 86400);
  EXPECT_EQ(ttl_of("90m"), 5400);
  EXPECT_EQ(ttl_of("7d"), 7 * 86400);
  Invocation no_ttl = ParseOk({"enrollment-tokens", "create", "--description", "ADCS01"});
  const auto& request = std::get<v1::CreateEnrollmentTokenRequest>(no_ttl.request);
  EXPECT_EQ(request.ttl_seconds(), 0) << "0 lets the broker apply its default";
  EXPECT_EQ(request.description(), "ADCS01");
  EXPECT_THAT(ParseUsageError({"enrollment-tokens", "create", "--ttl", "soon"}).text,
              HasSubstr("\"soon\" is not a duration"));
}

TEST(ParseTtlTest, AcceptsPositiveWholeSeconds) {
  EXPECT_EQ(*ParseTtl("24h"), absl::Hours(24));
  EXPECT_EQ(*ParseTtl("1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseTtl("45s"), absl::Seconds(45));
  EXPECT_EQ(*ParseTtl("7d"), absl::Hours(168));
  EXPECT_EQ(*ParseTtl("1d"), absl::Hours(24));
}

TEST(ParseTtlTest, RejectsNonsense) {
  for (const char* text : {"", "0", "0s", "-1h", "1.5s", "abc", "inf", "d", "0d", "-2d", "3x"}) {
    EXPECT_EQ(ParseTtl(text).status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST_F(CommandLineTest, AuditListTakesLimitAndPageToken) {
  Invocation invocation = ParseOk({"audit", "list", "--limit", "50", "--page-token", "p2"});
  const auto& request = std::get<v1::ListAuditEventsRequest>(invocation.request);
  EXPECT_EQ(request.page_size(), 50);
  EXPECT_EQ(request.page_token(), "p2");
  for (const char* limit : {"0", "1001", "ten", "-5"}) {
    EXPECT_THAT(ParseUsageError({"audit", "list", "--limit", limit}).text,
                HasSubstr("--limit must be a whole number from 1 to 1000"))
        << limit;
  }
}

TEST_F(CommandLineTest, DoubleDashEndsFlags) {
  Invocation invocation = ParseOk({"connectors", "get", "--", "--odd-id"});
  EXPECT_EQ(std::get<v1::GetConnectorRequest>(invocation.request).connector_id(), "--odd-id");
}

TEST_F(CommandLineTest, HelpAtEveryLevel) {
  Environment empty;  // Help needs neither broker nor key.
  ParseResult top = ParseCommandLine({"--help"}, empty);
  EXPECT_EQ(top.kind, ParseResult::Kind::kHelp);
  EXPECT_THAT(top.text, HasSubstr("connectors approve CODE"));
  EXPECT_THAT(top.text, HasSubstr("--broker HOST:PORT"));

  ParseResult group = ParseCommandLine({"cas", "-h"}, empty);
  EXPECT_EQ(group.kind, ParseResult::Kind::kHelp);
  EXPECT_THAT(group.text, HasSubstr("cas assign CA_ID CONNECTOR_ID"));
  EXPECT_THAT(group.text, ::testing::Not(HasSubstr("connectors approve")));

  ParseResult command = ParseCommandLine({"api-keys", "create", "--help"}, empty);
  EXPECT_EQ(command.kind, ParseResult::Kind::kHelp);
  EXPECT_THAT(command.text, StartsWith("Usage:\n  certbridgectl api-keys create --scopes SCOPES "
                                       "[--tenant ID] [--name NAME]\n"));
  EXPECT_THAT(command.text, HasSubstr("--scopes SCOPES   Comma-separated: admin, "
                                      "certificates. Required."));

  ParseResult help_word = ParseCommandLine({"help", "connectors", "approve"}, empty);
  EXPECT_EQ(help_word.kind, ParseResult::Kind::kHelp);
  EXPECT_THAT(help_word.text, HasSubstr("registration code"));
}

TEST_F(CommandLineTest, UsageErrorsSayWhatWasWrongAndWhichHelpToRead) {
  struct Case {
    std::vector<std::string> args;
    std::string text;
    std::string help_command;
  };
  const std::vector<Case> cases = {
      {{}, "missing command", "certbridgectl"},
      {{"frobnicate"}, "unknown command \"frobnicate\"", "certbridgectl"},
      {{"connectors"}, "missing command after \"connectors\"", "certbridgectl connectors"},
      {{"connectors", "bless", "c-1"}, "unknown command \"connectors bless\"",
       "certbridgectl connectors"},
      {{"cas", "list", "--verbose"}, "unknown flag \"--verbose\"", "certbridgectl cas list"},
      {{"-v", "cas", "list"}, "unknown flag \"-v\"", "certbridgectl"},
      {{"cas", "list", "--ttl", "1h"}, "\"cas list\" takes no flag --ttl",
       "certbridgectl cas list"},
      {{"connectors", "approve"}, "\"connectors approve\" needs CODE",
       "certbridgectl connectors approve"},
      {{"cas", "assign", "ca-1"}, "\"cas assign\" needs CONNECTOR_ID",
       "certbridgectl cas assign"},
      {{"connectors", "get", "c-1", "c-2"},
       "unexpected argument \"c-2\" for \"connectors get\"", "certbridgectl connectors get"},
      {{"connectors", "get", ""}, "ID must not be empty", "certbridgectl connectors get"},
      {{"connectors", "list", "--broker"}, "flag --broker needs a value",
       "certbridgectl connectors list"},
      {{"connectors", "list", "--output", "yaml"},
       "--output must be \"table\" or \"json\", not \"yaml\"",
       "certbridgectl connectors list"},
      {{"connectors", "list", "--timeout", "0"},
       "--timeout must be a positive number of seconds, not \"0\"",
       "certbridgectl connectors list"},
      {{"connectors", "list", "--timeout", "soon"},
       "--timeout must be a positive number of seconds, not \"soon\"",
       "certbridgectl connectors list"},
      {{"connectors", "list", "--api-key-file="}, "--api-key-file is empty",
       "certbridgectl connectors list"},
  };
  for (const Case& c : cases) {
    ParseResult result = ParseCommandLine(c.args, env_);
    EXPECT_EQ(result.kind, ParseResult::Kind::kUsageError) << c.text;
    EXPECT_EQ(result.text, c.text);
    EXPECT_EQ(result.help_command, c.help_command) << c.text;
  }
}

TEST_F(CommandLineTest, BrokerAndApiKeyAreRequired) {
  Environment no_broker = {{"CERTBRIDGE_API_KEY", "k"}};
  EXPECT_EQ(ParseCommandLine({"cas", "list"}, no_broker).text,
            "no broker address: pass --broker HOST:PORT or set CERTBRIDGE_BROKER");
  Environment no_key = {{"CERTBRIDGE_BROKER", "b:1"}, {"CERTBRIDGE_API_KEY", ""}};
  ParseResult result = ParseCommandLine({"cas", "list"}, no_key);
  EXPECT_EQ(result.kind, ParseResult::Kind::kUsageError);
  EXPECT_EQ(result.text, "no API key: pass --api-key-file PATH or set CERTBRIDGE_API_KEY");
}

}  // namespace
}  // namespace certbridge::ctl
