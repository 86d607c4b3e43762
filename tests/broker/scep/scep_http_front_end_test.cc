// Front-end test of the broker's SCEP listener (broker/scep/scep_http_server.h): the real
// HTTP/HTTPS server in this process, behind it an honest test ScepEnrollment that issues
// from a test CA in this process (not the broker's pipeline: the end-to-end test through
// broker, agent and emulator is tests/integration's). The clients are ones nobody here
// wrote: Debian's scepclient (micromdm/scep) and curl; the openssl command line checks what
// was issued.
#include <memory>
#include <string>
#include <thread>
#include <atomic>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "broker/scep/scep_enrollment.h"
#include "broker/scep/scep_http_server.h"
#include "common/pki/pki.h"
#include "common/pki/scep_message.h"
#include "gtest/gtest.h"
#include "tests/broker/scep/scep_front_end_test_enrollment.h"
#include "tests/common/pki/openssl_cli.h"
#include "tests/support/scep_clients.h"

namespace certbridge::broker::scep {
namespace {

using pki::testing::CommandResult;
using pki::testing::RunCommand;
using pki::testing::ScratchDir;

using testing::kChallenge;
using testing::TestCaEnrollment;
using ::certbridge::testing::ScepClientArgv;
using ::certbridge::testing::ShellLine;

class ScepHttpFrontEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ScepHttpServer>> server =
        ScepHttpServer::Start({.listen = "127.0.0.1:0"}, &enrollment_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
    ca_path_ = dir_.Write("ca.pem", enrollment_.ca().certificate().pem);
  }

  std::string Url(absl::string_view profile) const {
    return absl::StrCat("http://127.0.0.1:", server_->port(), "/scep/", profile,
                        "/pkiclient.exe");
  }

  // scepclient in a directory of its own (it keeps key.pem, csr.pem and client.pem there).
  CommandResult RunScepClient(absl::string_view profile, absl::string_view device_dir,
                              absl::string_view challenge, absl::string_view cn) {
    const std::string device = dir_.Path(device_dir);
    RunCommand(absl::StrCat("mkdir -p ", device));
    return RunCommand(absl::StrCat(
        "timeout 120 ", ShellLine(ScepClientArgv(Url(profile), absl::StrCat(device, "/key.pem"),
                                                 challenge, cn))));
  }

  // curl's status code and body for one request.
  struct HttpAnswer {
    int status = 0;
    std::string body;
    std::string output;
  };
  HttpAnswer Curl(const std::string& args) {
    const std::string out = dir_.Path("curl.out");
    CommandResult result = RunCommand(absl::StrCat("rm -f ", out, "; curl -sS --max-time 30 -o ",
                                                   out, " -w '%{http_code}' ", args));
    HttpAnswer answer;
    answer.output = result.output;
    answer.body = dir_.Read("curl.out");
    int code = 0;
    const std::string digits = result.output.substr(
        result.output.size() >= 3 ? result.output.size() - 3 : 0);
    if (absl::SimpleAtoi(digits, &code)) answer.status = code;
    return answer;
  }

  pki::ScepClientRequestParams DeviceRequest(const std::string& challenge) {
    pki::PrivateKey key = *pki::PrivateKey::Generate(pki::KeyType::kRsa2048);
    device_key_pem_ = key.ToPem();
    device_cert_pem_ = *pki::SelfSignedScepSignerPem(device_key_pem_, "CN=curl-device");
    pki::ScepClientRequestParams params;
    params.transaction_id = absl::StrCat("curl-", pki::RandomToken(8));
    params.csr = *pki::CreateCsrPem(key, {.subject = "CN=curl-device",
                                          .sans = {},
                                          .challenge_password = challenge});
    params.signer_certificate_pem = device_cert_pem_;
    params.signer_private_key_pem = device_key_pem_;
    params.recipient_certificate_pem = enrollment_.ra_certificate_pem();
    return params;
  }

