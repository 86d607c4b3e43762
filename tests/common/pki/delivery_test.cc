#include "common/pki/delivery.h"

#include <memory>
#include <string>

#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "absl/time/clock.h"
#include "common/pki/pki.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/pki/openssl_cli.h"

namespace certbridge::pki {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A device key with its certificate from a throw-away root; chain_pem is leaf + root.
struct Issued {
  std::unique_ptr<SigningCa> root;
  PrivateKey key;
  std::string chain_pem;
  std::string leaf_pem;
};

Issued IssueFor(KeyType type) {
  absl::Time now = absl::Now();
  absl::StatusOr<std::unique_ptr<SigningCa>> root = SigningCa::CreateSelfSigned(
      "CN=Delivery Test Root", KeyType::kEcP256, now - absl::Hours(1), now + absl::Hours(48));
  EXPECT_TRUE(root.ok()) << root.status();
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(type);
  EXPECT_TRUE(key.ok()) << key.status();
  absl::StatusOr<std::string> csr = CreateCsrPem(*key, {.subject = "CN=device 42"});
  EXPECT_TRUE(csr.ok()) << csr.status();
  absl::StatusOr<CsrInfo> info = ParseCsr(*csr);
  EXPECT_TRUE(info.ok()) << info.status();
  IssueParams params;
  params.csr_der = info->der;
  params.not_before = now - absl::Minutes(5);
  params.not_after = now + absl::Hours(24);
  params.extended_key_usages = {"1.3.6.1.5.5.7.3.2"};
  absl::StatusOr<CertificateInfo> cert = (*root)->Issue(params);
  EXPECT_TRUE(cert.ok()) << cert.status();
  std::string leaf_pem = cert->pem;
  std::string chain = leaf_pem + (*root)->certificate().pem;
  return Issued{*std::move(root), *std::move(key), chain, leaf_pem};
}

struct ProfileCase {
  Pkcs12Profile profile;
  const char* cli_flags;
  const char* mac_line;
  const char* cipher_line;
};

class Pkcs12Test : public ::testing::TestWithParam<ProfileCase> {};

TEST_P(Pkcs12Test, OpenSslReadsItWithTheProfileAlgorithms) {
  Issued issued = IssueFor(KeyType::kEcP256);
  absl::StatusOr<std::string> p12 = CreatePkcs12(issued.key, issued.chain_pem, "Pa55-word",
                                                 "device 42", GetParam().profile);
  ASSERT_TRUE(p12.ok()) << p12.status();

  testing::ScratchDir dir;
  std::string path = dir.Write("device.p12", *p12);
  testing::CommandResult info = testing::RunCommand(
      std::string("openssl pkcs12 -info -noout ") + GetParam().cli_flags + " -in " + path +
      " -passin pass:Pa55-word");
  EXPECT_EQ(info.exit_code, 0) << info.output;
  EXPECT_THAT(info.output, HasSubstr(GetParam().mac_line));
  EXPECT_THAT(info.output, HasSubstr(GetParam().cipher_line));

  // Key, certificate and CA come back, with the friendly name.
  testing::CommandResult dump = testing::RunCommand(
      std::string("openssl pkcs12 ") + GetParam().cli_flags + " -in " + path +
      " -passin pass:Pa55-word -nodes");
  EXPECT_EQ(dump.exit_code, 0) << dump.output;
  EXPECT_THAT(dump.output, HasSubstr("friendlyName: device 42"));
  EXPECT_THAT(dump.output, HasSubstr("subject=CN = device 42"));
  EXPECT_THAT(dump.output, HasSubstr("subject=CN = Delivery Test Root"));
  EXPECT_THAT(dump.output, HasSubstr("-----BEGIN PRIVATE KEY-----"));

  testing::CommandResult wrong = testing::RunCommand(
      std::string("openssl pkcs12 -info -noout ") + GetParam().cli_flags + " -in " + path +
      " -passin pass:wrong");
  EXPECT_NE(wrong.exit_code, 0) << wrong.output;
  EXPECT_THAT(wrong.output, HasSubstr("Mac verify error"));

  // And OpenSSL's own parser agrees that the key matches the certificate.
  const unsigned char* p = reinterpret_cast<const unsigned char*>(p12->data());
  PKCS12* parsed = d2i_PKCS12(nullptr, &p, static_cast<long>(p12->size()));
  ASSERT_NE(parsed, nullptr);
  EVP_PKEY* pkey = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* ca = nullptr;
  ASSERT_EQ(PKCS12_parse(parsed, "Pa55-word", &pkey, &cert, &ca), 1);
  EXPECT_EQ(X509_check_private_key(cert, pkey), 1);
  EXPECT_EQ(sk_X509_num(ca), 1);
  EVP_PKEY_free(pkey);
  X509_free(cert);
  sk_X509_pop_free(ca, X509_free);
  PKCS12_free(parsed);
}

INSTANTIATE_TEST_SUITE_P(
    Profiles, Pkcs12Test,
    ::testing::Values(
        ProfileCase{Pkcs12Profile::kModern, "", "MAC: sha256, Iteration 2048",
                    "PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256"},
        ProfileCase{Pkcs12Profile::kLegacy, "-legacy", "MAC: sha1, Iteration 2048",
                    "pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048"}),
    [](const ::testing::TestParamInfo<ProfileCase>& info) {
      return std::string(Pkcs12ProfileName(info.param.profile));
    });

TEST(Pkcs12Test, RejectsBadInput) {
  Issued issued = IssueFor(KeyType::kEcP256);
  absl::StatusOr<PrivateKey> other = PrivateKey::Generate(KeyType::kEcP256);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(CreatePkcs12(issued.key, issued.chain_pem, "", "n", Pkcs12Profile::kModern)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreatePkcs12(issued.key, "not pem", "pw", "n", Pkcs12Profile::kModern).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::string> mismatch =
      CreatePkcs12(*other, issued.chain_pem, "pw", "n", Pkcs12Profile::kLegacy);
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mismatch.status().message(), HasSubstr("does not belong to the private key"));
}

class EnvelopeTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(EnvelopeTest, OpenSslCmsDecryptsWithTheRecipientKey) {
  Issued recipient = IssueFor(GetParam());
  const std::string secret = "p12 password: Zq9-\x01\xff binary ok";
  absl::StatusOr<std::string> envelope = EnvelopeForRecipient(secret, recipient.leaf_pem);
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_THAT(*envelope, Not(HasSubstr("Zq9-")));

