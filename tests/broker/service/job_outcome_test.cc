// Every CA answer an agent can report, and what it does to the request.
#include "broker/service/job_outcome.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "common/adcs/error_catalog.h"
#include "common/pki/pki.h"

namespace certbridge::broker {
namespace {

class JobOutcomeTest : public ::testing::Test {
 protected:
  JobOutcomeTest() {
    request_.name = "req-1";
    request_.tenant_id = "t";
    request_.ca_id = "ca";
    request_.state = RequestState::kDispatched;
    request_.create_time = now_ - absl::Seconds(40);
    job_.job_id = 7;
    job_.tenant_id = "t";
    job_.request_name = "req-1";
    job_.ca_id = "ca";
    job_.kind = JobKind::kSubmit;
    job_.state = JobState::kLeased;
    job_.attempts = 1;
  }

  absl::StatusOr<JobCompletion> Outcome(const v1::JobResult& result) {
    return OutcomeOfJob(request_, job_, result, "conn-1", "CORP\\svc", now_, JobOutcomeOptions());
  }

  static std::string NewCsrPem() {
    auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    return *pki::CreateCsrPem(*key, {"CN=device", {}});
  }

  static std::string IssuedPem(const std::string& csr_pem = NewCsrPem()) {
    auto ca = pki::SigningCa::CreateSelfSigned("CN=Test CA", pki::KeyType::kEcP256,
                                               absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(48));
    auto csr = pki::ParseCsr(csr_pem);
    pki::IssueParams params;
    params.csr_der = csr->der;
    params.not_before = absl::Now() - absl::Minutes(1);
    params.not_after = absl::Now() + absl::Hours(24);
    return (*ca)->Issue(params)->pem;
  }

  absl::Time now_ = absl::FromUnixSeconds(1'900'000'000);
  CertificateRequestRecord request_;
  JobRecord job_;
};

TEST_F(JobOutcomeTest, IssuedStoresCertificateSerialAndExpiry) {
  v1::JobResult result;
  result.set_job_id(7);
  result.set_ca_answered(true);
  result.set_disposition(adcs::kDispositionIssued);
  result.set_ca_request_id(42);
  result.set_certificate_pem(IssuedPem());
  auto c = Outcome(result);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->job_state, JobState::kDone);
  EXPECT_EQ(c->request.state, RequestState::kIssued);
  EXPECT_EQ(c->request.ca_request_id, 42);
  EXPECT_FALSE(c->request.serial_hex.empty());
  EXPECT_NE(c->request.not_after, absl::InfinitePast());
  EXPECT_EQ(c->request.connector_id, "conn-1");
  EXPECT_EQ(c->request.ca_identity, "CORP\\svc");
  EXPECT_FALSE(c->follow_up.has_value());
}

TEST_F(JobOutcomeTest, IssuedWithGarbageCertificateIsInvalidArgument) {
  v1::JobResult result;
  result.set_ca_answered(true);
  result.set_disposition(adcs::kDispositionIssued);
  result.set_certificate_pem("not a certificate");
  EXPECT_EQ(Outcome(result).status().code(), absl::StatusCode::kInvalidArgument);
}

// Before, an agent (or a CA) could report any certificate as the request's.
TEST_F(JobOutcomeTest, IssuedCertificateMustBeForTheCsrKey) {
  request_.csr_pem = NewCsrPem();
  v1::JobResult result;
  result.set_ca_answered(true);
  result.set_disposition(adcs::kDispositionIssued);
  result.set_certificate_pem(IssuedPem());  // another key
  auto other = Outcome(result);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(other.status().message(), "not the key of the request's CSR"))
      << other.status();
  result.set_certificate_pem(IssuedPem(request_.csr_pem));
  auto same = Outcome(result);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->request.state, RequestState::kIssued);
}

TEST_F(JobOutcomeTest, RevokeRefusedByTheAgentPolicyKeepsItsCode) {
  job_.kind = JobKind::kRevoke;
  request_.state = RequestState::kIssued;
  v1::JobResult result;
  result.set_error_code("POLICY_REVOKE_NOT_ISSUED_HERE");
  result.set_error_message("serial 1A was not issued by this connector");
  result.set_hint("run the agent with --allow-revoke-any");
  auto c = Outcome(result);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->job_state, JobState::kFailed);
  EXPECT_EQ(c->request.state, RequestState::kIssued);
  EXPECT_EQ(c->request.error_code, "AGENT_POLICY_REVOKE_NOT_ISSUED_HERE");
  EXPECT_EQ(c->request.remedy, "run the agent with --allow-revoke-any");
}