  TestCaEnrollment enrollment_;
  ScratchDir dir_;
  std::unique_ptr<ScepHttpServer> server_;
  std::string ca_path_;
  std::string device_key_pem_;
  std::string device_cert_pem_;
};

TEST_F(ScepHttpFrontEndTest, GetCaCapsListsTheCapabilities) {
  HttpAnswer answer = Curl(absl::StrCat("'", Url("devices"), "?operation=GetCACaps'"));
  EXPECT_EQ(answer.status, 200) << answer.output;
  EXPECT_EQ(answer.body, "POSTPKIOperation\nSHA-256\nSHA-512\nAES\nSCEPStandard\nRenewal\n");
}

TEST_F(ScepHttpFrontEndTest, GetCaCertIsRaThenCa) {
  HttpAnswer answer = Curl(absl::StrCat("'", Url("devices"), "?operation=GetCACert'"));
  ASSERT_EQ(answer.status, 200) << answer.output;
  absl::StatusOr<std::vector<std::string>> certs = pki::ReadDegeneratePkcs7(answer.body);
  ASSERT_TRUE(certs.ok()) << certs.status();
  ASSERT_EQ(certs->size(), 2u);
  EXPECT_EQ((*certs)[0], pki::ParseCertificate(enrollment_.ra_certificate_pem())->der);
  EXPECT_EQ((*certs)[1], enrollment_.ca().certificate().der);
}

TEST_F(ScepHttpFrontEndTest, UnknownProfileOperationAndPathAreRefused) {
  EXPECT_EQ(Curl(absl::StrCat("'", Url("nope"), "?operation=GetCACaps'")).status, 404);
  EXPECT_EQ(Curl(absl::StrCat("'", Url("devices"), "?operation=GetCRL'")).status, 400);
  EXPECT_EQ(Curl(absl::StrCat("'http://127.0.0.1:", server_->port(),
                              "/other/devices/pkiclient.exe?operation=GetCACaps'"))
                .status,
            404);
  EXPECT_EQ(Curl(absl::StrCat("-X DELETE '", Url("devices"), "?operation=GetCACaps'")).status,
            405);
  // Not a SCEP message at all: no CertRep can be built.
  dir_.Write("junk.bin", "junk");
  EXPECT_EQ(Curl(absl::StrCat("--data-binary @", dir_.Path("junk.bin"), " '", Url("devices"),
                              "?operation=PKIOperation'"))
                .status,
            400);
}

TEST_F(ScepHttpFrontEndTest, OversizedMessageIsRefusedBeforeParsing) {
  dir_.Write("big.bin", std::string(pki::kMaxScepMessageBytes + 1, '\x30'));
  HttpAnswer answer = Curl(absl::StrCat("--data-binary @", dir_.Path("big.bin"), " '",
                                        Url("devices"), "?operation=PKIOperation'"));
  EXPECT_EQ(answer.status, 413) << answer.output;
  EXPECT_EQ(enrollment_.issued_count(), 0);
}

TEST_F(ScepHttpFrontEndTest, PostAndGetPkiOperationIssue) {
  pki::ScepClientRequestParams params = DeviceRequest(kChallenge);
  const std::string message = *pki::BuildScepClientRequest(params);
  dir_.Write("req.der", message);
  HttpAnswer posted = Curl(absl::StrCat("-H 'Content-Type: application/x-pki-message' ",
                                        "--data-binary @", dir_.Path("req.der"), " '",
                                        Url("devices"), "?operation=PKIOperation'"));
  ASSERT_EQ(posted.status, 200) << posted.output;
  absl::StatusOr<pki::ScepCertRep> rep = pki::ReadScepCertRep(
      posted.body, enrollment_.ra_certificate_pem(), device_cert_pem_, device_key_pem_);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->status, pki::ScepPkiStatus::kSuccess);
  EXPECT_EQ(rep->transaction_id, params.transaction_id);
  absl::StatusOr<pki::CertificateInfo> issued = pki::ParseCertificate(rep->issued_certificate_der);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(issued->subject, "CN=curl-device");

