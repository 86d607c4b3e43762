#include "agent/ca/test_ca.h"

#include <sstream>

#include "agent/ca/fake_ca_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certbridge::agent {
namespace {

using ::testing::HasSubstr;

CaTemplate Tmpl(std::string cn, std::string display_name, uint32_t minimal_key_size = 0,
                uint32_t enrollment_flags = 0) {
  CaTemplate t;
  t.cn = std::move(cn);
  t.display_name = std::move(display_name);
  t.minimal_key_size = minimal_key_size;
  t.enrollment_flags = enrollment_flags;
  return t;
}

class TestCaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = FakeCaBackend::Create(
        "adcs01\\Corp CA",
        {Tmpl("WebServer", "Web Server", 256), Tmpl("Pending", "Pending Device", 256, 0x2)});
    ASSERT_TRUE(ca.ok());
    ca_ = *std::move(ca);
  }
  std::unique_ptr<FakeCaBackend> ca_;
};

TEST_F(TestCaTest, PendingTestRequestPassesWithANote) {
  std::ostringstream out;
  EXPECT_EQ(RunTestCa(*ca_, {.config = "adcs01\\Corp CA", .template_name = "Pending"}, out), 0)
      << out.str();
  EXPECT_THAT(out.str(), HasSubstr("taken under submission, request id 1"));
  EXPECT_THAT(out.str(), HasSubstr("pends for approval"));
}

TEST_F(TestCaTest, NoTemplateSkipsEnrollment) {
  std::ostringstream out;
  EXPECT_EQ(RunTestCa(*ca_, {.config = "", .template_name = ""}, out), 0);
  EXPECT_THAT(out.str(), HasSubstr("test enrollment skipped"));
  EXPECT_EQ(ca_->submit_count(), 0);
}

TEST_F(TestCaTest, WarnsWhenCaNameDiffers) {
  std::ostringstream out;
  RunTestCa(*ca_, {.config = "adcs01\\Other CA", .template_name = ""}, out);
  EXPECT_THAT(out.str(), HasSubstr("[warn] the CA calls itself \"adcs01\\Corp CA\""));
}

TEST_F(TestCaTest, TypoGetsNearestTemplate) {
  std::ostringstream out;
  EXPECT_EQ(RunTestCa(*ca_, {.config = "", .template_name = "WebSrever"}, out), 1);
  EXPECT_THAT(out.str(), HasSubstr("Did you mean \"WebServer\"?"));
}

TEST_F(TestCaTest, UnreachableStopsEarly) {
  ca_->SetUnavailable(true);
  std::ostringstream out;
  EXPECT_EQ(RunTestCa(*ca_, {.config = "", .template_name = "WebServer"}, out), 1);
  EXPECT_THAT(out.str(), HasSubstr("CA_UNREACHABLE (0x800706BA"));
  EXPECT_THAT(out.str(), HasSubstr("stopped"));
}

TEST(TestKeyTypeForTest, FollowsMinimalKeySize) {
  EXPECT_EQ(TestKeyTypeFor(0), pki::KeyType::kRsa2048);
  EXPECT_EQ(TestKeyTypeFor(256), pki::KeyType::kEcP256);
  EXPECT_EQ(TestKeyTypeFor(384), pki::KeyType::kEcP384);
  EXPECT_EQ(TestKeyTypeFor(1024), pki::KeyType::kRsa2048);
  EXPECT_EQ(TestKeyTypeFor(2048), pki::KeyType::kRsa2048);
  EXPECT_EQ(TestKeyTypeFor(3072), pki::KeyType::kRsa3072);
  EXPECT_EQ(TestKeyTypeFor(4096), pki::KeyType::kRsa4096);
}

}  // namespace
}  // namespace certbridge::agent
