// adcs-emulator end to end: a real emulator process, driven through EmulatorCaBackend (the
// agent's client), the Officer API and the officer CLI; certificates and CRLs checked with
// the openssl CLI.
#include <chrono>
#include <cstdlib>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "adcsemu/v1/emulator.grpc.pb.h"
#include "agent/ca/emulator_ca_backend.h"
#include "agent/ca/test_ca.h"
#include "common/pki/pki.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/emulator/emulator_process.h"

namespace certbridge::agent {
namespace {

using ::certbridge::testing::EmulatorProcess;
using ::certbridge::testing::RunShell;
using ::certbridge::testing::ShellQuote;
using ::certbridge::testing::TempDir;
using ::certbridge::testing::WriteTextFile;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAgent[] = "CORP\\AGENT01$";
constexpr char kOtherAgent[] = "CORP\\AGENT02$";
constexpr char kSid[] = "S-1-5-21-3623811015-3361044348-30300820-1013";
// GeneralNames{otherName 1.3.6.1.4.1.311.25.2.1 [0] OCTET STRING "S-1-5-21-...-1013"},
// computed independently of common/pki/sid_extension.
constexpr char kSidExtensionHex[] =
    "303EA03C060A2B060104018237190201A02E042C532D312D352D32312D333632333831313031352D3333"
    "36313034343334382D33303330303832302D31303133";

constexpr char kConfig[] = R"pb(
  ca_host: "adcs01.corp.example"
  ca_name: "Corp Issuing CA"
  ca_kind: ENTERPRISE
  ca_enroll_identities: "CORP\\AGENT01$"
  ca_enroll_identities: "CORP\\AGENT02$"
  templates {
    cn: "WebServer" display_name: "Web Server" oid: "1.3.6.1.4.1.311.21.8.1.1"
    name_flags: 0x1 minimal_key_size: 256 validity_days: 30
    eku_oids: "1.3.6.1.5.5.7.3.1" enroll_identities: "*"
  }
  templates {
    cn: "CertbridgeMachine" display_name: "Certbridge Machine" oid: "1.3.6.1.4.1.311.21.8.1.2"
    name_flags: 0 minimal_key_size: 256 eku_oids: "1.3.6.1.5.5.7.3.2"
    enroll_identities: "CORP\\AGENT01$"
  }
  templates {
    cn: "PendingDevice" display_name: "Pending Device" oid: "1.3.6.1.4.1.311.21.8.1.3"
    name_flags: 0x1 enrollment_flags: 0x2 minimal_key_size: 256 eku_oids: "1.3.6.1.5.5.7.3.2"
    enroll_identities: "*"
  }
  templates {
    cn: "StrongKey" display_name: "Strong Key" name_flags: 0x1 minimal_key_size: 3072
    enroll_identities: "*"
  }
  templates {
    cn: "Restricted" display_name: "Restricted" name_flags: 0x1 enroll_identities: "CORP\\Someone"
  }
  directory {
    identity: "CORP\\AGENT01$" sid: "S-1-5-21-3623811015-3361044348-30300820-1013"
    common_name: "AGENT01" dns_name: "agent01.corp.example"
  }
)pb";

class EmulatorTest : public ::testing::Test {
 protected:
  void SetUp() override { StartEmulator(kConfig); }

  void StartEmulator(const std::string& config) {
    emulator_ = std::make_unique<EmulatorProcess>(config, state_.File("state"));
    ASSERT_TRUE(emulator_->Start().ok()) << emulator_->log();
    channel_ = grpc::CreateChannel(emulator_->target(), grpc::InsecureChannelCredentials());
    officer_ = adcsemu::v1::Officer::NewStub(channel_);
    agent_ = Backend(kAgent);
  }

  void RestartEmulator(const std::string& config = kConfig) {
    agent_.reset();
    officer_.reset();
    channel_.reset();
    ASSERT_EQ(emulator_->Stop(), 0);
    StartEmulator(config);
  }

  std::unique_ptr<EmulatorCaBackend> Backend(const std::string& identity) {
    auto b = EmulatorCaBackend::Create({.target = emulator_->target(),
                                        .identity = identity,
                                        .config = "adcs01.corp.example\\Corp Issuing CA",
                                        .channel = nullptr});
    EXPECT_TRUE(b.ok()) << b.status();
    return *std::move(b);
  }