  // The same transaction by GET (base64, percent-encoded): the same certificate, not a
  // second one.
  const std::string encoded = absl::StrReplaceAll(absl::Base64Escape(message),
                                                  {{"+", "%2B"}, {"/", "%2F"}, {"=", "%3D"}});
  HttpAnswer got = Curl(absl::StrCat("'", Url("devices"), "?operation=PKIOperation&message=",
                                     encoded, "'"));
  ASSERT_EQ(got.status, 200) << got.output;
  absl::StatusOr<pki::ScepCertRep> again = pki::ReadScepCertRep(
      got.body, enrollment_.ra_certificate_pem(), device_cert_pem_, device_key_pem_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->issued_certificate_der, rep->issued_certificate_der);
  EXPECT_EQ(enrollment_.issued_count(), 1);
}

TEST_F(ScepHttpFrontEndTest, CertPollCollectsAPendingRequest) {
  pki::ScepClientRequestParams params = DeviceRequest(kChallenge);
  dir_.Write("req.der", *pki::BuildScepClientRequest(params));
  HttpAnswer first = Curl(absl::StrCat("--data-binary @", dir_.Path("req.der"), " '",
                                       Url("approval"), "?operation=PKIOperation'"));
  ASSERT_EQ(first.status, 200) << first.output;
  EXPECT_EQ(pki::ReadScepCertRep(first.body, enrollment_.ra_certificate_pem(), "", "")->status,
            pki::ScepPkiStatus::kPending);

  params.message_type = pki::ScepMessageType::kCertPoll;
  params.poll_issuer = "CN=SCEP front-end test CA";
  params.poll_subject = "CN=curl-device";
  dir_.Write("poll.der", *pki::BuildScepClientRequest(params));
  HttpAnswer polled = Curl(absl::StrCat("--data-binary @", dir_.Path("poll.der"), " '",
                                        Url("approval"), "?operation=PKIOperation'"));
  ASSERT_EQ(polled.status, 200) << polled.output;
  absl::StatusOr<pki::ScepCertRep> rep = pki::ReadScepCertRep(
      polled.body, enrollment_.ra_certificate_pem(), device_cert_pem_, device_key_pem_);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->status, pki::ScepPkiStatus::kSuccess);
  EXPECT_FALSE(rep->issued_certificate_der.empty());
}

TEST_F(ScepHttpFrontEndTest, WrongChallengeIsFailureBadRequest) {
  dir_.Write("req.der", *pki::BuildScepClientRequest(DeviceRequest("wrong")));
  HttpAnswer answer = Curl(absl::StrCat("--data-binary @", dir_.Path("req.der"), " '",
                                        Url("devices"), "?operation=PKIOperation'"));
  ASSERT_EQ(answer.status, 200) << answer.output;
  absl::StatusOr<pki::ScepCertRep> rep =
      pki::ReadScepCertRep(answer.body, enrollment_.ra_certificate_pem(), "", "");
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->status, pki::ScepPkiStatus::kFailure);
  EXPECT_EQ(rep->fail_info, pki::ScepFailInfo::kBadRequest);
  EXPECT_EQ(enrollment_.issued_count(), 0);
}

// Enveloped to the CA instead of the RA: the RA cannot open it, and says so in a CertRep the
// device can read (FAILURE badMessageCheck), not with an HTTP error.
TEST_F(ScepHttpFrontEndTest, EnvelopeTheRaCannotOpenIsFailureBadMessageCheck) {
  pki::ScepClientRequestParams params = DeviceRequest(kChallenge);
  params.recipient_certificate_pem = enrollment_.ca().certificate().pem;
  dir_.Write("req.der", *pki::BuildScepClientRequest(params));
  HttpAnswer answer = Curl(absl::StrCat("--data-binary @", dir_.Path("req.der"), " '",
                                        Url("devices"), "?operation=PKIOperation'"));
  ASSERT_EQ(answer.status, 200) << answer.output;
  absl::StatusOr<pki::ScepCertRep> rep =
      pki::ReadScepCertRep(answer.body, enrollment_.ra_certificate_pem(), "", "");
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->status, pki::ScepPkiStatus::kFailure);
  EXPECT_EQ(rep->fail_info, pki::ScepFailInfo::kBadMessageCheck);
  EXPECT_EQ(rep->transaction_id, params.transaction_id);
  EXPECT_EQ(enrollment_.issued_count(), 0);
}

