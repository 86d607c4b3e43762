// EmulatorCa driven directly (no process, no gRPC), with a FakeClock.
#include "agent/emulator/emulator_ca.h"

#include <google/protobuf/text_format.h>

#include <fstream>

#include "common/adcs/error_catalog.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/emulator/emulator_process.h"

namespace certbridge::emulator {
namespace {

using ::testing::HasSubstr;

constexpr char kConfig[] = R"pb(
  ca_host: "h" ca_name: "Unit CA" key_type: "EC-P256"
  officer_identities: "CORP\\Officer"
  templates { cn: "Dev" display_name: "Device" name_flags: 1 validity_days: 30 enroll_identities: "*" }
  templates { cn: "Pend" name_flags: 1 enrollment_flags: 2 enroll_identities: "*" }
  templates { cn: "NoSid" name_flags: 0 enrollment_flags: 0x80000 enroll_identities: "*" }
  templates { cn: "NeedsSid" name_flags: 0 enroll_identities: "*" }
  directory { identity: "CORP\\A$" sid: "S-1-5-21-1-2-3-1000" common_name: "A" }
  directory { identity: "CORP\\NoSid$" common_name: "NOSID" }
)pb";

class EmulatorCaTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open(const std::string& extra = "") {
    ca_.reset();
    EmulatorCa::Options o;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(std::string(kConfig) + extra, &o.config));
    o.state_dir = dir_.File("state");
    o.clock = &clock_;
    o.die = [this] { ++deaths_; };
    auto ca = EmulatorCa::Create(std::move(o));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *std::move(ca);
  }
  static adcsemu::v1::SubmitRequest Request(const std::string& attributes) {
    auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    adcsemu::v1::SubmitRequest r;
    r.set_request(*pki::CreateCsrPem(*key, {.subject = "CN=x", .sans = {}}));
    r.set_attributes(attributes);
    return r;
  }
  adcsemu::v1::CaResponse Submit(const std::string& attributes, const std::string& who = "CORP\\A$") {
    auto r = ca_->Submit(who, Request(attributes));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : adcsemu::v1::CaResponse();
  }

  testing::TempDir dir_;
  FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  int deaths_ = 0;
  std::unique_ptr<EmulatorCa> ca_;
};

TEST_F(EmulatorCaTest, ValidityFollowsTemplateAndClock) {
  auto r = Submit("CertificateTemplate:Dev");
  ASSERT_EQ(r.disposition(), 3);
  auto cert = pki::ParseCertificate(r.certificate_pem());
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(cert->not_after, clock_.Now() + absl::Hours(24 * 30));
  EXPECT_EQ(cert->not_before, clock_.Now() - absl::Minutes(5));
}

TEST_F(EmulatorCaTest, DirectorySubjectsNeedASidUnlessTheTemplateSuppressesIt) {
  EXPECT_EQ(Submit("CertificateTemplate:NeedsSid").disposition(), 3);
  auto r = Submit("CertificateTemplate:NeedsSid", "CORP\\NoSid$");
  EXPECT_EQ(r.disposition(), 2);
  EXPECT_EQ(r.hresult(), adcs::kSecExtDirectorySidRequired);
  EXPECT_EQ(Submit("CertificateTemplate:NoSid", "CORP\\NoSid$").disposition(), 3);
  r = Submit("CertificateTemplate:NoSid", "CORP\\Unknown$");
  EXPECT_EQ(r.hresult(), adcs::kBadRequestSubject);
}

TEST_F(EmulatorCaTest, OfficerActionsNeedTheOfficerRight) {
  auto r = Submit("CertificateTemplate:Pend");
  ASSERT_EQ(r.disposition(), 5);
  auto denied = ca_->Resubmit("CORP\\A$", r.request_id());
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(HresultOf(denied.status()), adcs::kAccessDenied);
  auto ok = ca_->Resubmit("corp\\officer", r.request_id());  // names ignore case
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->disposition(), 3);
}

TEST_F(EmulatorCaTest, DeniedRequestCanBeResubmitted) {
  auto r = Submit("CertificateTemplate:Pend");
  ASSERT_TRUE(ca_->Deny("CORP\\Officer", r.request_id()).ok());
  auto again = ca_->Resubmit("CORP\\Officer", r.request_id());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->disposition(), 3);
}

