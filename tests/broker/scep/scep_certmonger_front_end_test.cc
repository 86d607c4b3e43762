// Front-end test of the broker's SCEP listener (broker/scep/scep_http_server.h) with
// certmonger, the second SCEP client nobody here wrote (docs/operations.md, "Verified
// clients"). Behind the listener is the same honest test enrollment as
// scep_http_front_end_test's (a CA in this process).
//
// certmonger's helper scep-submit is only the transport: it sends a pkiMessage that the
// certmonger daemon built (CERTMONGER_PKCSREQ / CERTMONGER_GETCERTINITIAL) and hands the
// still-enveloped reply back to the daemon, which holds the key. So GetCACaps and GetCACert
// are run through scep-submit on its own, and enrollments through the real daemon: a
// certmonger on a private D-Bus session bus (dbus-run-session), its state in this test's
// scratch directory, driven with getcert.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "broker/scep/scep_http_server.h"
#include "common/pki/pki.h"
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
using ::certbridge::testing::CertmongerDaemonLine;
using ::certbridge::testing::CertmongerScriptPrologue;
using ::certbridge::testing::CertmongerStateDirs;
using ::certbridge::testing::ShellLine;

constexpr char kScepSubmit[] = "/usr/lib/certmonger/scep-submit";

class ScepCertmongerFrontEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ScepHttpServer>> server =
        ScepHttpServer::Start({.listen = "127.0.0.1:0"}, &enrollment_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ca_path_ = dir_.Write("ca.pem", enrollment_.ca().certificate().pem);
  }

  std::string Url(absl::string_view profile) const {
    return absl::StrCat("http://127.0.0.1:", server_->port(), "/scep/", profile,
                        "/pkiclient.exe");
  }

  // Runs `script` (bash) under a certmonger daemon of its own: a private session bus, and
  // every directory certmonger keeps state in under this test's scratch directory, so
  // nothing of the machine's certmonger (if any) is read or changed. The daemon exits when
  // the script does. The script starts with `ca_url` registered as the SCEP CA "testca".
  CommandResult RunUnderCertmonger(absl::string_view ca_url, absl::string_view script) {
    const std::string state = dir_.Path("certmonger");
    std::vector<std::string> mkdir = {"mkdir", "-p"};
    for (std::string& d : CertmongerStateDirs(state)) mkdir.push_back(std::move(d));
    RunCommand(ShellLine(mkdir));
    const std::string script_path = dir_.Write(
        "certmonger-script.sh", absl::StrCat(CertmongerScriptPrologue(ca_url), script));
    return RunCommand(CertmongerDaemonLine(state, script_path, /*timeout_seconds=*/60));
  }

  // A bash function for the scripts: waits (at most 20 s) until request $1's status is $2.
  static std::string WaitForStatusFunction() {
    return "wait_status() {\n"
           "  local deadline=$((SECONDS + 20))\n"
           "  while [ $SECONDS -lt $deadline ]; do\n"
           "    getcert list -s -i \"$1\" | grep -q \"status: $2$\" && return 0\n"
           "    sleep 0.2\n"
           "  done\n"
           "  echo \"request $1 never reached $2\"; getcert list -s -i \"$1\"; return 1\n"
           "}\n";
  }

  CommandResult Verify(const std::string& cert_path) {
    return RunCommand(absl::StrCat("openssl verify -CAfile ", ca_path_, " ", cert_path));
  }

  TestCaEnrollment enrollment_;
  ScratchDir dir_;
  std::unique_ptr<ScepHttpServer> server_;
  std::string ca_path_;
};

