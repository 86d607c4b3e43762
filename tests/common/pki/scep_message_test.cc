// The SCEP message layer (common/pki/scep_message.h): a device's PKCSReq/RenewalReq/CertPoll
// opened by the RA, CertRep read back by the device, GetCACert's certificate bag; the openssl
// command line as an independent reader of what we write.
#include "common/pki/scep_message.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/pki/pki.h"
#include "gtest/gtest.h"
#include "tests/common/pki/openssl_cli.h"

namespace certbridge::pki {
namespace {

using testing::RunCommand;
using testing::ScratchDir;

constexpr char kTestCaName[] = "certbridge SCEP test CA";

// A CA, an RA certificate it issued (RSA: SCEP clients envelope with RSA key transport) and
// a device with a key, a CSR carrying a challenge, and a self-signed signer certificate.
class ScepMessageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shared_ = new Shared;
    const absl::Time now = absl::Now();
    shared_->ca = *SigningCa::CreateSelfSigned(absl::StrCat("CN=", kTestCaName), KeyType::kRsa2048,
                                                now - absl::Hours(1), now + absl::Hours(24));
    shared_->ra = MakeRa(*shared_->ca, "CN=certbridge SCEP RA");
    shared_->other_ra = MakeRa(*shared_->ca, "CN=another RA");
    PrivateKey device_key = *PrivateKey::Generate(KeyType::kRsa2048);
    shared_->device_key_pem = device_key.ToPem();
    shared_->csr_pem = *CreateCsrPem(device_key, {.subject = "CN=device-42,O=Example",
                                                  .sans = {},
                                                  .challenge_password = "s3cret-challenge"});
    shared_->device_cert_pem = *SelfSignedScepSignerPem(shared_->device_key_pem, "CN=device-42");
  }
  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }

  static ScepRaCredentials MakeRa(const SigningCa& ca, const std::string& subject) {
    PrivateKey key = *PrivateKey::Generate(KeyType::kRsa2048);
    std::string csr = *CreateCsrPem(key, {.subject = subject});
    IssueParams params;
    params.csr_der = ParseCsr(csr)->der;
    params.not_before = absl::Now() - absl::Hours(1);
    params.not_after = absl::Now() + absl::Hours(24);
    CertificateInfo cert = *ca.Issue(params);
    return ScepRaCredentials{cert.pem, key.ToPem()};
  }

  ScepClientRequestParams PkcsReq() const {
    ScepClientRequestParams params;
    params.message_type = ScepMessageType::kPkcsReq;
    params.transaction_id = "2F3A9C0D11E2";
    params.sender_nonce = std::string("0123456789abcdef");
    params.csr = shared_->csr_pem;
    params.signer_certificate_pem = shared_->device_cert_pem;
    params.signer_private_key_pem = shared_->device_key_pem;
    params.recipient_certificate_pem = shared_->ra.certificate_pem;
    return params;
  }

  std::string IssueForDevice() const {
    IssueParams params;
    params.csr_der = ParseCsr(shared_->csr_pem)->der;
    params.not_before = absl::Now() - absl::Hours(1);
    params.not_after = absl::Now() + absl::Hours(24);
    return shared_->ca->Issue(params)->der;
  }

  struct Shared {
    std::unique_ptr<SigningCa> ca;
    ScepRaCredentials ra;
    ScepRaCredentials other_ra;
    std::string device_key_pem;
    std::string device_cert_pem;
    std::string csr_pem;
  };
  static Shared* shared_;
};

ScepMessageTest::Shared* ScepMessageTest::shared_ = nullptr;

TEST_F(ScepMessageTest, PkcsReqOpensWithTheRaKey) {
  absl::StatusOr<std::string> message = BuildScepClientRequest(PkcsReq());
  ASSERT_TRUE(message.ok()) << message.status();
  absl::StatusOr<ScepRequest> request = OpenScepRequest(*message, shared_->ra);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_TRUE(request->content_status.ok()) << request->content_status;
  EXPECT_EQ(request->message_type, ScepMessageType::kPkcsReq);
  EXPECT_EQ(request->transaction_id, "2F3A9C0D11E2");
  EXPECT_EQ(request->sender_nonce, "0123456789abcdef");
  EXPECT_EQ(request->csr_der, ParseCsr(shared_->csr_pem)->der);
  EXPECT_EQ(request->challenge_password, "s3cret-challenge");
  EXPECT_EQ(request->signer_certificate_der, ParseCertificate(shared_->device_cert_pem)->der);
  EXPECT_EQ(request->content_cipher, "AES-128-CBC");
}