  static std::string Csr(pki::KeyType type, const pki::CsrParams& params) {
    auto key = pki::PrivateKey::Generate(type);
    EXPECT_TRUE(key.ok()) << key.status();
    auto csr = pki::CreateCsrPem(*key, params);
    EXPECT_TRUE(csr.ok()) << csr.status();
    return *csr;
  }
  static std::string EcCsr(const std::string& subject = "CN=device42") {
    return Csr(pki::KeyType::kEcP256, {.subject = subject, .sans = {}});
  }

  CaResult Submit(const std::string& csr, const std::string& attributes,
                  CaBackend* backend = nullptr) {
    auto r = (backend != nullptr ? backend : agent_.get())
                 ->Submit({.csr_pem = csr, .attributes = attributes, .timeout = absl::Seconds(30)});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CaResult{};
  }

  CaResult Retrieve(int64_t id, CaBackend* backend = nullptr) {
    auto r = (backend != nullptr ? backend : agent_.get())
                 ->RetrievePending({.ca_request_id = id, .timeout = absl::Seconds(30)});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CaResult{};
  }

  // `openssl verify` against the emulator's CA certificate; returns openssl's output.
  testing::CommandResult OpensslVerify(const std::string& cert_pem) {
    const std::string path = files_.File("leaf.pem");
    WriteTextFile(path, cert_pem);
    return RunShell(absl::StrCat("openssl verify -CAfile ", ShellQuote(emulator_->ca_cert_path()),
                                   " ", ShellQuote(path)));
  }
  std::string OpensslText(const std::string& cert_pem) {
    const std::string path = files_.File("text.pem");
    WriteTextFile(path, cert_pem);
    return RunShell(absl::StrCat("openssl x509 -noout -text -in ", ShellQuote(path))).out;
  }
  std::string OpensslAsn1(const std::string& cert_pem) {
    const std::string path = files_.File("asn1.pem");
    WriteTextFile(path, cert_pem);
    return RunShell(absl::StrCat("openssl asn1parse -in ", ShellQuote(path))).out;
  }
  testing::CommandResult OfficerCli(const std::string& args) {
    return RunShell(absl::StrCat(ShellQuote(testing::BuildPath("bin/adcs-emulator")),
                                   " officer --emulator ", emulator_->target(), " ", args));
  }
  grpc::Status SetFaults(const adcsemu::v1::Faults& faults) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    adcsemu::v1::SetFaultsRequest req;
    *req.mutable_faults() = faults;
    adcsemu::v1::FaultsResponse resp;
    return officer_->SetFaults(&ctx, req, &resp);
  }

  TempDir state_;
  TempDir files_;
  std::unique_ptr<EmulatorProcess> emulator_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<adcsemu::v1::Officer::Stub> officer_;
  std::unique_ptr<EmulatorCaBackend> agent_;
};

TEST_F(EmulatorTest, IssuesSuppliedSubjectCertificateThatChainsWithEkuAndSans) {
  const std::string sid_url = absl::StrCat("tag:microsoft.com,2022-09-14:sid:", kSid);
  const std::string csr = Csr(pki::KeyType::kEcP256,
                              {.subject = "CN=device42",
                               .sans = {{pki::SubjectAltName::Type::kDns, "device42.corp.example"},
                                        {pki::SubjectAltName::Type::kUri, sid_url}}});
  CaResult r = Submit(csr, "CertificateTemplate:WebServer");
  EXPECT_EQ(r.disposition, 3);
  EXPECT_EQ(r.hresult, 0u);
  EXPECT_EQ(r.disposition_message, "Issued");
  EXPECT_GT(r.ca_request_id, 0);
  ASSERT_THAT(r.certificate_pem, HasSubstr("BEGIN CERTIFICATE"));

  testing::CommandResult verify = OpensslVerify(r.certificate_pem);
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  EXPECT_THAT(verify.out, HasSubstr(": OK"));
  const std::string text = OpensslText(r.certificate_pem);
  EXPECT_THAT(text, HasSubstr("Subject: CN = device42"));
  EXPECT_THAT(text, HasSubstr("Issuer: CN = Corp Issuing CA"));
  EXPECT_THAT(text, HasSubstr("TLS Web Server Authentication"));
  EXPECT_THAT(text, HasSubstr("DNS:device42.corp.example"));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("URI:", sid_url)));
  // Supplied-subject templates get no SID extension (the SAN URL carries the mapping).
  EXPECT_THAT(OpensslAsn1(r.certificate_pem), Not(HasSubstr(":1.3.6.1.4.1.311.25.2\n")));
  EXPECT_EQ(r.chain_pem, testing::ReadFileOrEmpty(emulator_->ca_cert_path()));
}

