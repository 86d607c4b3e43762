// The gRPC and file path of certbridgectl's certificates and delivery-certificate commands,
// end to end in one process: RunCertbridgectl against the fakes of fake_broker.h, with
// real CSRs and certificates made by common/pki.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/pki/pki.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tools/certbridgectl/fake_broker.h"
#include "tools/certbridgectl/commands.h"

namespace certbridge::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Binary on purpose (NUL, 0xFF): the files must hold the bytes exactly.
const std::string kPkcs12("0\x82\x00\x01pkcs12\xff", 11);
const std::string kEnvelopedPassword("0\x80\x00\x02cms", 7);

mode_t ModeOf(const std::filesystem::path& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

struct TestPki {
  std::unique_ptr<pki::SigningCa> ca;
  std::string csr_pem;
  pki::CertificateInfo leaf;
};

// A CA, a CSR for web01.corp.example.com and the certificate it issued for it.
TestPki MakeTestPki() {
  TestPki out;
  const absl::Time now = absl::Now();
  auto ca = pki::SigningCa::CreateSelfSigned("CN=Corp Issuing CA,O=Corp", pki::KeyType::kEcP256,
                                             now - absl::Hours(1), now + absl::Hours(48));
  EXPECT_TRUE(ca.ok()) << ca.status();
  out.ca = *std::move(ca);
  auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  EXPECT_TRUE(key.ok()) << key.status();
  auto csr = pki::CreateCsrPem(*key, {.subject = "CN=web01.corp.example.com"});
  EXPECT_TRUE(csr.ok()) << csr.status();
  out.csr_pem = *csr;
  pki::IssueParams params;
  params.csr_der = pki::ParseCsr(*csr)->der;
  params.not_before = now - absl::Minutes(5);
  params.not_after = now + absl::Hours(24);
  params.serial_hex = "4F1C9A0E";
  auto leaf = out.ca->Issue(params);
  EXPECT_TRUE(leaf.ok()) << leaf.status();
  out.leaf = *std::move(leaf);
  return out;
}

class CertificateCallTest : public fakes::BrokerCallTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(fakes::BrokerCallTest::SetUp());
    pki_ = MakeTestPki();
    std::ofstream(dir_ / "web01.csr") << pki_.csr_pem;
  }

  v1::CertificateRequest Issued() const {
    v1::CertificateRequest response;
    response.set_name("cr-81");
    response.set_request_id("r-1");
    response.set_ca_id("ca-1");
    response.set_template_name("WebServer");
    response.set_state(v1::CertificateRequest::STATE_ISSUED);
    response.set_ca_request_id(4711);
    response.set_certificate_pem(pki_.leaf.pem);
    response.set_chain_pem(pki_.ca->certificate().pem);
    response.set_serial_number(pki_.leaf.serial_hex);
    return response;
  }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  TestPki pki_;
};

TEST_F(CertificateCallTest, CsrModeSendsTheFileTheSansAndTheWait) {
  certificate_service_.set_response(Issued());
  ASSERT_EQ(Run({"certificates", "request", "--ca", "ca-1", "--template", "WebServer", "--csr",
                 Path("web01.csr"), "--san", "dns:www.corp.example.com", "--wait", "5s",
                 "--request-id", "r-1", "--out-cert", Path("web01.pem"), "--out-chain",
                 Path("chain.pem")}),
            kExitSuccess)
      << err_.str();
  const auto requests = certificate_service_.create_requests();
  ASSERT_EQ(requests.size(), 1u);
  const v1::CreateCertificateRequestRequest& sent = requests[0];
  EXPECT_EQ(sent.csr_pem(), pki_.csr_pem);
  EXPECT_FALSE(sent.has_key_generation());
  EXPECT_EQ(sent.request_id(), "r-1");
  EXPECT_EQ(sent.ca_id(), "ca-1");
  EXPECT_EQ(sent.template_name(), "WebServer");
  EXPECT_EQ(sent.wait_timeout().seconds(), 5);
  ASSERT_EQ(sent.subject_alt_names_size(), 1);
  EXPECT_EQ(sent.subject_alt_names(0).type(), v1::SubjectAltName::TYPE_DNS);
  EXPECT_EQ(sent.subject_alt_names(0).value(), "www.corp.example.com");

  // The deadline covers the broker's wait: --timeout (30 s) plus --wait (5 s). gRPC sends
  // the timeout rounded up to a few significant digits, hence the half second of slack.
  const auto received = certificate_service_.received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_GT(received[0].deadline_from_now, absl::Seconds(31));
  EXPECT_LE(received[0].deadline_from_now, absl::Milliseconds(35500));
  EXPECT_EQ(received[0].authorization, absl::StrCat("Bearer ", fakes::kApiKey));

  EXPECT_THAT(out_.str(), StartsWith("Certificate issued.\nName:"));
  EXPECT_THAT(out_.str(), HasSubstr("\nSubject:       CN=web01.corp.example.com\n"));
  EXPECT_THAT(out_.str(), HasSubstr("\nIssuer:        CN=Corp Issuing CA,O=Corp\n"));
  EXPECT_THAT(out_.str(), HasSubstr("\nCA request ID: 4711\n"));
  EXPECT_THAT(out_.str(), HasSubstr(absl::StrCat("Wrote ", Path("web01.pem"),
                                                 " (certificate, PEM)\n")));
  EXPECT_EQ(fakes::ReadAll(dir_ / "web01.pem"), pki_.leaf.pem);
  EXPECT_EQ(fakes::ReadAll(dir_ / "chain.pem"), pki_.ca->certificate().pem);
  EXPECT_EQ(ModeOf(dir_ / "web01.pem"), 0644u);
  EXPECT_EQ(ModeOf(dir_ / "chain.pem"), 0644u);
}

