// ComCaBackend's mapping of COM answers, against a scripted ComCertClient (the real one
// only runs on Windows).
#include "agent/ca/com_ca_backend.h"

#include <map>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certbridge::agent {
namespace {

using ::testing::HasSubstr;

class ScriptedComCertClient final : public ComCertClient {
 public:
  ComAnswer Submit(const std::string& csr_base64, const std::string& attributes) override {
    last_csr = csr_base64;
    last_attributes = attributes;
    return submit_answer;
  }
  ComAnswer RetrievePending(int32_t request_id) override {
    last_request_id = request_id;
    retrieved.push_back(request_id);
    auto it = retrieve_answers.find(request_id);
    return it != retrieve_answers.end() ? it->second : submit_answer;
  }
  uint32_t Revoke(const std::string&, int32_t) override { return revoke_hresult; }
  ComAnswer GetCaCertificate() override { return ca_answer; }
  ComAnswer GetTemplates() override { return templates_answer; }
  ComViewAnswer FindRequestIdsByAttribute(const std::string& name,
                                          const std::string& value) override {
    last_view_name = name;
    last_view_value = value;
    return view_answer;
  }
  const std::string& config() const override { return config_; }

  ComAnswer submit_answer, ca_answer, templates_answer;
  std::map<int32_t, ComAnswer> retrieve_answers;  // else submit_answer
  std::vector<int32_t> retrieved;
  ComViewAnswer view_answer;
  std::string last_view_name, last_view_value;
  uint32_t revoke_hresult = 0;
  std::string last_csr, last_attributes;
  int32_t last_request_id = 0;
  std::string config_ = "adcs01\\Corp CA";
};

class ComCaBackendTest : public ::testing::Test {
 protected:
  ComCaBackendTest() {
    auto c = std::make_unique<ScriptedComCertClient>();
    client_ = c.get();
    client_->ca_answer.ca_certificate_base64 = "Q0FDRVJU";
    backend_ = std::make_unique<ComCaBackend>(std::move(c));
  }
  ScriptedComCertClient* client_;
  std::unique_ptr<ComCaBackend> backend_;
};

constexpr char kCsrPem[] =
    "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\nAbCd\n-----END CERTIFICATE REQUEST-----\n";

ComAnswer Issued(int32_t request_id) {
  ComAnswer a;
  a.disposition = 3;
  a.request_id = request_id;
  a.certificate_base64 = "QUJD";
  return a;
}

TEST_F(ComCaBackendTest, FindRequestByAttributeRetrievesTheNewestOwnMatch) {
  client_->view_answer.request_ids = {4, 9, 12};
  client_->retrieve_answers[12].call_hresult = 0x80070005;  // another identity's request
  client_->retrieve_answers[12].failed_call = "ICertRequest2::RetrievePending";
  client_->retrieve_answers[9] = Issued(9);
  auto r = backend_->FindRequestByAttribute(
      {.attribute_name = "CertbridgeRequestId", .attribute_value = "tenants/t/certificateRequests/r1"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(client_->last_view_name, "CertbridgeRequestId");
  EXPECT_EQ(client_->last_view_value, "tenants/t/certificateRequests/r1");
  EXPECT_EQ(client_->retrieved, (std::vector<int32_t>{12, 9}));
  EXPECT_EQ(r->disposition, 3);
  EXPECT_EQ(r->ca_request_id, 9);
  EXPECT_EQ(r->certificate_pem, "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n");
}

TEST_F(ComCaBackendTest, FindRequestByAttributeIsNotFoundWithoutAnOwnMatch) {
  auto none = backend_->FindRequestByAttribute(
      {.attribute_name = "CertbridgeRequestId", .attribute_value = "r1"});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound) << none.status();
  EXPECT_TRUE(client_->retrieved.empty());
  // Only another identity's request carries the value.
  client_->view_answer.request_ids = {7};
  client_->retrieve_answers[7].disposition = 1;
  client_->retrieve_answers[7].last_status = 0x80070005;
  auto foreign = backend_->FindRequestByAttribute(
      {.attribute_name = "CertbridgeRequestId", .attribute_value = "r1"});
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kNotFound) << foreign.status();
  // The CA's config string appears quoted (a mis-escaped literal once dropped the quotes).
  EXPECT_THAT(foreign.status().message(), HasSubstr("CA \"" + backend_->config() + "\" has no"));
}

TEST_F(ComCaBackendTest, FindRequestByAttributeRefusedViewIsNotASubmitGoAhead) {
  client_->view_answer.call_hresult = 0x80070005;
  client_->view_answer.failed_call = "ICertView2::OpenView";
  auto denied = backend_->FindRequestByAttribute(
      {.attribute_name = "CertbridgeRequestId", .attribute_value = "r1"});
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kFailedPrecondition) << denied.status();
  EXPECT_THAT(denied.status().message(), HasSubstr("ICertView2::OpenView"));
  EXPECT_THAT(denied.status().message(), HasSubstr("Read on the CA"));
  client_->view_answer.call_hresult = 0x800706BA;
  EXPECT_EQ(backend_->FindRequestByAttribute({.attribute_name = "CertbridgeRequestId",
                                              .attribute_value = "r1"})
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(backend_->FindRequestByAttribute({.attribute_name = "", .attribute_value = "r1"})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ComCaBackendTest, SubmitSendsBase64BodyAndMapsIssued) {
  client_->submit_answer.disposition = 3;
  client_->submit_answer.request_id = 17;
  client_->submit_answer.disposition_message = "Issued";
  client_->submit_answer.certificate_base64 = std::string(70, 'A');
  auto r = backend_->Submit({.csr_pem = kCsrPem, .attributes = "CertificateTemplate:WebServer"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(client_->last_csr, "MIIBAbCd");
  EXPECT_EQ(client_->last_attributes, "CertificateTemplate:WebServer");
  EXPECT_EQ(r->disposition, 3);
  EXPECT_EQ(r->ca_request_id, 17);
  EXPECT_EQ(r->certificate_pem, "-----BEGIN CERTIFICATE-----\n" + std::string(64, 'A') + "\n" +
                                    std::string(6, 'A') + "\n-----END CERTIFICATE-----\n");
  EXPECT_EQ(r->chain_pem, "-----BEGIN CERTIFICATE-----\nQ0FDRVJU\n-----END CERTIFICATE-----\n");
}

TEST_F(ComCaBackendTest, DenialWithSOkIsAnAnswerWithLastStatus) {
  client_->submit_answer.disposition = 2;
  client_->submit_answer.request_id = 18;
  client_->submit_answer.last_status = 0x80094800;
  client_->submit_answer.disposition_message = "Denied by Policy Module";
  auto r = backend_->Submit({.csr_pem = kCsrPem, .attributes = ""});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->disposition, 2);
  EXPECT_EQ(r->hresult, 0x80094800u);
  EXPECT_TRUE(r->certificate_pem.empty());
}

TEST_F(ComCaBackendTest, FailingSubmitWithEnrollDeniedIsADenial) {
  client_->submit_answer.call_hresult = 0x80094011;
  client_->submit_answer.failed_call = "ICertRequest2::Submit";
  auto r = backend_->Submit({.csr_pem = kCsrPem, .attributes = ""});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->disposition, 2);
  EXPECT_EQ(r->hresult, 0x80094011u);
}

TEST_F(ComCaBackendTest, RpcFailuresAreUnavailable) {
  client_->submit_answer.call_hresult = 0x800706BA;
  client_->submit_answer.failed_call = "ICertRequest2::Submit";
  auto r = backend_->Submit({.csr_pem = kCsrPem, .attributes = ""});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("0x800706BA RPC_S_SERVER_UNAVAILABLE"));
  client_->ca_answer.call_hresult = 0x800706D9;
  EXPECT_EQ(backend_->Ping({}).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(ComCaBackendTest, NonPemRequestIsInvalidArgument) {
  EXPECT_EQ(backend_->Submit({.csr_pem = "MIIB", .attributes = ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ComCaBackendTest, RetrievePendingPassesIdAndRejectsOutOfRange) {
  client_->submit_answer.disposition = 5;
  auto r = backend_->RetrievePending({.ca_request_id = 42});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(client_->last_request_id, 42);
  EXPECT_EQ(r->disposition, 5);
  EXPECT_EQ(backend_->RetrievePending({.ca_request_id = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ComCaBackendTest, TemplatesParseCnOidPairs) {
  client_->templates_answer.templates = "WebServer\n1.3.6.1.4.1.311.21.8.1\nUser\n1.3.6.1.4.1.311.21.8.2\n";
  auto t = backend_->ListTemplates({});
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].cn, "WebServer");
  EXPECT_EQ((*t)[0].oid, "1.3.6.1.4.1.311.21.8.1");
  EXPECT_EQ((*t)[1].cn, "User");
}

TEST_F(ComCaBackendTest, RevokeRefusalIsAnAnswer) {
  client_->revoke_hresult = 0x80094004;
  auto r = backend_->Revoke({.serial_hex = "01AB", .reason = 1});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->hresult, 0x80094004u);
  client_->revoke_hresult = 0x800706BA;
  EXPECT_EQ(backend_->Revoke({.serial_hex = "01AB", .reason = 1}).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace certbridge::agent