TEST_F(EmulatorTest, BuildFromDirectoryTemplateAddsSidExtensionAndIgnoresRequestedSubject) {
  CaResult r = Submit(EcCsr("CN=ignored"), "CertificateTemplate:CertbridgeMachine");
  ASSERT_EQ(r.disposition, 3) << r.disposition_message;
  EXPECT_EQ(OpensslVerify(r.certificate_pem).exit_code, 0);
  const std::string text = OpensslText(r.certificate_pem);
  EXPECT_THAT(text, HasSubstr("Subject: CN = AGENT01"));
  EXPECT_THAT(text, HasSubstr("DNS:agent01.corp.example"));
  EXPECT_THAT(text, HasSubstr("TLS Web Client Authentication"));
  EXPECT_THAT(text, Not(HasSubstr("ignored")));
  const std::string asn1 = OpensslAsn1(r.certificate_pem);
  const size_t oid = asn1.find(":1.3.6.1.4.1.311.25.2\n");
  ASSERT_NE(oid, std::string::npos) << asn1;
  EXPECT_THAT(asn1.substr(oid), HasSubstr(absl::StrCat("[HEX DUMP]:", kSidExtensionHex)));
}

TEST_F(EmulatorTest, PendingThenApprovedByOfficerCliThenRetrieved) {
  CaResult r = Submit(EcCsr(), "CertificateTemplate:PendingDevice");
  ASSERT_EQ(r.disposition, 5);
  EXPECT_EQ(r.disposition_message, "Taken Under Submission");
  EXPECT_EQ(r.hresult, 0u);
  EXPECT_TRUE(r.certificate_pem.empty());
  EXPECT_EQ(Retrieve(r.ca_request_id).disposition, 5);

  testing::CommandResult cli = OfficerCli(absl::StrCat("approve ", r.ca_request_id));
  ASSERT_EQ(cli.exit_code, 0) << cli.out;
  EXPECT_THAT(cli.out, HasSubstr("disposition 3 (ISSUED)"));

  CaResult retrieved = Retrieve(r.ca_request_id);
  EXPECT_EQ(retrieved.disposition, 3);
  EXPECT_EQ(retrieved.ca_request_id, r.ca_request_id);
  EXPECT_EQ(OpensslVerify(retrieved.certificate_pem).exit_code, 0);

  // Approving again is the wrong state: CERTSRV_E_BAD_REQUESTSTATUS, CLI exit 1.
  cli = OfficerCli(absl::StrCat("approve ", r.ca_request_id));
  EXPECT_EQ(cli.exit_code, 1);
  EXPECT_THAT(cli.out, HasSubstr("0x80094003"));
}