// Enroll blocks its connection's thread only: while one waits for the CA, the listener
// still answers other connections; with the per-address limit reached, a further connection
// from the same address is refused instead of queueing.
TEST_F(ScepHttpFrontEndTest, BlockedEnrollmentHoldsOnlyItsConnection) {
  enrollment_.HoldEnrollments();
  dir_.Write("req.der", *pki::BuildScepClientRequest(DeviceRequest(kChallenge)));
  HttpAnswer held;
  std::thread enrolling([&] {
    CommandResult result = RunCommand(absl::StrCat(
        "curl -sS --max-time 60 -o ", dir_.Path("held.out"), " -w '%{http_code}' --data-binary @",
        dir_.Path("req.der"), " '", Url("devices"), "?operation=PKIOperation'"));
    held.output = result.output;
  });
  ASSERT_TRUE(enrollment_.WaitHeld(1));
  HttpAnswer caps = Curl(absl::StrCat("'", Url("devices"), "?operation=GetCACaps'"));
  EXPECT_EQ(caps.status, 200) << caps.output;

  absl::StatusOr<std::unique_ptr<ScepHttpServer>> one_per_address = ScepHttpServer::Start(
      {.listen = "127.0.0.1:0", .max_connections_per_address = 1}, &enrollment_);
  ASSERT_TRUE(one_per_address.ok()) << one_per_address.status();
  const std::string limited_url = absl::StrCat("http://127.0.0.1:", (*one_per_address)->port(),
                                               "/scep/devices/pkiclient.exe");
  std::thread second_held([&] {
    RunCommand(absl::StrCat("curl -sS --max-time 60 -o /dev/null --data-binary @",
                            dir_.Path("req.der"), " '", limited_url,
                            "?operation=PKIOperation'"));
  });
  ASSERT_TRUE(enrollment_.WaitHeld(2));
  HttpAnswer extra = Curl(absl::StrCat("'", limited_url, "?operation=GetCACaps'"));
  EXPECT_NE(extra.status, 200) << "a second connection from the same address was served: "
                               << extra.output;

  enrollment_.Release();
  enrolling.join();
  second_held.join();
  EXPECT_TRUE(absl::EndsWith(held.output, "200")) << held.output;
}

TEST_F(ScepHttpFrontEndTest, HttpsServesWithTheGivenCertificate) {
  const absl::Time now = absl::Now();
  pki::PrivateKey tls_key = *pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  pki::IssueParams params;
  params.csr_der = pki::ParseCsr(*pki::CreateCsrPem(
      tls_key, {.subject = "CN=localhost", .sans = {{pki::SubjectAltName::Type::kIp, "127.0.0.1"}}}))->der;
  params.not_before = now - absl::Hours(1);
  params.not_after = now + absl::Hours(24);
  params.extended_key_usages = {"1.3.6.1.5.5.7.3.1"};
  const std::string tls_cert = enrollment_.ca().Issue(params)->pem;
  absl::StatusOr<std::unique_ptr<ScepHttpServer>> https = ScepHttpServer::Start(
      {.listen = "127.0.0.1:0", .tls_certificate_pem = tls_cert,
       .tls_private_key_pem = tls_key.ToPem()},
      &enrollment_);
  ASSERT_TRUE(https.ok()) << https.status();
  EXPECT_TRUE((*https)->tls());
  HttpAnswer answer = Curl(absl::StrCat("--cacert ", ca_path_, " 'https://127.0.0.1:",
                                        (*https)->port(),
                                        "/scep/devices/pkiclient.exe?operation=GetCACaps'"));
  EXPECT_EQ(answer.status, 200) << answer.output;
  EXPECT_TRUE(absl::StrContains(answer.body, "SCEPStandard"));
}

