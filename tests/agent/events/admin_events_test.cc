// The event log's entries: id, type and text of each event an admin looks for. Pure
// functions, so this runs on Linux and under Wine (whose event log is a stub).
#include "agent/events/admin_events.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certbridge::agent {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNotAfter = absl::FromUnixSeconds(1893456000);  // 2030-01-01 00:00:00 UTC

v1::Job SubmitJob() {
  v1::Job job;
  job.set_job_id(42);
  job.set_kind(v1::Job::KIND_SUBMIT);
  job.set_request_name("tenants/t-1/requests/r-7");
  job.set_ca_config("adcs01.corp.example\\Corp Issuing CA");
  return job;
}

v1::JobResult CaAnswer(int disposition, uint32_t hresult) {
  v1::JobResult r;
  r.set_job_id(42);
  r.set_ca_answered(true);
  r.set_disposition(disposition);
  r.set_hresult(hresult);
  return r;
}

TEST(AdminEventsTest, RegisteredAndApprovedNameTheConnectorButNotTheCode) {
  AdminEvent registered = RegisteredEvent("broker.example:8443", "c-42");
  EXPECT_EQ(registered.id, 1000u);
  EXPECT_EQ(registered.type, AdminEventType::kInformation);
  EXPECT_EQ(registered.text,
            "certbridge agent registered with broker broker.example:8443 as connector c-42; "
            "waiting for approval. An admin of the tenant approves it with the registration "
            "code that `certbridge-agent register` printed.");

  AdminEvent approved = ApprovedEvent("c-42", "t-1", "7F01", kNotAfter);
  EXPECT_EQ(approved.id, 1001u);
  EXPECT_EQ(approved.type, AdminEventType::kInformation);
  EXPECT_EQ(approved.text,
            "Connector c-42 of tenant t-1 approved; agent certificate 7F01 valid until "
            "2030-01-01 00:00:00 UTC stored. Start the service: sc start certbridge-agent");
}

TEST(AdminEventsTest, ConnectedSaysWhetherThroughAProxy) {
  AdminEvent direct = ConnectedEvent("broker.example:443", "c-42", "");
  EXPECT_EQ(direct.id, 1100u);
  EXPECT_EQ(direct.type, AdminEventType::kInformation);
  EXPECT_EQ(direct.text, "Connected to broker broker.example:443 as connector c-42.");
  EXPECT_EQ(ConnectedEvent("broker.example:443", "c-42", "http://proxy.corp:3128").text,
            "Connected to broker broker.example:443 as connector c-42 through proxy "
            "http://proxy.corp:3128.");
}

TEST(AdminEventsTest, DisconnectedIsAWarningWithTheReasonAndTheRetry) {
  AdminEvent e = DisconnectedEvent("broker.example:443", "UNAVAILABLE", "Socket closed",
                                   absl::Seconds(8));
  EXPECT_EQ(e.id, 1101u);
  EXPECT_EQ(e.type, AdminEventType::kWarning);
  EXPECT_THAT(e.text, AllOf(HasSubstr("Disconnected from broker broker.example:443: "
                                      "UNAVAILABLE: Socket closed. Reconnecting in 8 s."),
                            HasSubstr("--proxy")));
}

TEST(AdminEventsTest, CertificateRenewed) {
  AdminEvent e = CertificateRenewedEvent("7F02", kNotAfter);
  EXPECT_EQ(e.id, 1200u);
  EXPECT_EQ(e.type, AdminEventType::kInformation);
  EXPECT_EQ(e.text, "Agent certificate renewed: serial 7F02, valid until 2030-01-01 00:00:00 UTC.");
}

TEST(AdminEventsTest, SuccessfulJobsAreNotReported) {
  v1::Job submit = SubmitJob();
  EXPECT_FALSE(JobEvent(submit, CaAnswer(3, 0)).has_value());            // issued
  EXPECT_FALSE(JobEvent(submit, CaAnswer(5, 0)).has_value());            // under submission
  v1::Job revoke = SubmitJob();
  revoke.set_kind(v1::Job::KIND_REVOKE);
  v1::JobResult revoked;
  revoked.set_ca_answered(true);
  revoked.set_revoke_hresult(0);
  EXPECT_FALSE(JobEvent(revoke, revoked).has_value());
}

TEST(AdminEventsTest, DenialIsAJobFailureWithTheHresultAndTheRemedy) {
  v1::JobResult denied = CaAnswer(2, 0x80094012);  // CERTSRV_E_TEMPLATE_DENIED
  denied.set_disposition_message("Denied by Policy Module");
  std::optional<AdminEvent> e = JobEvent(SubmitJob(), denied);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->id, 1301u);
  EXPECT_EQ(e->type, AdminEventType::kError);
  EXPECT_THAT(e->text,
              AllOf(HasSubstr("SUBMIT job 42 for request tenants/t-1/requests/r-7 on CA "
                              "\"adcs01.corp.example\\Corp Issuing CA\" failed: the CA "
                              "answered disposition 2 (DENIED) with "),
                    HasSubstr("0x80094012 CERTSRV_E_TEMPLATE_DENIED"), HasSubstr("Remedy: "),
                    HasSubstr("CA message: Denied by Policy Module")));
}

TEST(AdminEventsTest, AgentSideFailureCarriesItsCodeAndHint) {
  v1::JobResult refused;
  refused.set_ca_answered(false);
  refused.set_error_code("POLICY_TEMPLATE_NOT_ALLOWED");
  refused.set_error_message("template \"Admin\" is not allowed");
  refused.set_hint("add --allowed-template=Admin to the service's flags");
  std::optional<AdminEvent> e = JobEvent(SubmitJob(), refused);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->id, 1301u);
  EXPECT_EQ(e->type, AdminEventType::kError);
  EXPECT_THAT(e->text, HasSubstr("failed before the CA answered: POLICY_TEMPLATE_NOT_ALLOWED: "
                                 "template \"Admin\" is not allowed add --allowed-template"));
}

TEST(AdminEventsTest, RpcServerUnavailableIsCaUnreachable) {
  std::optional<AdminEvent> e = JobEvent(SubmitJob(), CaAnswer(1, 0x800706BA));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->id, 1300u);
  EXPECT_EQ(e->type, AdminEventType::kError);
  EXPECT_THAT(e->text, AllOf(HasSubstr("CA \"adcs01.corp.example\\Corp Issuing CA\" "
                                       "unreachable (SUBMIT job 42"),
                             HasSubstr("0x800706BA"), HasSubstr("Remedy: ")));

  v1::JobResult timed_out;
  timed_out.set_ca_answered(false);
  timed_out.set_error_code("DEADLINE_EXCEEDED");
  timed_out.set_error_message("Submit took longer than 60 s");
  e = JobEvent(SubmitJob(), timed_out);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->id, 1300u);
  EXPECT_THAT(e->text, AllOf(HasSubstr("DEADLINE_EXCEEDED: Submit took longer than 60 s"),
                             HasSubstr("TCP 135"), Not(HasSubstr("failed before"))));
}

}  // namespace
}  // namespace certbridge::agent