TEST_F(EmulatorCaTest, HoldCanBeReleasedButOtherRevocationsCannot) {
  auto r = Submit("CertificateTemplate:Dev");
  const std::string serial = r.serial_hex();
  ASSERT_TRUE(ca_->Revoke("CORP\\Officer", serial, 6).ok());
  EXPECT_EQ(ca_->RetrievePending("CORP\\A$", r.request_id())->disposition(), 6);
  ASSERT_TRUE(ca_->Revoke("CORP\\Officer", serial, -1).ok());
  EXPECT_EQ(ca_->RetrievePending("CORP\\A$", r.request_id())->disposition(), 3);
  ASSERT_TRUE(ca_->Revoke("CORP\\Officer", "00" + serial, 1).ok());  // leading zeros ok
  auto release = ca_->Revoke("CORP\\Officer", serial, -1);
  EXPECT_EQ(release.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(HresultOf(release.status()), adcs::kBadRequestStatus);
  EXPECT_EQ(ca_->Revoke("CORP\\Officer", serial, 7).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EmulatorCaTest, CrlNumbersIncreaseAndSurviveReopen) {
  auto first = ca_->PublishCrl("CORP\\Officer");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->crl_number(), 1);
  EXPECT_EQ(ca_->PublishCrl("CORP\\Officer")->crl_number(), 2);
  Open();
  EXPECT_EQ(ca_->GetCrl("CORP\\Officer")->crl_number(), 2);
  EXPECT_EQ(ca_->PublishCrl("CORP\\Officer")->crl_number(), 3);
}

TEST_F(EmulatorCaTest, DieHookRunsOnlyAfterIssuingAndAfterPersisting) {
  adcsemu::v1::Faults f;
  f.set_die_after_issue(true);
  ca_->SetFaults(f);
  EXPECT_EQ(Submit("CertificateTemplate:Pend").disposition(), 5);
  EXPECT_EQ(deaths_, 0);
  auto r = Submit("CertificateTemplate:Dev");
  EXPECT_EQ(deaths_, 1);
  Open();
  EXPECT_EQ(ca_->RetrievePending("CORP\\A$", r.request_id())->disposition(), 3);
}

TEST_F(EmulatorCaTest, TornLogTailIsDroppedOnReopen) {
  auto r = Submit("CertificateTemplate:Dev");
  ca_.reset();
  {
    std::ofstream log(dir_.File("state/requests.log"), std::ios::binary | std::ios::app);
    log << std::string("\x50\x00\x00\x00\x0a\x03", 6);  // claims 80 bytes, has 2
  }
  Open();
  EXPECT_EQ(ca_->RetrievePending("CORP\\A$", r.request_id())->disposition(), 3);
  EXPECT_GT(Submit("CertificateTemplate:Dev").request_id(), r.request_id());
}

TEST_F(EmulatorCaTest, FindRequestsMatchesAttributeOfOwnRequestsOnly) {
  auto mine = Submit("CertificateTemplate:Pend\nCertbridgeRequestId:r-1");
  Submit("CertificateTemplate:Dev\nCertbridgeRequestId:r-2");
  Submit("CertificateTemplate:Dev\nCertbridgeRequestId:r-1", "CORP\\NoSid$");
  auto found = ca_->FindRequests("corp\\a$", "Certbridge Request-Id", "r-1");
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->requests_size(), 1);
  EXPECT_EQ(found->requests(0).request_id(), mine.request_id());
  EXPECT_EQ(found->requests(0).disposition(), 5);
  Open();  // the attributes are kept with the request
  found = ca_->FindRequests("CORP\\A$", "CertbridgeRequestId", "r-1");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->requests_size(), 1);
  EXPECT_EQ(ca_->FindRequests("CORP\\A$", "CertbridgeRequestId", "r-3")->requests_size(), 0);
  EXPECT_EQ(ca_->FindRequests("CORP\\A$", "", "r-1").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EmulatorCaTest, ConfigMistakesAreNamed) {
  adcsemu::v1::EmulatorConfig c;
  EXPECT_THAT(ValidateConfig(c).message(), HasSubstr("ca_name"));
  c.set_ca_name("X");
  c.add_templates()->set_cn("A");
  c.add_templates()->set_cn("a");
  EXPECT_THAT(ValidateConfig(c).message(), HasSubstr("appears twice"));
  c.clear_templates();
  c.add_directory()->set_identity("CORP\\A$");
  c.mutable_directory(0)->set_sid("S-1-bogus");
  EXPECT_EQ(ValidateConfig(c).code(), absl::StatusCode::kInvalidArgument);
  c.clear_directory();
  c.set_key_type("DSA-1024");
  EXPECT_EQ(ValidateConfig(c).code(), absl::StatusCode::kInvalidArgument);
}

TEST(HresultOfTest, ReadsLeadingHresult) {
  EXPECT_EQ(HresultOf(absl::UnavailableError("0x800706BA RPC_S_SERVER_UNAVAILABLE: x")), 0x800706BAu);
  EXPECT_EQ(HresultOf(absl::InternalError("disk full")), std::nullopt);
}

}  // namespace
}  // namespace certbridge::emulator