TEST_F(CertificateCallTest, KeyGenerationModeSendsTheKeySpecAndWritesSecretsPrivately) {
  v1::CertificateRequest response = Issued();
  response.set_pkcs12(kPkcs12);
  response.set_enveloped_password(kEnvelopedPassword);
  certificate_service_.set_response(response);
  // An existing world-readable file must not keep its mode.
  std::ofstream(dir_ / "dev.p12") << "old";
  chmod((dir_ / "dev.p12").c_str(), 0644);
  ASSERT_EQ(Run({"certificates", "request", "--ca", "ca-1", "--template", "User",
                 "--key-spec", "rsa-3072", "--subject", "CN=dev 42,O=Acme", "--san",
                 "upn:dev42@corp.example.com", "--san", "email:dev42@example.com",
                 "--pkcs12-profile", "legacy", "--sid", "S-1-5-21-1-2-3-1013", "--device-id",
                 "dev-42", "--label", "fleet=ios", "--out-pkcs12", Path("dev.p12"),
                 "--out-password-cms", Path("dev.pw.cms"), "--out-cert", Path("dev.pem")}),
            kExitSuccess)
      << err_.str();
  const auto requests = certificate_service_.create_requests();
  ASSERT_EQ(requests.size(), 1u);
  const v1::CreateCertificateRequestRequest& sent = requests[0];
  ASSERT_TRUE(sent.has_key_generation());
  EXPECT_EQ(sent.csr_pem(), "");
  EXPECT_EQ(sent.key_generation().key_spec(), v1::KEY_SPEC_RSA_3072);
  EXPECT_EQ(sent.key_generation().subject().rfc4514(), "CN=dev 42,O=Acme");
  ASSERT_EQ(sent.key_generation().subject_alt_names_size(), 2);
  EXPECT_EQ(sent.key_generation().subject_alt_names(0).type(), v1::SubjectAltName::TYPE_UPN);
  EXPECT_EQ(sent.key_generation().subject_alt_names(0).value(), "dev42@corp.example.com");
  EXPECT_EQ(sent.key_generation().subject_alt_names(1).type(), v1::SubjectAltName::TYPE_EMAIL);
  EXPECT_EQ(sent.key_generation().pkcs12_profile(), v1::PKCS12_PROFILE_LEGACY);
  EXPECT_EQ(sent.subject_alt_names_size(), 0) << "key-gen SANs go in key_generation";
  EXPECT_EQ(sent.sid(), "S-1-5-21-1-2-3-1013");
  EXPECT_EQ(sent.device_id(), "dev-42");
  EXPECT_EQ(sent.labels().at("fleet"), "ios");
  EXPECT_EQ(sent.wait_timeout().seconds(), 30) << "the default --wait";

  // No --request-id: a random UUID, printed before the call and sent.
  EXPECT_TRUE(std::regex_match(
      sent.request_id(),
      std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << sent.request_id();
  EXPECT_THAT(err_.str(), StartsWith(absl::StrCat("Request ID: ", sent.request_id(), " ")));

  EXPECT_EQ(fakes::ReadAll(dir_ / "dev.p12"), kPkcs12);
  EXPECT_EQ(fakes::ReadAll(dir_ / "dev.pw.cms"), kEnvelopedPassword);
  EXPECT_EQ(ModeOf(dir_ / "dev.p12"), 0600u);
  EXPECT_EQ(ModeOf(dir_ / "dev.pw.cms"), 0600u);
  EXPECT_EQ(ModeOf(dir_ / "dev.pem"), 0644u);
  EXPECT_THAT(out_.str(), HasSubstr("\nPKCS#12:       11 bytes,"));
}

TEST_F(CertificateCallTest, JsonModeKeepsStdoutOneDocument) {
  certificate_service_.set_response(Issued());
  ASSERT_EQ(Run({"--output", "json", "certificates", "request", "--ca", "ca-1", "--template",
                 "WebServer", "--csr", Path("web01.csr"), "--out-cert", Path("web01.pem")}),
            kExitSuccess)
      << err_.str();
  v1::CertificateRequest parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out_.str(), &parsed).ok())
      << out_.str();
  EXPECT_EQ(parsed.name(), "cr-81");
  EXPECT_THAT(err_.str(), HasSubstr("Request ID: "));
  EXPECT_THAT(err_.str(), HasSubstr("Wrote "));
}

