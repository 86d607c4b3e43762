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
      {{"tenants", "create", "Acme"}, BrokerRequest(v1::CreateTenantRequest()).index()},
      {{"tenants", "list"}, BrokerRequest(v1::ListTenantsRequest()).index()},
      {{"api-keys", "create", "--scopes", "admin"}, BrokerRequest(v1::CreateApiKeyRequest()).index()},
      {{"api-keys", "list"}, BrokerRequest(v1::ListApiKeysRequest()).index()},
      {{"api-keys", "revoke", "k-1"}, BrokerRequest(v1::RevokeApiKeyRequest()).index()},
      {{"enrollment-tokens", "create"}, BrokerRequest(v1::CreateEnrollmentTokenRequest()).index()},
      {{"cas", "add", "h\\c"}, BrokerRequest(v1::CreateCertificateAuthorityRequest()).index()},
      {{"cas", "list"}, BrokerRequest(v1::ListCertificateAuthoritiesRequest()).index()},
      {{"cas", "delete", "ca-1"}, BrokerRequest(v1::DeleteCertificateAuthorityRequest()).index()},
      {{"cas", "assign", "ca-1", "c-1"},
       BrokerRequest(v1::AssignCertificateAuthorityRequest()).index()},
      {{"cas", "unassign", "ca-1", "c-1"},
       BrokerRequest(v1::UnassignCertificateAuthorityRequest()).index()},
      {{"connectors", "list"}, BrokerRequest(v1::ListConnectorsRequest()).index()},
      {{"connectors", "get", "c-1"}, BrokerRequest(v1::GetConnectorRequest()).index()},
      {{"connectors", "approve", "X"}, BrokerRequest(v1::ApproveConnectorRequest()).index()},
      {{"connectors", "reject", "X"}, BrokerRequest(v1::RejectConnectorRequest()).index()},
      {{"connectors", "disable", "c-1"}, BrokerRequest(v1::DisableConnectorRequest()).index()},
      {{"connectors", "enable", "c-1"}, BrokerRequest(v1::EnableConnectorRequest()).index()},
      {{"connectors", "delete", "c-1"}, BrokerRequest(v1::DeleteConnectorRequest()).index()},
      {{"audit", "list"}, BrokerRequest(v1::ListAuditEventsRequest()).index()},
      {{"delivery-certificate", "set", "d.pem"},
       BrokerRequest(v1::SetDeliveryCertificateRequest()).index()},
      {{"delivery-certificate", "get"}, BrokerRequest(v1::GetDeliveryCertificateRequest()).index()},
      {{"certificates", "request", "--ca", "ca-1", "--template", "T", "--csr", "x.csr"},
       BrokerRequest(v1::CreateCertificateRequestRequest()).index()},
      {{"certificates", "get", "cr-1"}, BrokerRequest(v1::GetCertificateRequestRequest()).index()},
      {{"certificates", "list"}, BrokerRequest(v1::ListCertificateRequestsRequest()).index()},
      {{"certificates", "watch"}, BrokerRequest(v1::WatchCertificateRequestsRequest()).index()},
      {{"certificates", "cancel", "cr-1"},
       BrokerRequest(v1::CancelCertificateRequestRequest()).index()},
      {{"certificates", "revoke", "cr-1"}, BrokerRequest(v1::RevokeCertificateRequest()).index()},
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
  EXPECT_THAT(top.text, HasSubstr("certbridgectl scep --help"));

  ParseResult group = ParseCommandLine({"cas", "-h"}, empty);
  EXPECT_EQ(group.kind, ParseResult::Kind::kHelp);
  EXPECT_THAT(group.text, HasSubstr("cas assign CA_ID CONNECTOR_ID"));
  EXPECT_THAT(group.text, ::testing::Not(HasSubstr("connectors approve")));

  ParseResult command = ParseCommandLine({"api-keys", "create", "--help"}, empty);
  EXPECT_EQ(command.kind, ParseResult::Kind::kHelp);
  EXPECT_THAT(command.text, StartsWith("Usage:\n  certbridgectl api-keys create --scopes SCOPES "
                                       "[--tenant ID] [--name NAME] [--expires-in DURATION]\n"));
  EXPECT_THAT(command.text, HasSubstr("--scopes SCOPES         Comma-separated: admin, "
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

TEST_F(CommandLineTest, CertificatesRequestInCsrMode) {
  Invocation invocation =
      ParseOk({"certificates", "request", "--ca", "ca-1", "--template", "WebServer", "--csr",
               "web01.csr", "--san", "dns:www.example.com", "--san=ip:10.0.0.7", "--out-cert",
               "c.pem", "--out-chain", "chain.pem", "--device-id", "dev-1", "--label", "a=1",
               "--label", "b=x=y", "--sid", "S-1-5-21-3623811015-3361044348-30300820-1013"});
  EXPECT_EQ(invocation.command, "certificates request");
  const auto& request = std::get<v1::CreateCertificateRequestRequest>(invocation.request);
  EXPECT_EQ(request.ca_id(), "ca-1");
  EXPECT_EQ(request.template_name(), "WebServer");
  EXPECT_EQ(request.request_id(), "") << "made at run time, so parsing stays pure";
  EXPECT_EQ(request.csr_pem(), "") << "read at run time from files.input";
  EXPECT_FALSE(request.has_key_generation());
  ASSERT_EQ(request.subject_alt_names_size(), 2);
  EXPECT_EQ(request.subject_alt_names(0).type(), v1::SubjectAltName::TYPE_DNS);
  EXPECT_EQ(request.subject_alt_names(0).value(), "www.example.com");
  EXPECT_EQ(request.subject_alt_names(1).type(), v1::SubjectAltName::TYPE_IP);
  EXPECT_EQ(request.subject_alt_names(1).value(), "10.0.0.7");
  EXPECT_EQ(request.device_id(), "dev-1");
  EXPECT_EQ(request.labels().at("a"), "1");
  EXPECT_EQ(request.labels().at("b"), "x=y");
  EXPECT_EQ(request.sid(), "S-1-5-21-3623811015-3361044348-30300820-1013");
  EXPECT_EQ(request.wait_timeout().seconds(), 30);
  EXPECT_EQ(request.wait_timeout().nanos(), 0);
  EXPECT_EQ(invocation.files.input, "web01.csr");
  EXPECT_EQ(invocation.files.certificate_pem, "c.pem");
  EXPECT_EQ(invocation.files.chain_pem, "chain.pem");
  EXPECT_EQ(invocation.files.pkcs12_der, "");
  EXPECT_TRUE(invocation.files.has_outputs());
}

TEST_F(CommandLineTest, CertificatesRequestInKeyGenerationMode) {
  Invocation invocation = ParseOk(
      {"certificates", "request", "--ca", "ca-1", "--template", "User", "--key-spec", "EC-P384",
       "--subject", "CN=dev 42,O=Example\\, Inc.", "--san", "upn:dev42@corp.example.com",
       "--san", "uri:https://mdm.example.com/devices/42", "--pkcs12-profile", "modern",
       "--wait", "0", "--request-id", "req-42", "--out-pkcs12", "d.p12",
       "--out-password-cms", "d.cms"});
  const auto& request = std::get<v1::CreateCertificateRequestRequest>(invocation.request);
  ASSERT_TRUE(request.has_key_generation());
  const v1::KeyGeneration& keygen = request.key_generation();
  EXPECT_EQ(keygen.key_spec(), v1::KEY_SPEC_EC_P384);
  EXPECT_EQ(keygen.subject().rfc4514(), "CN=dev 42,O=Example\\, Inc.");
  ASSERT_EQ(keygen.subject_alt_names_size(), 2);
  EXPECT_EQ(keygen.subject_alt_names(1).type(), v1::SubjectAltName::TYPE_URI);
  EXPECT_EQ(keygen.subject_alt_names(1).value(), "https://mdm.example.com/devices/42")
      << "split at the first colon only";
  EXPECT_EQ(keygen.pkcs12_profile(), v1::PKCS12_PROFILE_MODERN);
  EXPECT_EQ(request.subject_alt_names_size(), 0);
  EXPECT_EQ(request.request_id(), "req-42");
  EXPECT_TRUE(request.has_wait_timeout());
  EXPECT_EQ(request.wait_timeout().seconds(), 0) << "--wait 0 returns at once";
  EXPECT_EQ(invocation.files.input, "");
  EXPECT_EQ(invocation.files.pkcs12_der, "d.p12");
  EXPECT_EQ(invocation.files.enveloped_password, "d.cms");

  auto wait_of = [&](const std::string& wait) {
    Invocation parsed = ParseOk({"certificates", "request", "--ca", "c", "--template", "T",
                                 "--key-spec", "rsa-2048", "--san", "dns:a.example.com",
                                 "--wait", wait});
    const auto& duration =
        std::get<v1::CreateCertificateRequestRequest>(parsed.request).wait_timeout();
    return absl::Seconds(duration.seconds()) + absl::Nanoseconds(duration.nanos());
  };
  EXPECT_EQ(wait_of("45s"), absl::Seconds(45));
  EXPECT_EQ(wait_of("1m"), absl::Seconds(60));
  EXPECT_EQ(wait_of("2.5"), absl::Milliseconds(2500));
  for (const char* spec : {"rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384"}) {
    ParseOk({"certificates", "request", "--ca", "c", "--template", "T", "--key-spec", spec,
             "--subject", "CN=x"});
  }
}

TEST_F(CommandLineTest, CertificatesRequestRefusesBadFlagsWithTheReason) {
  const std::vector<std::string> base = {"certificates", "request", "--ca", "ca-1",
                                         "--template", "T"};
  struct Case {
    std::vector<std::string> extra;
    std::string text;
  };
  const std::vector<Case> cases = {
      {{}, "\"certificates request\" needs --csr FILE (you hold the key) or --key-spec SPEC "
           "with --subject (the connector makes the key)"},
      {{"--csr", "a.csr", "--key-spec", "ec-p256"},
       "\"certificates request\" takes --csr FILE or --key-spec SPEC, not both"},
      {{"--key-spec", "ec-p521", "--subject", "CN=x"},
       "--key-spec must be rsa-2048, rsa-3072, rsa-4096, ec-p256 or ec-p384, not \"ec-p521\""},
      {{"--key-spec", "ec-p256"},
       "key-generation mode needs --subject 'CN=..,O=..' or at least one --san"},
      {{"--csr", "a.csr", "--subject", "CN=x"},
       "--subject is for key-generation mode (--key-spec); with --csr the subject comes from "
       "the CSR and the key stays with you"},
      {{"--csr", "a.csr", "--out-pkcs12", "x.p12"},
       "--out-pkcs12 is for key-generation mode (--key-spec); with --csr the subject comes "
       "from the CSR and the key stays with you"},
      {{"--csr", "a.csr", "--pkcs12-profile", "legacy"},
       "--pkcs12-profile is for key-generation mode (--key-spec); with --csr the subject "
       "comes from the CSR and the key stays with you"},
      {{"--csr", ""}, "--csr is empty"},
      {{"--csr", "a.csr", "--san", "dns"},
       "--san \"dns\" is not TYPE:VALUE with TYPE dns, upn, email, uri or ip, e.g. "
       "dns:host.example.com"},
      {{"--csr", "a.csr", "--san", "x400:foo"},
       "--san \"x400:foo\" is not TYPE:VALUE with TYPE dns, upn, email, uri or ip, e.g. "
       "dns:host.example.com"},
      {{"--csr", "a.csr", "--san", "dns:"},
       "--san \"dns:\" is not TYPE:VALUE with TYPE dns, upn, email, uri or ip, e.g. "
       "dns:host.example.com"},
      {{"--key-spec", "ec-p256", "--subject", "CN=x", "--pkcs12-profile", "ancient"},
       "--pkcs12-profile must be modern or legacy, not \"ancient\""},
      {{"--csr", "a.csr", "--sid", "S-1-5-x"},
       "--sid \"S-1-5-x\" is not a SID such as S-1-5-21-3623811015-3361044348-30300820-1013"},
      {{"--csr", "a.csr", "--sid", "1-5-21"},
       "--sid \"1-5-21\" is not a SID such as S-1-5-21-3623811015-3361044348-30300820-1013"},
      {{"--csr", "a.csr", "--label", "novalue"}, "--label \"novalue\" is not KEY=VALUE"},
      {{"--csr", "a.csr", "--label", "=v"}, "--label \"=v\" is not KEY=VALUE"},
      {{"--csr", "a.csr", "--label", "a=1", "--label", "a=2"},
       "--label \"a\" is given more than once"},
      {{"--csr", "a.csr", "--wait", "61s"},
       "--wait must be a duration from 0 to 60s, e.g. 30s or 0 (return at once), not \"61s\""},
      {{"--csr", "a.csr", "--wait", "-1s"},
       "--wait must be a duration from 0 to 60s, e.g. 30s or 0 (return at once), not \"-1s\""},
      {{"--csr", "a.csr", "--wait", "soon"},
       "--wait must be a duration from 0 to 60s, e.g. 30s or 0 (return at once), not \"soon\""},
      {{"--csr", "a.csr", "--request-id", ""},
       "--request-id must be 1 to 128 characters (omit it for a random UUID)"},
      {{"--csr", "a.csr", "--request-id", std::string(129, 'r')},
       "--request-id must be 1 to 128 characters (omit it for a random UUID)"},
      {{"--csr", "a.csr", "--ca", "ca-2"}, "--ca is given more than once"},
      {{"--csr", "a.csr", "--state", "ISSUED"},
       "\"certificates request\" takes no flag --state"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = base;
    args.insert(args.end(), c.extra.begin(), c.extra.end());
    ParseResult result = ParseCommandLine(args, env_);
    EXPECT_EQ(result.kind, ParseResult::Kind::kUsageError) << c.text;
    EXPECT_EQ(result.text, c.text);
    EXPECT_EQ(result.help_command, "certbridgectl certificates request") << c.text;
  }
  EXPECT_EQ(ParseUsageError({"certificates", "request", "--template", "T", "--csr", "a"}).text,
            "\"certificates request\" needs --ca CA_ID");
  EXPECT_EQ(ParseUsageError({"certificates", "request", "--ca", "c", "--csr", "a"}).text,
            "\"certificates request\" needs --template NAME");
  EXPECT_THAT(ParseUsageError({"certificates", "request", "--ca", "c", "--template", "T",
                               "--key-spec", "ec-p256", "--subject", "CN"})
                  .text,
              StartsWith("--subject \"CN\" is not an RFC 4514 name"));
  EXPECT_THAT(ParseUsageError({"certificates", "request", "--ca", "c", "--template", "T",
                               "--csr", "a.csr", "--san", "ip:10.0.0.999"})
                  .text,
              StartsWith("--san \"ip:10.0.0.999\": "));
}

TEST_F(CommandLineTest, CertificatesGetByNameOrRequestId) {
  const auto by_name = ParseOk({"certificates", "get", "cr-81", "--out-cert", "c.pem"});
  EXPECT_EQ(std::get<v1::GetCertificateRequestRequest>(by_name.request).name(), "cr-81");
  EXPECT_EQ(by_name.files.certificate_pem, "c.pem");
  const auto by_id = ParseOk({"certificates", "get", "--request-id", "r-1"});
  EXPECT_EQ(std::get<v1::GetCertificateRequestRequest>(by_id.request).request_id(), "r-1");
  EXPECT_EQ(std::get<v1::GetCertificateRequestRequest>(by_id.request).name(), "");
  EXPECT_EQ(ParseUsageError({"certificates", "get"}).text,
            "\"certificates get\" needs NAME or --request-id ID");
  EXPECT_EQ(ParseUsageError({"certificates", "get", "cr-1", "--request-id", "r"}).text,
            "\"certificates get\" takes NAME or --request-id ID, not both");
  EXPECT_EQ(ParseUsageError({"certificates", "get", ""}).text, "NAME must not be empty");
  EXPECT_EQ(ParseUsageError({"certificates", "get", "a", "b"}).text,
            "unexpected argument \"b\" for \"certificates get\"");
}

TEST_F(CommandLineTest, CertificatesListTakesFilters) {
  const auto invocation =
      ParseOk({"certificates", "list", "--state", "pending_approval", "--ca", "ca-1",
               "--device-id", "dev-1", "--limit", "500", "--page-token", "p2"});
  const auto& request = std::get<v1::ListCertificateRequestsRequest>(invocation.request);
  EXPECT_EQ(request.state(), v1::CertificateRequest::STATE_PENDING_APPROVAL);
  EXPECT_EQ(request.ca_id(), "ca-1");
  EXPECT_EQ(request.device_id(), "dev-1");
  EXPECT_EQ(request.page_size(), 500);
  EXPECT_EQ(request.page_token(), "p2");
  EXPECT_THAT(ParseUsageError({"certificates", "list", "--state", "DONE"}).text,
              StartsWith("--state must be one of QUEUED, "));
  EXPECT_THAT(ParseUsageError({"certificates", "list", "--state", "STATE_UNSPECIFIED"}).text,
              StartsWith("--state must be one of QUEUED, "));
  EXPECT_EQ(ParseUsageError({"certificates", "list", "--limit", "501"}).text,
            "--limit must be a whole number from 1 to 500, not \"501\"");
  EXPECT_EQ(ParseUsageError({"certificates", "list", "--limit", "0"}).text,
            "--limit must be a whole number from 1 to 500, not \"0\"");
}

TEST_F(CommandLineTest, CertificatesWatchCancelAndRevoke) {
  EXPECT_EQ(std::get<v1::WatchCertificateRequestsRequest>(
                ParseOk({"certificates", "watch", "--cursor", "c-9"}).request)
                .cursor(),
            "c-9");
  EXPECT_EQ(std::get<v1::CancelCertificateRequestRequest>(
                ParseOk({"certificates", "cancel", "cr-1"}).request)
                .name(),
            "cr-1");
  EXPECT_EQ(ParseUsageError({"certificates", "cancel"}).text,
            "\"certificates cancel\" needs NAME");
  EXPECT_EQ(ParseUsageError({"certificates", "watch", "c-9"}).text,
            "unexpected argument \"c-9\" for \"certificates watch\"");

  const auto by_name = ParseOk({"certificates", "revoke", "cr-1", "--reason", "superseded"});
  const auto& named = std::get<v1::RevokeCertificateRequest>(by_name.request);
  EXPECT_EQ(named.name(), "cr-1");
  EXPECT_EQ(named.reason(), 4);
  const auto by_serial =
      ParseOk({"certificates", "revoke", "--ca", "ca-1", "--serial", "0a:ff:01", "--reason", "6"});
  const auto& serial = std::get<v1::RevokeCertificateRequest>(by_serial.request);
  EXPECT_EQ(serial.name(), "");
  EXPECT_EQ(serial.certificate_serial().ca_id(), "ca-1");
  EXPECT_EQ(serial.certificate_serial().serial_number(), "0AFF01");
  EXPECT_EQ(serial.reason(), 6);
  EXPECT_EQ(std::get<v1::RevokeCertificateRequest>(
                ParseOk({"certificates", "revoke", "cr-1"}).request)
                .reason(),
            0);

  EXPECT_EQ(ParseUsageError({"certificates", "revoke"}).text,
            "\"certificates revoke\" needs NAME, or --ca CA_ID with --serial HEX");
  EXPECT_EQ(ParseUsageError({"certificates", "revoke", "--serial", "0A"}).text,
            "\"certificates revoke\" needs NAME, or --ca CA_ID with --serial HEX");
  EXPECT_EQ(ParseUsageError({"certificates", "revoke", "--ca", "ca-1"}).text,
            "\"certificates revoke\" needs NAME, or --ca CA_ID with --serial HEX");
  EXPECT_EQ(ParseUsageError({"certificates", "revoke", "cr-1", "--serial", "0A"}).text,
            "\"certificates revoke\" takes NAME or --ca with --serial, not both");
  EXPECT_EQ(ParseUsageError({"certificates", "revoke", "--ca", "c", "--serial", "xyz"}).text,
            "--serial must be the certificate's serial number in hex, e.g. 4F1C9A0E, not "
            "\"xyz\"");
  EXPECT_EQ(ParseUsageError({"certificates", "revoke", "--ca", "c", "--serial", "::"}).text,
            "--serial must be 1 to 40 hex digits (20 bytes), not \"::\"");
  EXPECT_THAT(ParseUsageError({"certificates", "revoke", "cr-1", "--reason", "2"}).text,
              StartsWith("--reason must be 0 unspecified, 1 key-compromise, "));
}

TEST(RevocationReasonTest, NumbersAndNamesBothWork) {
  EXPECT_EQ(*ParseRevocationReason("0"), 0);
  EXPECT_EQ(*ParseRevocationReason("unspecified"), 0);
  EXPECT_EQ(*ParseRevocationReason("Key-Compromise"), 1);
  EXPECT_EQ(*ParseRevocationReason("affiliation-changed"), 3);
  EXPECT_EQ(*ParseRevocationReason("4"), 4);
  EXPECT_EQ(*ParseRevocationReason("cessation-of-operation"), 5);
  EXPECT_EQ(*ParseRevocationReason("certificate-hold"), 6);
  for (const char* bad : {"2", "7", "8", "-1", "", "compromised"}) {
    EXPECT_EQ(ParseRevocationReason(bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(RevocationReasonName(1), "key-compromise");
  EXPECT_EQ(RevocationReasonName(9), "9");
}

TEST_F(CommandLineTest, DeliveryCertificateSetTakesTheFile) {
  const auto invocation = ParseOk({"delivery-certificate", "set", "/etc/mdm/delivery.pem"});
  EXPECT_TRUE(std::holds_alternative<v1::SetDeliveryCertificateRequest>(invocation.request));
  EXPECT_EQ(invocation.files.input, "/etc/mdm/delivery.pem");
  EXPECT_EQ(ParseUsageError({"delivery-certificate", "set"}).text,
            "\"delivery-certificate set\" needs FILE");
  EXPECT_EQ(ParseUsageError({"delivery-certificate", "get", "x"}).text,
            "unexpected argument \"x\" for \"delivery-certificate get\"");
  EXPECT_FALSE(ParseOk({"delivery-certificate", "get"}).files.has_outputs());
}

TEST_F(CommandLineTest, CertificatesHelpListsTheCommandsAndRepeatableFlags) {
  Environment empty;
  ParseResult group = ParseCommandLine({"certificates", "--help"}, empty);
  EXPECT_EQ(group.kind, ParseResult::Kind::kHelp);
  EXPECT_THAT(group.text, HasSubstr("certificates request --ca CA_ID --template NAME [flags]"));
  EXPECT_THAT(group.text, HasSubstr("certificates revoke [NAME] [flags]"));
  ParseResult request = ParseCommandLine({"certificates", "request", "-h"}, empty);
  EXPECT_EQ(request.kind, ParseResult::Kind::kHelp);
  EXPECT_THAT(request.text, HasSubstr("[--san TYPE:VALUE]..."));
  EXPECT_THAT(request.text, HasSubstr("[--label KEY=VALUE]..."));
  EXPECT_THAT(request.text, HasSubstr("its deadline is --timeout plus --wait"));
}

TEST_F(CommandLineTest, RepeatedGlobalFlagKeepsTheLastValue) {
  const auto invocation = ParseOk({"--timeout", "5", "connectors", "list", "--timeout", "7"});
  EXPECT_EQ(invocation.global.timeout, absl::Seconds(7));
}

}  // namespace
}  // namespace certbridge::ctl
