#include "common/pki/crl.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certbridge::pki {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Shell(const std::string& command) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

class CrlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const absl::Time now = absl::Now();
    auto ca = SigningCa::CreateSelfSigned("CN=CRL Test CA", KeyType::kEcP256, now - absl::Hours(1),
                                          now + absl::Hours(24));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *std::move(ca);
    char templ[] = "/tmp/certbridge-crl-XXXXXX";
    dir_ = mkdtemp(templ);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::unique_ptr<SigningCa> ca_;
  std::string dir_;
};

TEST_F(CrlTest, OpensslReadsSerialsReasonsNumberAndSignature) {
  const absl::Time now = absl::Now();
  auto pem = CreateCrlPem(*ca_, {.revoked = {{"0A1B2C3D", now, CrlReason::kKeyCompromise},
                                             {"00ff", now, CrlReason::kUnspecified},
                                             {"77", now, CrlReason::kCertificateHold}},
                                 .crl_number = 42,
                                 .this_update = now,
                                 .next_update = now + absl::Hours(24)});
  ASSERT_TRUE(pem.ok()) << pem.status();
  const std::string crl = Write("a.crl", *pem);
  const std::string text = Shell("openssl crl -inform PEM -text -noout -in " + crl);
  EXPECT_THAT(text, HasSubstr("Serial Number: 0A1B2C3D"));
  EXPECT_THAT(text, HasSubstr("Serial Number: FF"));
  EXPECT_THAT(text, HasSubstr("Key Compromise"));
  EXPECT_THAT(text, HasSubstr("Certificate Hold"));
  EXPECT_THAT(text, Not(HasSubstr("Unspecified")));  // left out, RFC 5280 5.3.1
  EXPECT_THAT(text, HasSubstr("X509v3 CRL Number: \n                42"));
  EXPECT_THAT(text, HasSubstr("Issuer: CN = CRL Test CA"));
  const std::string ca = Write("ca.pem", ca_->certificate().pem);
  EXPECT_THAT(Shell("openssl crl -noout -in " + crl + " -CAfile " + ca), HasSubstr("verify OK"));
}

TEST_F(CrlTest, EmptyCrlIsValid) {
  auto pem = CreateCrlPem(*ca_, {.revoked = {}, .crl_number = 1, .this_update = absl::Now(),
                                 .next_update = absl::Now() + absl::Hours(1)});
  ASSERT_TRUE(pem.ok()) << pem.status();
  EXPECT_THAT(Shell("openssl crl -text -noout -in " + Write("e.crl", *pem)),
              HasSubstr("No Revoked Certificates"));
}

TEST_F(CrlTest, RejectsBadSerialAndReason) {
  const absl::Time now = absl::Now();
  EXPECT_EQ(CreateCrlPem(*ca_, {.revoked = {{"XYZ", now, CrlReason::kSuperseded}},
                                .crl_number = 1, .this_update = now, .next_update = now})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateCrlPem(*ca_, {.revoked = {{"01", now, static_cast<CrlReason>(7)}},
                                .crl_number = 1, .this_update = now, .next_update = now})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(IsValidCrlReason(7));
  EXPECT_TRUE(IsValidCrlReason(8));
}

}  // namespace
}  // namespace certbridge::pki