// The broker's --scep_tls_cert_file/--scep_tls_key_file path (StartScepServer reads the
// files): scepclient enrolls over HTTPS, trusting only the test CA (Go reads SSL_CERT_FILE).
TEST_F(ScepHttpFrontEndTest, ScepClientEnrollsOverHttpsFromTheTlsFiles) {
  const absl::Time now = absl::Now();
  pki::PrivateKey tls_key = *pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  pki::IssueParams params;
  params.csr_der = pki::ParseCsr(*pki::CreateCsrPem(
      tls_key, {.subject = "CN=localhost", .sans = {{pki::SubjectAltName::Type::kIp, "127.0.0.1"}}}))->der;
  params.not_before = now - absl::Hours(1);
  params.not_after = now + absl::Hours(24);
  params.extended_key_usages = {"1.3.6.1.5.5.7.3.1"};
  const std::string cert_file = dir_.Write("tls.crt", enrollment_.ca().Issue(params)->pem);
  const std::string key_file = dir_.Write("tls.key", tls_key.ToPem());
  absl::StatusOr<std::unique_ptr<ScepHttpServer>> https = StartScepServer(
      {.listen = "127.0.0.1:0", .tls_cert_file = cert_file, .tls_key_file = key_file},
      &enrollment_);
  ASSERT_TRUE(https.ok()) << https.status();
  ASSERT_TRUE((*https)->tls());

  const std::string device = dir_.Path("https-device");
  RunCommand(absl::StrCat("mkdir -p ", device));
  const std::string url = absl::StrCat("https://127.0.0.1:", (*https)->port(),
                                       "/scep/devices/pkiclient.exe");
  CommandResult enrolled = RunCommand(absl::StrCat(
      "SSL_CERT_FILE=", ca_path_, " timeout 60 ",
      ShellLine(ScepClientArgv(url, device + "/key.pem", kChallenge, "https-device"))));
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.output;
  CommandResult verified = RunCommand(
      absl::StrCat("openssl verify -CAfile ", ca_path_, " ", device, "/client.pem"));
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_EQ(enrollment_.issued_count(), 1);

  // Without trusting the test CA, scepclient refuses the listener's certificate.
  CommandResult untrusted = RunCommand(absl::StrCat(
      "SSL_CERT_FILE=/dev/null timeout 60 ",
      ShellLine(ScepClientArgv(url, device + "/key2.pem", kChallenge, "https-device-2"))));
  EXPECT_NE(untrusted.exit_code, 0) << untrusted.output;
  EXPECT_TRUE(absl::StrContains(untrusted.output, "certificate")) << untrusted.output;
  EXPECT_EQ(enrollment_.issued_count(), 1);
}

// max_connections is global: with a limit of 1 and one connection held by an Enroll, a
// further connection is refused even though the per-address limit (32) allows it.
TEST_F(ScepHttpFrontEndTest, GlobalConnectionLimitRefusesAFurtherConnection) {
  enrollment_.HoldEnrollments();
  absl::StatusOr<std::unique_ptr<ScepHttpServer>> one_connection = ScepHttpServer::Start(
      {.listen = "127.0.0.1:0", .max_connections = 1}, &enrollment_);
  ASSERT_TRUE(one_connection.ok()) << one_connection.status();
  const std::string url = absl::StrCat("http://127.0.0.1:", (*one_connection)->port(),
                                       "/scep/devices/pkiclient.exe");
  dir_.Write("req.der", *pki::BuildScepClientRequest(DeviceRequest(kChallenge)));
  std::string held_output;
  std::thread held([&] {
    held_output = RunCommand(absl::StrCat("curl -sS --max-time 60 -o /dev/null -w '%{http_code}' "
                                          "--data-binary @", dir_.Path("req.der"), " '", url,
                                          "?operation=PKIOperation'"))
                      .output;
  });
  ASSERT_TRUE(enrollment_.WaitHeld(1));
  HttpAnswer extra = Curl(absl::StrCat("'", url, "?operation=GetCACaps'"));
  EXPECT_NE(extra.status, 200) << "a connection over the global limit was served: "
                               << extra.output;
  enrollment_.Release();
  held.join();
  EXPECT_TRUE(absl::EndsWith(held_output, "200")) << held_output;
  // With the held connection gone, the next one is served again.
  EXPECT_EQ(Curl(absl::StrCat("'", url, "?operation=GetCACaps'")).status, 200);
}

