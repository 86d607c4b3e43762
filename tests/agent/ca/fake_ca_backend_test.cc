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

std::string EcCsr() {
  auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  return *pki::CreateCsrPem(*key, {.subject = "CN=device", .sans = {}});
}

class FakeCaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = FakeCaBackend::Create(
        "host\\Fake CA",
        {Tmpl("WebServer", "Web Server"), Tmpl("Pending", "", 0, 0x2), Tmpl("Strong", "", 3072)});
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *std::move(ca);
  }
  std::unique_ptr<FakeCaBackend> ca_;
};

TEST_F(FakeCaBackendTest, IssuesCertificateThatChainsToItsCa) {
  auto r = ca_->Submit({.csr_pem = EcCsr(), .attributes = "CertificateTemplate:WebServer"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->disposition, 3);
  EXPECT_TRUE(pki::VerifyChain(r->certificate_pem, ca_->ca_certificate_pem(), absl::Now()).ok());
  EXPECT_EQ(ca_->submit_count(), 1);
}

TEST_F(FakeCaBackendTest, PendingUntilApproved) {
  auto r = ca_->Submit({.csr_pem = EcCsr(), .attributes = "CertificateTemplate:Pending"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->disposition, 5);
  EXPECT_EQ(ca_->RetrievePending({.ca_request_id = r->ca_request_id})->disposition, 5);
  ASSERT_TRUE(ca_->Approve(r->ca_request_id).ok());
  EXPECT_EQ(ca_->RetrievePending({.ca_request_id = r->ca_request_id})->disposition, 3);
  EXPECT_EQ(ca_->Approve(r->ca_request_id).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ca_->Approve(9999).code(), absl::StatusCode::kNotFound);
}

TEST_F(FakeCaBackendTest, DenialsCarryTheRealHresults) {
  EXPECT_EQ(ca_->Submit({.csr_pem = EcCsr(), .attributes = "CertificateTemplate:Web Server"})->hresult,
            0x80094800u);
  EXPECT_EQ(ca_->Submit({.csr_pem = EcCsr(), .attributes = ""})->hresult, 0x80094801u);
  EXPECT_EQ(ca_->Submit({.csr_pem = EcCsr(), .attributes = "CertificateTemplate:Strong"})->hresult,
            0x80094811u);
}

TEST_F(FakeCaBackendTest, FindsTheNewestRequestByAttribute) {
  ASSERT_TRUE(ca_->Submit({.csr_pem = EcCsr(),
                           .attributes = "CertificateTemplate:Pending\nCertbridgeRequestId:r1"})
                  .ok());
  auto second = ca_->Submit(
      {.csr_pem = EcCsr(), .attributes = "CertificateTemplate:WebServer\nCertbridgeRequestId:r1"});
  ASSERT_TRUE(second.ok());
  auto found = ca_->FindRequestByAttribute(
      {.attribute_name = "certbridge-request-id", .attribute_value = "r1"});
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->ca_request_id, second->ca_request_id);
  EXPECT_EQ(found->disposition, 3);
  EXPECT_EQ(ca_->FindRequestByAttribute({.attribute_name = "CertbridgeRequestId",
                                         .attribute_value = "r2"})
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  ca_->SetUnavailable(true);
  EXPECT_EQ(ca_->FindRequestByAttribute({.attribute_name = "CertbridgeRequestId",
                                         .attribute_value = "r1"})
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(FakeCaBackendTest, UnavailableSwitch) {
  ca_->SetUnavailable(true);
  auto r = ca_->Ping({});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("0x800706BA"));
  ca_->SetUnavailable(false);
  EXPECT_TRUE(ca_->Ping({}).ok());
}

TEST_F(FakeCaBackendTest, RevokeOnceThenBadRequestStatus) {
  auto r = ca_->Submit({.csr_pem = EcCsr(), .attributes = "CertificateTemplate:WebServer"});
  auto serial = pki::ParseCertificate(r->certificate_pem)->serial_hex;
  EXPECT_EQ(ca_->Revoke({.serial_hex = serial, .reason = 4})->hresult, 0u);
  EXPECT_EQ(ca_->Revoke({.serial_hex = serial, .reason = 4})->hresult, 0x80094003u);
  EXPECT_EQ(ca_->Revoke({.serial_hex = "ABCDEF", .reason = 4})->hresult, 0x80094004u);
  EXPECT_EQ(ca_->revoked().at(serial), 4);
}

}  // namespace
}  // namespace certbridge::agent