TEST_F(CertificateCallTest, DeniedRequestExitsOneWithTheCasReason) {
  v1::CertificateRequest response = Issued();
  response.set_state(v1::CertificateRequest::STATE_DENIED);
  response.clear_certificate_pem();
  response.clear_chain_pem();
  response.clear_serial_number();
  response.set_error_code("CA_TEMPLATE_NOT_SUPPORTED");
  response.set_hresult(0x80094800u);
  response.set_disposition_message("The requested certificate template is not supported by "
                                   "this CA.");
  response.set_remedy("Publish the template on the CA (certtmpl.msc, then certsrv.msc).");
  certificate_service_.set_response(response);
  EXPECT_EQ(Run({"certificates", "request", "--ca", "ca-1", "--template", "WebServer", "--csr",
                 Path("web01.csr"), "--request-id", "r-1"}),
            kExitFailure);
  EXPECT_THAT(out_.str(), StartsWith("The CA denied the request.\n"));
  EXPECT_THAT(out_.str(), HasSubstr("\nHRESULT:       0x80094800\n"));
  EXPECT_THAT(out_.str(), HasSubstr("\nError code:    CA_TEMPLATE_NOT_SUPPORTED\n"));
}

TEST_F(CertificateCallTest, PendingRequestWritesNoFileAndExitsOne) {
  v1::CertificateRequest response = Issued();
  response.set_state(v1::CertificateRequest::STATE_PENDING_APPROVAL);
  response.clear_certificate_pem();
  response.clear_chain_pem();
  response.clear_serial_number();
  response.set_waiting_reason("a CA manager must approve it");
  certificate_service_.set_response(response);
  EXPECT_EQ(Run({"certificates", "request", "--ca", "ca-1", "--template", "WebServer", "--csr",
                 Path("web01.csr"), "--request-id", "r-1", "--out-cert", Path("web01.pem")}),
            kExitFailure);
  EXPECT_THAT(out_.str(), HasSubstr("\nWaiting for:   a CA manager must approve it\n"));
  EXPECT_THAT(out_.str(), HasSubstr("Check later: certbridgectl certificates get cr-81\n"));
  EXPECT_THAT(err_.str(), HasSubstr("--out-cert"));
  EXPECT_THAT(err_.str(), HasSubstr("PENDING_APPROVAL"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "web01.pem"));

  // Without output files, a request that is still waiting is not a failure.
  EXPECT_EQ(Run({"certificates", "request", "--ca", "ca-1", "--template", "WebServer", "--csr",
                 Path("web01.csr"), "--request-id", "r-1"}),
            kExitSuccess);
}