// A connection that sends nothing is closed after idle_timeout (1 s here): a client that
// only opens the socket and reads sees end of file well before the 10 s bound; with the
// default 30 s it would not.
TEST_F(ScepHttpFrontEndTest, IdleConnectionIsClosedAfterTheIdleTimeout) {
  absl::StatusOr<std::unique_ptr<ScepHttpServer>> short_idle = ScepHttpServer::Start(
      {.listen = "127.0.0.1:0", .idle_timeout = absl::Seconds(1)}, &enrollment_);
  ASSERT_TRUE(short_idle.ok()) << short_idle.status();
  CommandResult idle = RunCommand(absl::StrCat(
      "timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/", (*short_idle)->port(),
      "; cat <&3; echo closed-by-server'"));
  EXPECT_EQ(idle.exit_code, 0) << idle.output;
  EXPECT_TRUE(absl::StrContains(idle.output, "closed-by-server")) << idle.output;

  // The same idle client against the default listener is still open at the bound.
  CommandResult default_idle = RunCommand(absl::StrCat(
      "timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/", server_->port(),
      "; cat <&3; echo closed-by-server'"));
  EXPECT_EQ(default_idle.exit_code, 124) << default_idle.output;
}

TEST_F(ScepHttpFrontEndTest, ListenAddressAndTlsMaterialAreChecked) {
  EXPECT_EQ(ScepHttpServer::Start({.listen = "nonsense"}, &enrollment_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ScepHttpServer::Start({.listen = "127.0.0.1:0", .tls_certificate_pem = "x"},
                                  &enrollment_)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ScepHttpServer::Start({.listen = absl::StrCat("127.0.0.1:", server_->port())},
                                  &enrollment_)
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
}

// micromdm's scepclient: GetCACaps, GetCACert, PKCSReq with a challenge; the certificate it
// writes chains to the test CA. Then a renewal signed with that certificate.
TEST_F(ScepHttpFrontEndTest, ScepClientEnrollsAndRenews) {
  CommandResult enrolled = RunScepClient("devices", "device1", kChallenge, "device-1");
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.output;
  const std::string cert = dir_.Path("device1/client.pem");
  CommandResult verified = RunCommand(absl::StrCat("openssl verify -CAfile ", ca_path_, " ", cert));
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  CommandResult subject = RunCommand(absl::StrCat("openssl x509 -noout -subject -in ", cert));
  EXPECT_TRUE(absl::StrContains(subject.output, "CN = device-1")) << subject.output;
  EXPECT_EQ(enrollment_.issued_count(), 1);

  const std::string first = dir_.Read("device1/client.pem");
  CommandResult renewed = RunScepClient("devices", "device1", "", "device-1");
  ASSERT_EQ(renewed.exit_code, 0) << renewed.output;
  EXPECT_NE(dir_.Read("device1/client.pem"), first);
  verified = RunCommand(absl::StrCat("openssl verify -CAfile ", ca_path_, " ", cert));
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_EQ(enrollment_.issued_count(), 2);
}

TEST_F(ScepHttpFrontEndTest, ScepClientIsToldBadRequestForAWrongChallenge) {
  CommandResult refused = RunScepClient("devices", "device2", "not-the-challenge", "device-2");
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_TRUE(absl::StrContains(refused.output, "failInfo")) << refused.output;
  EXPECT_TRUE(absl::StrContains(refused.output, "badRequest") ||
              absl::StrContains(refused.output, "failInfo: 2"))
      << refused.output;
  EXPECT_EQ(enrollment_.issued_count(), 0);
}

// scepclient waits 30 s after PENDING, then asks again with the same transaction.
TEST_F(ScepHttpFrontEndTest, ScepClientWaitsThroughPendingToSuccess) {
  CommandResult enrolled = RunScepClient("approval", "device3", kChallenge, "device-3");
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.output;
  EXPECT_TRUE(absl::StrContains(enrolled.output, "PENDING")) << enrolled.output;
  CommandResult verified = RunCommand(
      absl::StrCat("openssl verify -CAfile ", ca_path_, " ", dir_.Path("device3/client.pem")));
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_EQ(enrollment_.issued_count(), 1);
}

}  // namespace
}  // namespace certbridge::broker::scep