TEST_F(JobOutcomeTest, UnderSubmissionSchedulesStickyRetrieveWithBackoff) {
  v1::JobResult result;
  result.set_ca_answered(true);
  result.set_disposition(adcs::kDispositionUnderSubmission);
  result.set_ca_request_id(77);
  result.set_disposition_message("Taken Under Submission");
  auto c = Outcome(result);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->request.state, RequestState::kPendingApproval);
  EXPECT_TRUE(absl::StrContains(c->request.waiting_reason, "77"));
  ASSERT_TRUE(c->follow_up.has_value());
  EXPECT_EQ(c->follow_up->kind, JobKind::kRetrieve);
  EXPECT_EQ(c->follow_up->required_identity, "CORP\\svc");
  // 40 s old: a quarter of its age.
  EXPECT_EQ(c->follow_up->not_before, now_ + absl::Seconds(10));
}

TEST_F(JobOutcomeTest, DisplayNameDenialCarriesCatalogCodeRemedyAndAgentHint) {
  v1::JobResult result;
  result.set_ca_answered(true);
  result.set_disposition(adcs::kDispositionDenied);
  result.set_hresult(adcs::kUnsupportedCertType);
  result.set_disposition_message("Denied by Policy Module 0x80094800");
  result.set_hint("Did you mean template \"WebServer\"?");
  auto c = Outcome(result);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->request.state, RequestState::kDenied);
  EXPECT_EQ(c->request.error_code, "CA_TEMPLATE_NOT_SUPPORTED");
  EXPECT_EQ(c->request.hresult, adcs::kUnsupportedCertType);
  EXPECT_TRUE(absl::StrContains(c->request.remedy, "WebServer")) << c->request.remedy;
  EXPECT_EQ(c->request.error_message, "Denied by Policy Module 0x80094800");
}

TEST_F(JobOutcomeTest, UnreachableCaRetriesThenFails) {
  v1::JobResult result;
  result.set_error_code("UNAVAILABLE");
  result.set_error_message("RPC server unavailable");
  auto retry = Outcome(result);
  ASSERT_TRUE(retry.ok());
  ASSERT_TRUE(retry->follow_up.has_value());
  EXPECT_GT(retry->follow_up->not_before, now_);
  EXPECT_EQ(retry->request.state, RequestState::kQueued);
  EXPECT_TRUE(absl::StrContains(retry->request.waiting_reason, "could not be reached"));

  job_.attempts = JobOutcomeOptions().max_unreachable_attempts;
  auto failed = Outcome(result);
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->job_state, JobState::kFailed);
  EXPECT_EQ(failed->request.state, RequestState::kFailed);
  EXPECT_EQ(failed->request.hresult, adcs::kRpcServerUnavailable);
  EXPECT_FALSE(failed->request.remedy.empty());
}

// Before, the retry was the same job put back READY with no required identity: a
// connector under another account serving the CA could claim it, find nothing at the CA
// under its own identity and submit again — a second certificate for one request.
TEST_F(JobOutcomeTest, UnreachableSubmitRetryIsPinnedToTheSubmittingIdentity) {
  for (const char* code : {"UNAVAILABLE", "DEADLINE_EXCEEDED"}) {
    SCOPED_TRACE(code);
    v1::JobResult result;
    result.set_error_code(code);
    result.set_error_message("the CA did not answer in time");
    auto retry = Outcome(result);
    ASSERT_TRUE(retry.ok()) << retry.status();
    EXPECT_EQ(retry->request.state, RequestState::kQueued);
    EXPECT_EQ(retry->job_state, JobState::kFailed) << "this job ends; its retry carries the pin";
    ASSERT_TRUE(retry->follow_up.has_value());
    EXPECT_EQ(retry->follow_up->kind, JobKind::kSubmit);
    EXPECT_EQ(retry->follow_up->required_identity, "CORP\\svc");
    EXPECT_EQ(retry->follow_up->attempts, job_.attempts) << "still counts toward the limit";
    EXPECT_EQ(retry->follow_up->not_before,
              now_ + JobOutcomeOptions().unreachable_retry_delay * job_.attempts);
    EXPECT_EQ(retry->follow_up->ca_id, "ca");
  }
}