TEST_F(EmulatorTest, PendingThenDenied) {
  CaResult r = Submit(EcCsr(), "CertificateTemplate:PendingDevice");
  ASSERT_EQ(r.disposition, 5);
  grpc::ClientContext ctx;
  adcsemu::v1::RequestIdRequest req;
  req.set_request_id(r.ca_request_id);
  adcsemu::v1::CaResponse resp;
  ASSERT_TRUE(officer_->Deny(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.disposition(), 2);

  CaResult retrieved = Retrieve(r.ca_request_id);
  EXPECT_EQ(retrieved.disposition, 2);
  EXPECT_EQ(retrieved.hresult, 0x80094014u);
  EXPECT_TRUE(retrieved.certificate_pem.empty());

  grpc::ClientContext again;
  grpc::Status s = officer_->Deny(&again, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("0x80094003"));
  auto md = again.GetServerTrailingMetadata().find("x-adcsemu-hresult");
  ASSERT_NE(md, again.GetServerTrailingMetadata().end());
  EXPECT_EQ(std::string(md->second.data(), md->second.size()), "0x80094003");

  grpc::ClientContext unknown;
  req.set_request_id(999999);
  s = officer_->Deny(&unknown, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("0x80094004"));
}

TEST_F(EmulatorTest, RetrieveUnknownRequestIdIsPropertyEmpty) {
  CaResult r = Retrieve(424242);
  EXPECT_EQ(r.disposition, 1);
  EXPECT_EQ(r.hresult, 0x80094004u);
}

TEST_F(EmulatorTest, RetrievalByAnotherIdentityIsRefused) {
  CaResult r = Submit(EcCsr(), "CertificateTemplate:PendingDevice");
  ASSERT_EQ(r.disposition, 5);
  ASSERT_EQ(OfficerCli(absl::StrCat("approve ", r.ca_request_id)).exit_code, 0);
  std::unique_ptr<EmulatorCaBackend> other = Backend(kOtherAgent);
  CaResult refused = Retrieve(r.ca_request_id, other.get());
  EXPECT_EQ(refused.disposition, 1);
  EXPECT_EQ(refused.hresult, 0x80070005u);
  EXPECT_TRUE(refused.certificate_pem.empty());
  EXPECT_EQ(Retrieve(r.ca_request_id).disposition, 3);
}

TEST_F(EmulatorTest, RetrievalByAnotherIdentityAllowedWhenSwitchedOff) {
  RestartEmulator(absl::StrCat(kConfig, "\nretrieval_only_by_submitter: false\n"));
  CaResult r = Submit(EcCsr(), "CertificateTemplate:WebServer");
  ASSERT_EQ(r.disposition, 3);
  std::unique_ptr<EmulatorCaBackend> other = Backend(kOtherAgent);
  EXPECT_EQ(Retrieve(r.ca_request_id, other.get()).disposition, 3);
}

TEST_F(EmulatorTest, DisplayNameGetsUnsupportedTemplateWithDidYouMeanHint) {
  CaResult r = Submit(EcCsr(), "CertificateTemplate:Web Server");
  EXPECT_EQ(r.disposition, 2);
  EXPECT_EQ(r.hresult, 0x80094800u);
  EXPECT_GT(r.ca_request_id, 0);  // a policy denial is still logged with an id
  EXPECT_THAT(r.disposition_message,
              HasSubstr("Denied by Policy Module 0x80094800, The request was for a certificate "
                        "template that is not supported by the Active Directory Certificate "
                        "Services Policy: Web Server"));
  auto templates = agent_->ListTemplates({});
  ASSERT_TRUE(templates.ok()) << templates.status();
  std::vector<std::string> lines = ExplainCaResult(r, "Web Server", *templates);
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("CA_TEMPLATE_NOT_SUPPORTED (0x80094800")));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("Did you mean \"WebServer\"?")));
}

TEST_F(EmulatorTest, ShortKeyIsKeyLength) {
  CaResult r = Submit(Csr(pki::KeyType::kRsa2048, {.subject = "CN=weak", .sans = {}}),
                      "CertificateTemplate:StrongKey");
  EXPECT_EQ(r.disposition, 2);
  EXPECT_EQ(r.hresult, 0x80094811u);

  // An RSA-1024 request made by openssl itself.
  const std::string key = files_.File("k1024.pem"), csr = files_.File("r1024.pem");
  testing::CommandResult gen = RunShell(absl::StrCat(
      "openssl req -new -newkey rsa:1024 -nodes -subj /CN=weak -keyout ", ShellQuote(key),
      " -out ", ShellQuote(csr)));
  ASSERT_EQ(gen.exit_code, 0) << gen.out;
  r = Submit(testing::ReadFileOrEmpty(csr), "CertificateTemplate:WebServer");
  EXPECT_EQ(r.disposition, 2);
  EXPECT_EQ(r.hresult, 0x80094811u);
}

TEST_F(EmulatorTest, NoEnrollOnCaOrTemplate) {
  std::unique_ptr<EmulatorCaBackend> stranger = Backend("CORP\\Stranger$");
  CaResult r = Submit(EcCsr(), "CertificateTemplate:WebServer", stranger.get());
  EXPECT_EQ(r.disposition, 2);
  EXPECT_EQ(r.hresult, 0x80094011u);
  EXPECT_EQ(r.ca_request_id, 0);

  r = Submit(EcCsr(), "CertificateTemplate:Restricted");
  EXPECT_EQ(r.disposition, 2);
  EXPECT_EQ(r.hresult, 0x80094012u);
}

TEST_F(EmulatorTest, EnterpriseCaNeedsATemplate) {
  CaResult r = Submit(EcCsr(), "SAN:dns=x.example");
  EXPECT_EQ(r.disposition, 2);
  EXPECT_EQ(r.hresult, 0x80094801u);
}