TEST_F(ScepMessageTest, RenewalReqAndEveryAcceptedCipherOpen) {
  for (const char* cipher : {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC", "DES-EDE3-CBC"}) {
    ScepClientRequestParams params = PkcsReq();
    params.message_type = ScepMessageType::kRenewalReq;
    params.content_cipher = cipher;
    absl::StatusOr<ScepRequest> request =
        OpenScepRequest(*BuildScepClientRequest(params), shared_->ra);
    ASSERT_TRUE(request.ok()) << cipher << ": " << request.status();
    EXPECT_TRUE(request->content_status.ok()) << cipher << ": " << request->content_status;
    EXPECT_EQ(request->message_type, ScepMessageType::kRenewalReq);
    EXPECT_EQ(request->content_cipher, cipher);
    EXPECT_FALSE(request->csr_der.empty());
  }
}

TEST_F(ScepMessageTest, ClientRefusesACipherOutsideTheAcceptedSet) {
  ScepClientRequestParams params = PkcsReq();
  params.content_cipher = "DES-CBC";
  EXPECT_EQ(BuildScepClientRequest(params).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ScepMessageTest, CertPollCarriesIssuerAndSubject) {
  ScepClientRequestParams params = PkcsReq();
  params.message_type = ScepMessageType::kCertPoll;
  params.poll_issuer = absl::StrCat("CN=", kTestCaName);
  params.poll_subject = "CN=device-42,O=Example";
  absl::StatusOr<ScepRequest> request = OpenScepRequest(*BuildScepClientRequest(params), shared_->ra);
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_TRUE(request->content_status.ok()) << request->content_status;
  EXPECT_EQ(request->message_type, ScepMessageType::kCertPoll);
  EXPECT_TRUE(request->csr_der.empty());
  // Name DER: a SEQUENCE holding the CN's printable bytes.
  EXPECT_EQ(request->poll_issuer_name_der[0], '\x30');
  EXPECT_NE(request->poll_issuer_name_der.find(kTestCaName), std::string::npos);
  EXPECT_NE(request->poll_subject_name_der.find("device-42"), std::string::npos);
}

TEST_F(ScepMessageTest, EnvelopeForAnotherRaIsBadMessageCheckWithTheFieldsKept) {
  absl::StatusOr<ScepRequest> request =
      OpenScepRequest(*BuildScepClientRequest(PkcsReq()), shared_->other_ra);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->content_status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(request->content_fail_info, ScepFailInfo::kBadMessageCheck);
  EXPECT_EQ(request->transaction_id, "2F3A9C0D11E2");
  EXPECT_EQ(request->sender_nonce, "0123456789abcdef");
  EXPECT_TRUE(request->csr_der.empty());
}

TEST_F(ScepMessageTest, AlteredSignedContentIsUnauthenticated) {
  std::string message = *BuildScepClientRequest(PkcsReq());
  // The CA's name appears once: in the envelope's recipient (issuer and serial of the RA
  // certificate), inside the signed content.
  const size_t at = message.find(kTestCaName);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(message.find(kTestCaName, at + 1), std::string::npos);
  message[at] ^= 0x01;
  absl::StatusOr<ScepRequest> request = OpenScepRequest(message, shared_->ra);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->content_status.code(), absl::StatusCode::kUnauthenticated)
      << request->content_status;
  EXPECT_EQ(request->content_fail_info, ScepFailInfo::kBadMessageCheck);
}

TEST_F(ScepMessageTest, MalformedAndOversizedInputIsInvalidArgument) {
  EXPECT_EQ(OpenScepRequest("", shared_->ra).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenScepRequest("not DER at all", shared_->ra).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::string message = *BuildScepClientRequest(PkcsReq());
  EXPECT_EQ(OpenScepRequest(message.substr(0, message.size() - 1), shared_->ra).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenScepRequest(message + "x", shared_->ra).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string huge(kMaxScepMessageBytes + 1, '\x30');
  absl::Status status = OpenScepRequest(huge, shared_->ra).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("at most 65536"), std::string::npos) << status;
}

TEST_F(ScepMessageTest, CertRepIsNotAcceptedAsARequest) {
  absl::StatusOr<std::string> rep = BuildScepCertRep(
      {.status = ScepPkiStatus::kPending, .transaction_id = "t", .recipient_nonce = "n"},
      shared_->ra);
  ASSERT_TRUE(rep.ok()) << rep.status();
  absl::Status status = OpenScepRequest(*rep, shared_->ra).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("messageType 3"), std::string::npos) << status;
}

TEST_F(ScepMessageTest, SuccessCertRepDeliversTheCertificateToTheDevice) {
  ScepRequest request = *OpenScepRequest(*BuildScepClientRequest(PkcsReq()), shared_->ra);
  const std::string issued = IssueForDevice();
  absl::StatusOr<std::string> rep =
      BuildScepCertRep({.status = ScepPkiStatus::kSuccess,
                        .transaction_id = request.transaction_id,
                        .recipient_nonce = request.sender_nonce,
                        .issued_certificate_der = issued,
                        .recipient_certificate_der = request.signer_certificate_der,
                        .content_cipher = request.content_cipher},
                       shared_->ra);
  ASSERT_TRUE(rep.ok()) << rep.status();
  absl::StatusOr<ScepCertRep> read = ReadScepCertRep(*rep, shared_->ra.certificate_pem,
                                                     shared_->device_cert_pem,
                                                     shared_->device_key_pem);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->status, ScepPkiStatus::kSuccess);
  EXPECT_EQ(read->transaction_id, "2F3A9C0D11E2");
  EXPECT_EQ(read->recipient_nonce, "0123456789abcdef");
  EXPECT_EQ(read->sender_nonce.size(), 16u);
  EXPECT_NE(read->sender_nonce, request.sender_nonce);
  EXPECT_EQ(read->issued_certificate_der, issued);
}