  testing::ScratchDir dir;
  std::string env_path = dir.Write("envelope.der", *envelope);
  std::string cert_path = dir.Write("recipient.pem", recipient.leaf_pem);
  std::string key_path = dir.Write("recipient.key", recipient.key.ToPem());
  testing::CommandResult decrypt = testing::RunCommand(
      "openssl cms -decrypt -inform DER -in " + env_path + " -recip " + cert_path + " -inkey " +
      key_path + " -binary -out " + dir.Path("plain"));
  EXPECT_EQ(decrypt.exit_code, 0) << decrypt.output;
  EXPECT_EQ(dir.Read("plain"), secret);

  testing::CommandResult print =
      testing::RunCommand("openssl cms -cmsout -print -inform DER -in " + env_path);
  EXPECT_EQ(print.exit_code, 0) << print.output;
  EXPECT_THAT(print.output, HasSubstr("aes-256-cbc"));
  if (GetParam() == KeyType::kRsa2048) {
    EXPECT_THAT(print.output, HasSubstr("rsaesOaep"));
  } else {
    EXPECT_THAT(print.output, HasSubstr("dhSinglePass"));
  }

  // Another key cannot open it.
  absl::StatusOr<PrivateKey> stranger = PrivateKey::Generate(GetParam());
  ASSERT_TRUE(stranger.ok()) << stranger.status();
  std::string stranger_path = dir.Write("stranger.key", stranger->ToPem());
  testing::CommandResult refused = testing::RunCommand(
      "openssl cms -decrypt -inform DER -in " + env_path + " -recip " + cert_path + " -inkey " +
      stranger_path + " -binary -out " + dir.Path("plain2"));
  EXPECT_NE(refused.exit_code, 0) << refused.output;
}

INSTANTIATE_TEST_SUITE_P(RecipientKeys, EnvelopeTest,
                         ::testing::Values(KeyType::kRsa2048, KeyType::kEcP256,
                                           KeyType::kEcP384));

TEST(EnvelopeTest, RejectsGarbageCertificate) {
  EXPECT_EQ(EnvelopeForRecipient("x", "junk").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace certbridge::pki