TEST_F(EmulatorTest, TemplateAttributeNameIgnoresCaseSpacesAndHyphens) {
  CaResult r = Submit(EcCsr(), "certificate-template : WebServer");
  EXPECT_EQ(r.disposition, 3) << r.disposition_message;
}

TEST_F(EmulatorTest, RevokedSerialAppearsInCrlWithReason) {
  CaResult r = Submit(EcCsr(), "CertificateTemplate:WebServer");
  ASSERT_EQ(r.disposition, 3);
  auto cert = pki::ParseCertificate(r.certificate_pem);
  ASSERT_TRUE(cert.ok());
  auto revoked = agent_->Revoke({.serial_hex = cert->serial_hex, .reason = 1});
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_EQ(revoked->hresult, 0u);
  EXPECT_EQ(Retrieve(r.ca_request_id).disposition, 6);

  auto again = agent_->Revoke({.serial_hex = cert->serial_hex, .reason = 1});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->hresult, 0x80094003u);
  auto unknown = agent_->Revoke({.serial_hex = "0123456789ABCDEF", .reason = 1});
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->hresult, 0x80094004u);

  testing::CommandResult cli = OfficerCli("publish-crl");
  ASSERT_EQ(cli.exit_code, 0) << cli.out;
  const std::string crl = files_.File("ca.crl");
  WriteTextFile(crl, cli.out);
  testing::CommandResult text =
      RunShell(absl::StrCat("openssl crl -inform PEM -text -noout -in ", ShellQuote(crl)));
  ASSERT_EQ(text.exit_code, 0) << text.out;
  // openssl prints whole bytes: a serial whose first nibble is 0 gets its leading zero back.
  const std::string printed_serial =
      cert->serial_hex.size() % 2 == 1 ? "0" + cert->serial_hex : cert->serial_hex;
  EXPECT_THAT(text.out, HasSubstr(absl::StrCat("Serial Number: ", printed_serial)));
  EXPECT_THAT(text.out, HasSubstr("Key Compromise"));
  EXPECT_THAT(text.out, HasSubstr("X509v3 CRL Number"));
  testing::CommandResult verify = RunShell(absl::StrCat(
      "openssl crl -noout -in ", ShellQuote(crl), " -CAfile ", ShellQuote(emulator_->ca_cert_path())));
  EXPECT_THAT(verify.out, HasSubstr("verify OK"));
}

TEST_F(EmulatorTest, StateSurvivesRestart) {
  CaResult issued = Submit(EcCsr(), "CertificateTemplate:WebServer");
  CaResult pending = Submit(EcCsr(), "CertificateTemplate:PendingDevice");
  ASSERT_EQ(issued.disposition, 3);
  ASSERT_EQ(pending.disposition, 5);
  const std::string ca_before = testing::ReadFileOrEmpty(emulator_->ca_cert_path());

  RestartEmulator();

  EXPECT_EQ(testing::ReadFileOrEmpty(emulator_->ca_cert_path()), ca_before);
  CaResult again = Retrieve(issued.ca_request_id);
  EXPECT_EQ(again.disposition, 3);
  EXPECT_EQ(again.certificate_pem, issued.certificate_pem);
  EXPECT_EQ(Retrieve(pending.ca_request_id).disposition, 5);
  ASSERT_EQ(OfficerCli(absl::StrCat("approve ", pending.ca_request_id)).exit_code, 0);
  CaResult next = Submit(EcCsr(), "CertificateTemplate:WebServer");
  EXPECT_GT(next.ca_request_id, pending.ca_request_id);

  RestartEmulator();
  EXPECT_EQ(Retrieve(pending.ca_request_id).disposition, 3);
}

TEST_F(EmulatorTest, UnavailableFaultIsRpcServerUnavailable) {
  adcsemu::v1::Faults f;
  f.set_unavailable(true);
  ASSERT_TRUE(SetFaults(f).ok());
  auto r = agent_->Submit({.csr_pem = EcCsr(), .attributes = "CertificateTemplate:WebServer"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("0x800706BA"));
  auto ping = agent_->Ping({});
  EXPECT_EQ(ping.status().code(), absl::StatusCode::kUnavailable);

  testing::CommandResult cli = OfficerCli("fault clear");
  ASSERT_EQ(cli.exit_code, 0) << cli.out;
  EXPECT_TRUE(agent_->Ping({}).ok());
}

TEST_F(EmulatorTest, EmulatorDownIsUnavailableToo) {
  ASSERT_EQ(emulator_->Stop(), 0);
  auto r = agent_->Ping({.timeout = absl::Seconds(2)});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("0x800706BA"));
}