TEST_F(ScepCertmongerFrontEndTest, ScepSubmitReadsCapabilitiesAndCaCertificates) {
  CommandResult caps =
      RunCommand(absl::StrCat("timeout 30 ", kScepSubmit, " -u '", Url("devices"), "' -c"));
  ASSERT_EQ(caps.exit_code, 0) << caps.output;
  for (absl::string_view capability :
       {"POSTPKIOperation", "SHA-256", "SHA-512", "AES", "SCEPStandard", "Renewal"}) {
    EXPECT_TRUE(absl::StrContains(caps.output, capability)) << capability << caps.output;
  }

  // -C prints the RA certificate, then the CA certificate.
  CommandResult certs =
      RunCommand(absl::StrCat("timeout 30 ", kScepSubmit, " -u '", Url("devices"), "' -C"));
  ASSERT_EQ(certs.exit_code, 0) << certs.output;
  const size_t ra_at = certs.output.find(enrollment_.ra_certificate_pem());
  const size_t ca_at = certs.output.find(enrollment_.ca().certificate().pem);
  ASSERT_NE(ra_at, std::string::npos) << certs.output;
  ASSERT_NE(ca_at, std::string::npos) << certs.output;
  EXPECT_LT(ra_at, ca_at) << certs.output;

  CommandResult unknown =
      RunCommand(absl::StrCat("timeout 30 ", kScepSubmit, " -u '", Url("nope"), "' -C"));
  EXPECT_NE(unknown.exit_code, 0) << unknown.output;
}

// One certmonger daemon (its start-up costs ~4 s) for the right and a wrong challenge.
TEST_F(ScepCertmongerFrontEndTest, CertmongerEnrollsAndIsToldOfAFailure) {
  const std::string cert = dir_.Path("device1.crt");
  CommandResult run = RunUnderCertmonger(
      Url("devices"),
      absl::StrCat(WaitForStatusFunction(),
                   "getcert request -s -w -c testca -I device1 -f ", cert, " -k ",
                   dir_.Path("device1.key"), " -L '", kChallenge, "' -N CN=cm-device-1\n",
                   "getcert list -s -i device1\n",
                   "getcert request -s -c testca -I device3 -f ", dir_.Path("device3.crt"),
                   " -k ", dir_.Path("device3.key"),
                   " -L not-the-challenge -N CN=cm-device-3 || exit 91\n",
                   "wait_status device3 CA_REJECTED || exit 92\n",
                   "getcert list -s -i device3\n"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "status: MONITORING")) << run.output;
  CommandResult verified = Verify(cert);
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  CommandResult subject = RunCommand(absl::StrCat("openssl x509 -noout -subject -in ", cert));
  EXPECT_TRUE(absl::StrContains(subject.output, "CN = cm-device-1")) << subject.output;

  // The wrong challenge: FAILURE badRequest, which certmonger shows as CA_REJECTED with the
  // CA's error; nothing issued for it.
  EXPECT_TRUE(absl::StrContains(run.output, "status: CA_REJECTED")) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "ca-error:")) << run.output;
  EXPECT_TRUE(dir_.Read("device3.crt").empty());
  EXPECT_EQ(enrollment_.issued_count(), 1);
}

// The "approval" profile answers PENDING first; certmonger keeps the request in CA_WORKING
// and, asked to refresh, asks again: certmonger 0.79 resends its PKCSReq with the same
// transactionID (the broker's log shows messageType 19 both times, not CertPoll's 20),
// which the front end answers from the same transaction: one certificate.
TEST_F(ScepCertmongerFrontEndTest, CertmongerCollectsAPendingRequestByPolling) {
  const std::string cert = dir_.Path("device2.crt");
  CommandResult run = RunUnderCertmonger(
      Url("approval"),
      absl::StrCat(WaitForStatusFunction(), "getcert request -s -c testca -I device2 -f ", cert,
                   " -k ", dir_.Path("device2.key"), " -L '", kChallenge,
                   "' -N CN=cm-device-2 || exit 91\n",
                   "wait_status device2 CA_WORKING || exit 92\n",
                   "echo PENDING-SEEN\n",
                   "getcert refresh -s -i device2 || exit 93\n",
                   "wait_status device2 MONITORING || exit 94\n",
                   "getcert list -s -i device2\n"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "PENDING-SEEN")) << run.output;
  CommandResult verified = Verify(cert);
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_EQ(enrollment_.issued_count(), 1);
}

}  // namespace
}  // namespace certbridge::broker::scep