TEST_F(ScepMessageTest, PendingAndFailureCertRepCarryStatusAndFailInfo) {
  absl::StatusOr<ScepCertRep> pending = ReadScepCertRep(
      *BuildScepCertRep({.status = ScepPkiStatus::kPending,
                         .transaction_id = "tx-1",
                         .recipient_nonce = "nonce-1"},
                        shared_->ra),
      shared_->ra.certificate_pem, "", "");
  ASSERT_TRUE(pending.ok()) << pending.status();
  EXPECT_EQ(pending->status, ScepPkiStatus::kPending);
  EXPECT_EQ(pending->transaction_id, "tx-1");
  EXPECT_EQ(pending->recipient_nonce, "nonce-1");
  EXPECT_TRUE(pending->issued_certificate_der.empty());

  for (ScepFailInfo info : {ScepFailInfo::kBadAlg, ScepFailInfo::kBadMessageCheck,
                            ScepFailInfo::kBadRequest, ScepFailInfo::kBadTime,
                            ScepFailInfo::kBadCertId}) {
    absl::StatusOr<ScepCertRep> failure = ReadScepCertRep(
        *BuildScepCertRep({.status = ScepPkiStatus::kFailure,
                           .transaction_id = "tx-2",
                           .recipient_nonce = "nonce-2",
                           .fail_info = info},
                          shared_->ra),
        shared_->ra.certificate_pem, "", "");
    ASSERT_TRUE(failure.ok()) << failure.status();
    EXPECT_EQ(failure->status, ScepPkiStatus::kFailure);
    EXPECT_EQ(failure->fail_info, info);
  }
}

TEST_F(ScepMessageTest, CertRepFromAnotherRaIsUnauthenticated) {
  std::string rep = *BuildScepCertRep(
      {.status = ScepPkiStatus::kPending, .transaction_id = "t", .recipient_nonce = "n"},
      shared_->other_ra);
  EXPECT_EQ(ReadScepCertRep(rep, shared_->ra.certificate_pem, "", "").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(ScepMessageTest, CertRepNeedsTransactionAndNonce) {
  EXPECT_EQ(BuildScepCertRep({.status = ScepPkiStatus::kPending}, shared_->ra).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ScepMessageTest, CaCertificatesListRaThenChain) {
  absl::StatusOr<std::string> bag =
      BuildScepCaCertificates(shared_->ra.certificate_pem, {shared_->ca->certificate().pem});
  ASSERT_TRUE(bag.ok()) << bag.status();
  absl::StatusOr<std::vector<std::string>> certs = ReadDegeneratePkcs7(*bag);
  ASSERT_TRUE(certs.ok()) << certs.status();
  ASSERT_EQ(certs->size(), 2u);
  EXPECT_EQ((*certs)[0], ParseCertificate(shared_->ra.certificate_pem)->der);
  EXPECT_EQ((*certs)[1], shared_->ca->certificate().der);

  ScratchDir dir;
  const std::string path = dir.Write("bag.p7b", *bag);
  testing::CommandResult printed =
      RunCommand(absl::StrCat("openssl pkcs7 -inform DER -in ", path, " -print_certs"));
  ASSERT_EQ(printed.exit_code, 0) << printed.output;
  EXPECT_NE(printed.output.find("subject=CN = certbridge SCEP RA"), std::string::npos)
      << printed.output;
  EXPECT_NE(printed.output.find(absl::StrCat("subject=CN = ", kTestCaName)), std::string::npos);
}

// openssl cms reads what a device sends: the signature verifies and the RA key decrypts the
// envelope to the CSR we put in.
TEST_F(ScepMessageTest, OpensslVerifiesAndDecryptsOurPkcsReq) {
  ScratchDir dir;
  const std::string message = dir.Write("req.p7", *BuildScepClientRequest(PkcsReq()));
  const std::string ra_cert = dir.Write("ra.pem", shared_->ra.certificate_pem);
  const std::string ra_key = dir.Write("ra.key", shared_->ra.private_key_pem);
  testing::CommandResult verified = RunCommand(absl::StrCat(
      "openssl cms -verify -noverify -binary -inform DER -in ", message, " -out ",
      dir.Path("envelope.der")));
  ASSERT_EQ(verified.exit_code, 0) << verified.output;
  testing::CommandResult decrypted = RunCommand(absl::StrCat(
      "openssl cms -decrypt -binary -inform DER -in ", dir.Path("envelope.der"), " -recip ",
      ra_cert, " -inkey ", ra_key, " -out ", dir.Path("csr.der")));
  ASSERT_EQ(decrypted.exit_code, 0) << decrypted.output;
  EXPECT_EQ(dir.Read("csr.der"), ParseCsr(shared_->csr_pem)->der);
}

}  // namespace
}  // namespace certbridge::pki