TEST_F(EmulatorTest, DenyAllFaultDeniesWithAdminDenied) {
  adcsemu::v1::Faults f;
  f.set_deny_all(true);
  ASSERT_TRUE(SetFaults(f).ok());
  CaResult r = Submit(EcCsr(), "CertificateTemplate:WebServer");
  EXPECT_EQ(r.disposition, 2);
  EXPECT_EQ(r.hresult, 0x80094014u);
}

TEST_F(EmulatorTest, LatencyFaultDelaysAnswersAndDeadlinesApply) {
  adcsemu::v1::Faults f;
  f.set_latency_ms(400);
  ASSERT_TRUE(SetFaults(f).ok());
  const absl::Time start = absl::Now();
  ASSERT_TRUE(agent_->Ping({.timeout = absl::Seconds(10)}).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(400));
  auto late = agent_->Ping({.timeout = absl::Milliseconds(100)});
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded) << late.status();
}

TEST_F(EmulatorTest, DieAfterIssueLosesTheAnswerButKeepsTheCertificate) {
  adcsemu::v1::Faults f;
  f.set_die_after_issue(true);
  ASSERT_TRUE(SetFaults(f).ok());
  auto r = agent_->Submit({.csr_pem = EcCsr(), .attributes = "CertificateTemplate:WebServer"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_EQ(emulator_->WaitForExit(30), 3);

  StartEmulator(kConfig);  // faults from the API do not persist
  grpc::ClientContext ctx;
  adcsemu::v1::ListRequestsResponse list;
  ASSERT_TRUE(officer_->ListRequests(&ctx, adcsemu::v1::ListRequestsRequest(), &list).ok());
  ASSERT_EQ(list.requests_size(), 1);
  EXPECT_EQ(list.requests(0).disposition(), 3);
  CaResult found = Retrieve(list.requests(0).request_id());
  EXPECT_EQ(found.disposition, 3);
  EXPECT_EQ(OpensslVerify(found.certificate_pem).exit_code, 0);
}

TEST_F(EmulatorTest, LostAnswerIsFoundByRequestAttributeAfterRestart) {
  adcsemu::v1::Faults f;
  f.set_die_after_issue(true);
  ASSERT_TRUE(SetFaults(f).ok());
  const std::string attributes =
      "CertificateTemplate:WebServer\nCertbridgeRequestId:tenants/t1/certificateRequests/r1";
  auto r = agent_->Submit({.csr_pem = EcCsr(), .attributes = attributes});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_EQ(emulator_->WaitForExit(30), 3);
  StartEmulator(kConfig);

  auto found = agent_->FindRequestByAttribute(
      {.attribute_name = "certbridge-request-id",  // names compare as AD CS compares them
       .attribute_value = "tenants/t1/certificateRequests/r1"});
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->disposition, 3);
  EXPECT_GT(found->ca_request_id, 0);
  EXPECT_EQ(OpensslVerify(found->certificate_pem).exit_code, 0);

  auto other_value = agent_->FindRequestByAttribute(
      {.attribute_name = "CertbridgeRequestId", .attribute_value = "tenants/t1/certificateRequests/r"});
  EXPECT_EQ(other_value.status().code(), absl::StatusCode::kNotFound) << other_value.status();
  // Another identity never sees this agent's requests.
  auto other_identity = Backend(kOtherAgent)->FindRequestByAttribute(
      {.attribute_name = "CertbridgeRequestId", .attribute_value = "tenants/t1/certificateRequests/r1"});
  EXPECT_EQ(other_identity.status().code(), absl::StatusCode::kNotFound) << other_identity.status();
}

TEST_F(EmulatorTest, FindRequestIsUnavailableWhenTheCaIs) {
  adcsemu::v1::Faults f;
  f.set_unavailable(true);
  ASSERT_TRUE(SetFaults(f).ok());
  auto found = agent_->FindRequestByAttribute(
      {.attribute_name = "CertbridgeRequestId", .attribute_value = "x"});
  EXPECT_EQ(found.status().code(), absl::StatusCode::kUnavailable) << found.status();
}

TEST_F(EmulatorTest, StandaloneCaPendsEverythingAndIgnoresTemplates) {
  RestartEmulator(R"pb(ca_host: "sa01" ca_name: "Corp Issuing CA" ca_kind: STANDALONE)pb");
  CaResult r = Submit(EcCsr(), "");
  ASSERT_EQ(r.disposition, 5);
  ASSERT_EQ(OfficerCli(absl::StrCat("approve ", r.ca_request_id)).exit_code, 0);
  CaResult issued = Retrieve(r.ca_request_id);
  EXPECT_EQ(issued.disposition, 3);
  EXPECT_THAT(OpensslText(issued.certificate_pem), HasSubstr("Subject: CN = device42"));
}

TEST_F(EmulatorTest, TestCaPassesAgainstHealthyCa) {
  std::ostringstream out;
  EXPECT_EQ(RunTestCa(*agent_, {.config = "adcs01.corp.example\\Corp Issuing CA",
                                .template_name = "WebServer"},
                      out),
            0)
      << out.str();
  EXPECT_THAT(out.str(), HasSubstr("[ok]   reach the CA"));
  EXPECT_THAT(out.str(), HasSubstr("WebServer (\"Web Server\")"));
  EXPECT_THAT(out.str(), HasSubstr("issued, request id"));
  EXPECT_THAT(out.str(), HasSubstr("all checks passed"));
}

TEST_F(EmulatorTest, TestCaExplainsDisplayNameAndHints) {
  std::ostringstream out;
  EXPECT_EQ(RunTestCa(*agent_, {.config = "", .template_name = "Web Server"}, out), 1);
  EXPECT_THAT(out.str(), HasSubstr("[FAIL] test enrollment with template \"Web Server\""));
  EXPECT_THAT(out.str(), HasSubstr("CA_TEMPLATE_NOT_SUPPORTED (0x80094800"));
  EXPECT_THAT(out.str(), HasSubstr("Did you mean \"WebServer\"?"));
}

TEST_F(EmulatorTest, TestCaExplainsMissingEnroll) {
  std::unique_ptr<EmulatorCaBackend> stranger = Backend("CORP\\Stranger$");
  std::ostringstream out;
  EXPECT_EQ(RunTestCa(*stranger, {.config = "", .template_name = "WebServer"}, out), 1);
  EXPECT_THAT(out.str(), HasSubstr("CA_ENROLL_DENIED (0x80094011"));
  EXPECT_THAT(out.str(), HasSubstr("Request Certificates"));
}

TEST_F(EmulatorTest, TestCaReportsUnreachableCa) {
  adcsemu::v1::Faults f;
  f.set_unavailable(true);
  ASSERT_TRUE(SetFaults(f).ok());
  std::ostringstream out;
  EXPECT_EQ(RunTestCa(*agent_, {.config = "", .template_name = "WebServer"}, out), 1);
  EXPECT_THAT(out.str(), HasSubstr("[FAIL] reach the CA"));
  EXPECT_THAT(out.str(), HasSubstr("CA_UNREACHABLE (0x800706BA"));
  EXPECT_THAT(out.str(), HasSubstr("135"));
}

}  // namespace
}  // namespace certbridge::agent

namespace certbridge::agent {
namespace {

TEST(EmulatorExampleConfigTest, ExampleConfigStartsAndIssues) {
  TempDir state;
  EmulatorProcess emulator(
      testing::ReadFileOrEmpty(testing::SourcePath("agent/emulator/example-config.txtpb")),
      state.File("state"));
  ASSERT_TRUE(emulator.Start().ok()) << emulator.log();
  auto backend = EmulatorCaBackend::Create(
      {.target = emulator.target(), .identity = "CORP\\AGENT01$", .config = "", .channel = nullptr});
  ASSERT_TRUE(backend.ok());
  std::ostringstream out;
  EXPECT_EQ(RunTestCa(**backend, {.config = "adcs01.corp.example\\Corp Issuing CA",
                                  .template_name = "CertbridgeDevice"},
                      out),
            0)
      << out.str();
  EXPECT_THAT(out.str(), ::testing::HasSubstr("Machine (\"Computer\")"));
}

}  // namespace
}  // namespace certbridge::agent