TEST_F(CertificateCallTest, CsrFileWithAPrivateKeyIsNeverSent) {
  std::ofstream(dir_ / "mixed.pem")
      << "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n"
      << pki_.csr_pem;
  EXPECT_EQ(Run({"certificates", "request", "--ca", "ca-1", "--template", "WebServer", "--csr",
                 Path("mixed.pem")}),
            kExitFailure);
  EXPECT_THAT(err_.str(), HasSubstr("holds a private key; nothing was sent"));
  EXPECT_THAT(err_.str(), Not(HasSubstr("MC4CAQ")));
  std::ofstream(dir_ / "junk.csr") << "hello";
  EXPECT_EQ(Run({"certificates", "request", "--ca", "ca-1", "--template", "WebServer", "--csr",
                 Path("junk.csr")}),
            kExitFailure);
  EXPECT_THAT(err_.str(), HasSubstr("is not a PKCS#10 request"));
  EXPECT_EQ(Run({"certificates", "request", "--ca", "ca-1", "--template", "WebServer", "--csr",
                 Path("missing.csr")}),
            kExitFailure);
  EXPECT_THAT(err_.str(), HasSubstr("cannot read CSR file"));
  EXPECT_TRUE(certificate_service_.received().empty());
}

TEST_F(CertificateCallTest, DerCsrIsSentAsBase64) {
  std::ofstream(dir_ / "web01.der", std::ios::binary) << pki::ParseCsr(pki_.csr_pem)->der;
  certificate_service_.set_response(Issued());
  ASSERT_EQ(Run({"certificates", "request", "--ca", "ca-1", "--template", "WebServer", "--csr",
                 Path("web01.der"), "--request-id", "r-1"}),
            kExitSuccess)
      << err_.str();
  ASSERT_EQ(certificate_service_.create_requests().size(), 1u);
  const std::string sent = certificate_service_.create_requests()[0].csr_pem();
  EXPECT_EQ(pki::ParseCsr(sent).status().code(), absl::StatusCode::kInvalidArgument)
      << "base64 text is not DER";
  std::string der;
  ASSERT_TRUE(absl::Base64Unescape(sent, &der));
  EXPECT_EQ(der, pki::ParseCsr(pki_.csr_pem)->der);
}

v1::CertificateRequestEvent Event(const std::string& cursor, const std::string& name,
                                  v1::CertificateRequest::State state) {
  v1::CertificateRequestEvent event;
  event.set_cursor(cursor);
  event.mutable_certificate_request()->set_name(name);
  event.mutable_certificate_request()->set_state(state);
  event.mutable_certificate_request()->set_ca_id("ca-1");
  event.mutable_certificate_request()->set_template_name("WebServer");
  event.mutable_certificate_request()->mutable_update_time()->set_seconds(1'800'000'000);
  return event;
}

TEST_F(CertificateCallTest, WatchPrintsOneLinePerEventUntilTheStreamEnds) {
  certificate_service_.set_watch(
      {Event("c-1", "cr-81", v1::CertificateRequest::STATE_DISPATCHED),
       Event("c-2", "cr-81", v1::CertificateRequest::STATE_ISSUED)},
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "broker shutting down"));
  EXPECT_EQ(Run({"--timeout", "1", "certificates", "watch", "--cursor", "c-0"}), kExitFailure);
  EXPECT_EQ(out_.str(),
            "2027-01-15T08:00:00Z cr-81 DISPATCHED ca=ca-1 template=WebServer cursor=c-1\n"
            "2027-01-15T08:00:00Z cr-81 ISSUED ca=ca-1 template=WebServer cursor=c-2\n");
  EXPECT_EQ(err_.str(),
            "error: UNAVAILABLE: broker shutting down\n"
            "Last cursor: c-2\n"
            "Resume with: certbridgectl certificates watch --cursor c-2\n");
  const auto received = certificate_service_.received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].registration_code, "c-0") << "the cursor is sent";
  EXPECT_EQ(received[0].deadline_from_now, absl::InfiniteDuration())
      << "a watch has no deadline, whatever --timeout says";
}

TEST_F(CertificateCallTest, WatchInJsonPrintsOneObjectPerLine) {
  certificate_service_.set_watch({Event("c-1", "cr-81", v1::CertificateRequest::STATE_QUEUED),
                                  Event("c-2", "cr-82", v1::CertificateRequest::STATE_FAILED)},
                                 grpc::Status::OK);
  EXPECT_EQ(Run({"--output", "json", "certificates", "watch"}), kExitSuccess) << err_.str();
  std::vector<std::string> lines = absl::StrSplit(out_.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << out_.str();
  v1::CertificateRequestEvent second;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(lines[1], &second).ok()) << lines[1];
  EXPECT_EQ(second.cursor(), "c-2");
  EXPECT_EQ(second.certificate_request().state(), v1::CertificateRequest::STATE_FAILED);
  EXPECT_THAT(err_.str(), HasSubstr("--cursor c-2"));
}