TEST_F(JobOutcomeTest, UnreachableRetrieveStaysTheSamePinnedJob) {
  job_.kind = JobKind::kRetrieve;
  job_.required_identity = "CORP\\svc";
  request_.state = RequestState::kPendingApproval;
  v1::JobResult result;
  result.set_error_code("UNAVAILABLE");
  auto retry = Outcome(result);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->job_state, JobState::kReady);
  EXPECT_EQ(retry->request.state, RequestState::kPendingApproval);
  EXPECT_FALSE(retry->follow_up.has_value());
}

// Before, a key-generation request's RETRIEVE went to any connector of the CA identity,
// though only the submitting agent's pending key store holds the generated key.
TEST_F(JobOutcomeTest, KeyGenerationRetrieveIsBoundToTheConnectorHoldingTheKey) {
  request_.key_type = "EC-P256";
  v1::JobResult result;
  result.set_ca_answered(true);
  result.set_disposition(adcs::kDispositionUnderSubmission);
  result.set_ca_request_id(77);
  auto c = Outcome(result);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->follow_up.has_value());
  EXPECT_EQ(c->follow_up->kind, JobKind::kRetrieve);
  EXPECT_EQ(c->follow_up->required_identity, ConnectorBoundIdentity("CORP\\svc", "conn-1"));

  // And so is a key-generation SUBMIT's retry after the CA was unreachable.
  v1::JobResult unreachable;
  unreachable.set_error_code("DEADLINE_EXCEEDED");
  auto retry = Outcome(unreachable);
  ASSERT_TRUE(retry.ok() && retry->follow_up.has_value());
  EXPECT_EQ(retry->follow_up->required_identity, ConnectorBoundIdentity("CORP\\svc", "conn-1"));
}

TEST(CheckResultSenderTest, AJobBoundToAConnectorAcceptsOnlyThatConnector) {
  JobRecord job;
  job.job_id = 9;
  job.ca_id = "ca-1";
  job.state = JobState::kReady;
  job.required_identity = ConnectorBoundIdentity("CORP\\svc", "conn-a");
  EXPECT_TRUE(CheckResultSender(job, "conn-a", {"ca-1"}).ok());
  EXPECT_EQ(CheckResultSender(job, "conn-b", {"ca-1"}).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(JobOutcomeTest, RevokeAnsweredZeroRevokes) {
  job_.kind = JobKind::kRevoke;
  job_.revocation_reason = 1;
  request_.state = RequestState::kIssued;
  v1::JobResult result;
  result.set_ca_answered(true);
  auto c = Outcome(result);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->request.state, RequestState::kRevoked);
  EXPECT_EQ(c->request.revocation_reason, 1);
  EXPECT_EQ(c->request.revoke_time, now_);
}

TEST_F(JobOutcomeTest, RefusedRevokeKeepsIssuedWithError) {
  job_.kind = JobKind::kRevoke;
  request_.state = RequestState::kIssued;
  v1::JobResult result;
  result.set_ca_answered(true);
  result.set_revoke_hresult(adcs::kAccessDenied);
  auto c = Outcome(result);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->request.state, RequestState::kIssued);
  EXPECT_EQ(c->job_state, JobState::kFailed);
  EXPECT_TRUE(absl::StartsWith(c->request.error_code, "REVOKE_")) << c->request.error_code;
}

// Before the check, any connector of the tenant could complete any job by its id.
TEST(CheckResultSenderTest, OnlyTheLeaseHolderReportsALeasedJob) {
  JobRecord job;
  job.job_id = 9;
  job.ca_id = "ca-1";
  job.state = JobState::kLeased;
  job.connector_id = "conn-a";
  EXPECT_TRUE(CheckResultSender(job, "conn-a", {"ca-1"}).ok());
  absl::Status other = CheckResultSender(job, "conn-b", {"ca-1"});
  EXPECT_EQ(other.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(other.message(), "leased to connector conn-a")) << other;
}

TEST(CheckResultSenderTest, AnUnheldJobAcceptsOnlyAConnectorOfItsCa) {
  JobRecord job;
  job.job_id = 9;
  job.ca_id = "ca-1";
  job.state = JobState::kReady;  // lease expired; the old holder reports from its journal
  EXPECT_TRUE(CheckResultSender(job, "conn-a", {"ca-2", "ca-1"}).ok());
  EXPECT_EQ(CheckResultSender(job, "conn-c", {"ca-2"}).code(),
            absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace certbridge::broker
