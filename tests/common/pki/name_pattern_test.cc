#include "common/pki/name_pattern.h"

#include <string>

#include "absl/status/status.h"
#include "common/pki/pem.h"
#include "common/pki/pki.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certbridge::pki {
namespace {

using ::testing::HasSubstr;

TEST(NamePatternTest, StarMatchesAnyRunIncludingNone) {
  EXPECT_TRUE(MatchesNamePattern("*.corp.example", "host.corp.example"));
  EXPECT_TRUE(MatchesNamePattern("*.corp.example", "a.b.corp.example"));
  EXPECT_FALSE(MatchesNamePattern("*.corp.example", "corp.example"));
  EXPECT_FALSE(MatchesNamePattern("*.corp.example", "host.corp.example.evil"));
  EXPECT_TRUE(MatchesNamePattern("dev-*-*", "dev--"));
  EXPECT_TRUE(MatchesNamePattern("*", ""));
  EXPECT_FALSE(MatchesNamePattern("a", ""));
  EXPECT_TRUE(MatchesNamePattern("a*b*c", "aXXbYYbc"));
  EXPECT_FALSE(MatchesNamePattern("a*b*c", "aXXbYYbd"));
}

TEST(NamePatternTest, IgnoresAsciiCaseOnly) {
  EXPECT_TRUE(MatchesNamePattern("CN=*.Corp.Example", "cn=HOST.corp.example"));
  EXPECT_FALSE(MatchesNamePattern("\xC3\xA9", "\xC3\x89"));  // é vs É: bytes differ
}

TEST(NamePatternTest, RefusesOversizedInputs) {
  EXPECT_FALSE(MatchesNamePattern("*", std::string(kMaxMatchedNameBytes + 1, 'a')));
  EXPECT_FALSE(MatchesNamePattern(std::string(kMaxNamePatternBytes + 1, '*'), "a"));
  // The worst case for a backtracking matcher stays quick here (linear-time bound).
  EXPECT_FALSE(MatchesNamePattern(std::string(100, '*') + "b", std::string(4000, 'a')));
}

TEST(NamePatternTest, SanPatternsNeedAKnownType) {
  EXPECT_TRUE(ValidateSanPattern("dns:*.corp.example", "san_patterns").ok());
  absl::Status bad = ValidateSanPattern("*.corp.example", "san_patterns");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("dns:*.corp.example"));
  EXPECT_EQ(ValidateSanPattern("dns:", "san_patterns").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateSubjectPattern("CN=\n", "subject_patterns").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateSubjectPattern("", "subject_patterns").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NamePatternTest, SanMatchesOnlyItsOwnType) {
  const std::vector<std::string> patterns = {"dns:*.corp.example", "email:*@corp.example"};
  EXPECT_TRUE(SanMatchesAnyPattern({SubjectAltName::Type::kDns, "h.corp.example"}, patterns));
  EXPECT_TRUE(SanMatchesAnyPattern({SubjectAltName::Type::kEmail, "a@corp.example"}, patterns));
  EXPECT_FALSE(SanMatchesAnyPattern({SubjectAltName::Type::kUpn, "a@corp.example"}, patterns));
  EXPECT_FALSE(SanMatchesAnyPattern({SubjectAltName::Type::kDns, "h.other.example"}, patterns));
  EXPECT_TRUE(SubjectMatchesAnyPattern("CN=h.corp.example,O=Example", {"CN=*.corp.example,O=Example"}));
  EXPECT_FALSE(SubjectMatchesAnyPattern("CN=h.corp.example,O=Other", {"CN=*.corp.example,O=Example"}));
}

TEST(NamePatternTest, SanTextRoundTrips) {
  absl::StatusOr<SubjectAltName> san = ParseSanText("dns:h.corp.example");
  ASSERT_TRUE(san.ok()) << san.status();
  EXPECT_EQ(san->type, SubjectAltName::Type::kDns);
  EXPECT_EQ(SanText(*san), "dns:h.corp.example");
  EXPECT_EQ(ParseSanText("h.corp.example").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSanText("dns:has space").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PemTest, ArmouredCsrParses) {
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(KeyType::kEcP256);
  ASSERT_TRUE(key.ok());
  absl::StatusOr<std::string> csr = CreateCsrPem(*key, {.subject = "CN=device"});
  ASSERT_TRUE(csr.ok());
  absl::StatusOr<CsrInfo> info = ParseCsr(*csr);
  ASSERT_TRUE(info.ok());
  const std::string pem = PemEncode("CERTIFICATE REQUEST", info->der);
  EXPECT_EQ(pem, *csr);
}

}  // namespace
}  // namespace certbridge::pki