TEST_F(CertificateCallTest, InterruptedWatchExitsZeroWithTheCursor) {
  certificate_service_.set_watch({Event("c-1", "cr-81", v1::CertificateRequest::STATE_QUEUED)},
                                 grpc::Status::OK);
  certificate_service_.set_watch_waits_for_cancel();
  Interrupter interrupter;
  int exit_code = -1;
  std::ostringstream out, err;
  std::thread watch([&] {
    exit_code = RunCertbridgectl(FullArgs({"certificates", "watch"}), env_, clock_, out, err,
                                 &interrupter);
  });
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (certificate_service_.events_written() < 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(certificate_service_.events_written(), 1);
  interrupter.Interrupt();  // What main() does on SIGINT.
  watch.join();
  EXPECT_EQ(exit_code, kExitSuccess) << err.str();
  EXPECT_THAT(err.str(), StartsWith("Interrupted."));
}

TEST_F(CertificateCallTest, InterruptBeforeTheWatchStartsEndsItAtOnce) {
  certificate_service_.set_watch_waits_for_cancel();
  Interrupter interrupter;
  interrupter.Interrupt();
  EXPECT_EQ(Run({"certificates", "watch"}, &interrupter), kExitSuccess);
  EXPECT_THAT(err_.str(), StartsWith("Interrupted. No event was received"));
}

TEST_F(CertificateCallTest, RevokeBySerialSendsCaSerialAndReason) {
  v1::CertificateRequest response = Issued();
  response.set_state(v1::CertificateRequest::STATE_REVOKED);
  response.set_revocation_reason(v1::REVOCATION_REASON_KEY_COMPROMISE);
  certificate_service_.set_response(response);
  ASSERT_EQ(Run({"certificates", "revoke", "--ca", "ca-1", "--serial", "4f:1c:9a:0e",
                 "--reason", "key-compromise"}),
            kExitSuccess)
      << err_.str();
  const auto revokes = certificate_service_.revoke_requests();
  ASSERT_EQ(revokes.size(), 1u);
  EXPECT_EQ(revokes[0].name(), "");
  EXPECT_EQ(revokes[0].certificate_serial().ca_id(), "ca-1");
  EXPECT_EQ(revokes[0].certificate_serial().serial_number(), "4F1C9A0E");
  EXPECT_EQ(revokes[0].reason(), 1);
  EXPECT_THAT(out_.str(), StartsWith("Revoked certificate 4F1C9A0E (request cr-81).\n"));
  EXPECT_THAT(out_.str(), HasSubstr("(key-compromise)"));
  ASSERT_EQ(certificate_service_.received().size(), 1u);
  EXPECT_LE(certificate_service_.received()[0].deadline_from_now, absl::Milliseconds(30500))
      << "--timeout alone: only request adds --wait";
}

TEST_F(CertificateCallTest, GetWritesTheCertificateOfAnIssuedRequest) {
  certificate_service_.set_response(Issued());
  ASSERT_EQ(Run({"certificates", "get", "cr-81", "--out-cert", Path("later.pem")}),
            kExitSuccess)
      << err_.str();
  EXPECT_EQ(fakes::ReadAll(dir_ / "later.pem"), pki_.leaf.pem);
  EXPECT_THAT(out_.str(), StartsWith("Name:"));
  ASSERT_EQ(certificate_service_.received().size(), 1u);
  EXPECT_EQ(certificate_service_.received()[0].method, "GetCertificateRequest");
}

TEST_F(CertificateCallTest, DeliveryCertificateSetSendsTheCertificateOnly) {
  std::ofstream(dir_ / "delivery.pem") << pki_.leaf.pem;
  ASSERT_EQ(Run({"delivery-certificate", "set", Path("delivery.pem")}), kExitSuccess)
      << err_.str();
  EXPECT_EQ(admin_service_.delivery_certificate_pem(), pki_.leaf.pem);
  EXPECT_THAT(out_.str(), StartsWith("Set the delivery certificate.\nSubject:"));

  std::ofstream(dir_ / "with-key.pem") << pki_.leaf.pem << pki_.ca->KeyPem();
  EXPECT_EQ(Run({"delivery-certificate", "set", Path("with-key.pem")}), kExitFailure);
  EXPECT_THAT(err_.str(), HasSubstr("holds a private key; nothing was sent"));
  EXPECT_EQ(admin_service_.received().size(), 1u);
}

}  // namespace
}  // namespace certbridge::ctl
