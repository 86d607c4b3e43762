// CertificateApi against the FakeStore: input that an attacker controls is bounded and
// checked before anything parses it, and nothing it carries reaches the CA attribute
// string unchecked.
#include "broker/service/certificate_api.h"

#include <string>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "broker/store/fake/fake_store.h"
#include "common/adcs/request_attributes.h"
#include "common/clock.h"
#include "common/pki/pki.h"

namespace certbridge::broker {
namespace {

class CertificateApiTest : public ::testing::Test {
 protected:
  CertificateApiTest() : api_(&store_, &store_, &clock_, CertificateApiOptions()) {
    EXPECT_TRUE(store_.CreateTenant({"t-1", "Tenant one", clock_.Now()}).ok());
    CertificateAuthorityRecord ca;
    ca.ca_id = "ca-1";
    ca.tenant_id = "t-1";
    ca.host = "adcs01.corp.example";
    ca.ca_name = "Corp Issuing CA";
    ca.display_name = "Corp";
    ca.create_time = clock_.Now();
    EXPECT_TRUE(store_.CreateCertificateAuthority(ca).ok());
    caller_.tenant_id = "t-1";
    caller_.key_id = "k-1";
    caller_.scopes = {"certificates"};
  }

  // An approved connector conn-1 on `host`, never connected, assigned to ca-1.
  void AssignApprovedConnector(const std::string& host) {
  EnrollmentTokenRecord token;
  token.token_hash = "h1";
  token.tenant_id = "t-1";
  token.create_time = clock_.Now();
  token.expire_time = clock_.Now() + absl::Hours(1);
  ASSERT_TRUE(store_.CreateEnrollmentToken(token).ok());
  ConnectorRecord connector;
  connector.connector_id = "conn-1";
  connector.host = host;
  connector.ca_identity = "CORP\\WIN01$";
  connector.registration_code_hash = "c1";
  connector.registration_code_expire_time = clock_.Now() + absl::Hours(1);
  connector.poll_secret_hash = "p1";
  connector.create_time = clock_.Now();
  ASSERT_TRUE(store_.RegisterConnector("h1", clock_.Now(), connector).ok());
  ASSERT_TRUE(store_.ApproveConnector("t-1", "conn-1", clock_.Now(), "chain", "01",
                                      clock_.Now() + absl::Hours(24)).ok());
  ASSERT_TRUE(store_.AssignCertificateAuthority("t-1", "ca-1", "conn-1").ok());
  }

  v1::CreateCertificateRequestRequest CsrRequest(const std::string& request_id) {
    auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    EXPECT_TRUE(key.ok());
    auto csr = pki::CreateCsrPem(*key, {.subject = "CN=device42"});
    EXPECT_TRUE(csr.ok());
    v1::CreateCertificateRequestRequest r;
    r.set_request_id(request_id);
    r.set_ca_id("ca-1");
    r.set_template_name("WebServer");
    r.set_csr_pem(*csr);
    return r;
  }

  FakeClock clock_;
  FakeStore store_;
  CertificateApi api_;
  Caller caller_;
};

// Before the fix, std::regex_match recursed once per character of the SID and overflowed
// the worker's stack: this call killed the broker.
TEST_F(CertificateApiTest, HugeSidIsRefusedByLengthWithoutParsing) {
  v1::CreateCertificateRequestRequest r = CsrRequest("huge-sid");
  r.set_sid("S-1-5-21" + std::string(40000, '1'));
  auto created = api_.Create(caller_, r);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(created.status().message(), "sid is 40008 bytes")) << created.status();

  r.set_sid("S-1-5-21" + std::string(2000, '-') + "1");
  EXPECT_EQ(api_.Create(caller_, r).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CertificateApiTest, ValidSidBecomesTheStrongMappingUrl) {
  v1::CreateCertificateRequestRequest r = CsrRequest("sid-ok");
  r.set_sid("S-1-5-21-3623811015-3361044348-30300820-1013");
  auto created = api_.Create(caller_, r);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->attributes,
            "CertificateTemplate:WebServer\n"
            "SAN:url=tag:microsoft.com,2022-09-14:sid:S-1-5-21-3623811015-3361044348-30300820-1013");
}

// Before the fix, a newline in a UPN passed the SAN check and became an extra line (a
// second attribute) in the string the agent hands to ICertRequest::Submit.
TEST_F(CertificateApiTest, UpnWithLineBreakCannotInjectAnAttribute) {
  v1::CreateCertificateRequestRequest r = CsrRequest("upn-injection");
  v1::SubjectAltName* san = r.add_subject_alt_names();
  san->set_type(v1::SubjectAltName::TYPE_UPN);
  san->set_value("device42@corp.example\nCertificateTemplate:DomainController");
  auto created = api_.Create(caller_, r);
  ASSERT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument) << created.status();
  EXPECT_TRUE(absl::StrContains(created.status().message(), "control character"))
      << created.status();

  san->set_value("device42@corp.example\r");
  EXPECT_EQ(api_.Create(caller_, r).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CertificateApiTest, EveryAttributeValueGoesThroughTheOneBuilder) {
  v1::CreateCertificateRequestRequest r = CsrRequest("sans-ok");
  v1::SubjectAltName* upn = r.add_subject_alt_names();
  upn->set_type(v1::SubjectAltName::TYPE_UPN);
  upn->set_value("device42@corp.example");
  v1::SubjectAltName* ip = r.add_subject_alt_names();
  ip->set_type(v1::SubjectAltName::TYPE_IP);
  ip->set_value("10.0.0.7");
  auto created = api_.Create(caller_, r);
  ASSERT_TRUE(created.ok()) << created.status();
  adcs::RequestAttributes parsed = adcs::ParseRequestAttributes(created->attributes);
  ASSERT_EQ(parsed.entries.size(), 2u);
  EXPECT_EQ(parsed.CertificateTemplate(), "WebServer");
  EXPECT_EQ(parsed.Get("SAN"), "upn=device42@corp.example&ipaddress=10.0.0.7");

  v1::CreateCertificateRequestRequest amp = CsrRequest("sans-amp");
  v1::SubjectAltName* dns = amp.add_subject_alt_names();
  dns->set_type(v1::SubjectAltName::TYPE_UPN);
  dns->set_value("a&dns=evil.example@corp.example");
  EXPECT_EQ(api_.Create(caller_, amp).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CertificateApiTest, OversizedFieldsAreRefusedByLength) {
  v1::CreateCertificateRequestRequest r = CsrRequest("big-san");
  v1::SubjectAltName* san = r.add_subject_alt_names();
  san->set_type(v1::SubjectAltName::TYPE_DNS);
  san->set_value(std::string(100000, 'a'));
  EXPECT_EQ(api_.Create(caller_, r).status().code(), absl::StatusCode::kInvalidArgument);

  v1::CreateCertificateRequestRequest keygen;
  keygen.set_request_id("big-subject");
  keygen.set_ca_id("ca-1");
  keygen.set_template_name("WebServer");
  keygen.mutable_key_generation()->set_key_spec(v1::KEY_SPEC_EC_P256);
  for (int i = 0; i < 1000; ++i) {
    v1::SubjectAttribute* a = keygen.mutable_key_generation()->mutable_subject()
                                  ->mutable_attributes()->add_attributes();
    a->set_type("OU");
    a->set_value("x");
  }
  EXPECT_EQ(api_.Create(caller_, keygen).status().code(), absl::StatusCode::kInvalidArgument);
}

// The code of a failed earlier revocation stayed on the request, and the next Revoke call,
// which waits for a REVOKE_* or AGENT_POLICY_* code, returned at once with that stale one.
TEST_F(CertificateApiTest, RevokeClearsTheOutcomeOfAnEarlierAttempt) {
  auto created = api_.Create(caller_, CsrRequest("revoke-twice"));
  ASSERT_TRUE(created.ok()) << created.status();
  CertificateRequestRecord issued = *created;
  issued.state = RequestState::kIssued;
  issued.serial_hex = "4F1C";
  issued.error_code = "REVOKE_CA_REFUSED";
  issued.error_message = "the CA refused the revocation";
  ASSERT_TRUE(store_.UpdateCertificateRequest("t-1", issued.name, {RequestState::kQueued}, issued,
                                              /*fail_open_jobs=*/true)
                  .ok());
  v1::RevokeCertificateRequest r;
  r.set_name(issued.name);
  auto revoking = api_.RevokeCertificate(caller_, r);
  ASSERT_TRUE(revoking.ok()) << revoking.status();
  EXPECT_EQ(revoking->state(), v1::CertificateRequest::STATE_ISSUED);
  EXPECT_EQ(revoking->error_code(), "");
  EXPECT_EQ(store_.GetCertificateRequest("t-1", issued.name)->error_code, "");
}

TEST_F(CertificateApiTest, RevokeBySerialAcceptsEveryCommonSpellingAndBoundsIt) {
  v1::RevokeCertificateRequest r;
  r.mutable_certificate_serial()->set_ca_id("ca-1");
  r.mutable_certificate_serial()->set_serial_number(std::string(5000, '0'));
  EXPECT_EQ(api_.RevokeCertificate(caller_, r).status().code(), absl::StatusCode::kInvalidArgument);
  r.mutable_certificate_serial()->set_serial_number("not-hex");
  EXPECT_EQ(api_.RevokeCertificate(caller_, r).status().code(), absl::StatusCode::kInvalidArgument);
  r.mutable_certificate_serial()->set_serial_number("0a:1b:2c");  // well-formed, but no such certificate
  EXPECT_EQ(api_.RevokeCertificate(caller_, r).status().code(), absl::StatusCode::kNotFound);
}

// Revoking a REVOKED certificate again: the same reason is a retry and gets the request back;
// another reason is FAILED_PRECONDITION and queues no job (docs/certificates.md).
TEST_F(CertificateApiTest, RevokingARevokedCertificateAgainNeedsTheSameReason) {
  auto created = api_.Create(caller_, CsrRequest("revoked-once"));
  ASSERT_TRUE(created.ok()) << created.status();
  CertificateRequestRecord revoked = *created;
  revoked.state = RequestState::kRevoked;
  revoked.serial_hex = "4F1D";
  revoked.revocation_reason = 4;  // superseded
  ASSERT_TRUE(store_.UpdateCertificateRequest("t-1", revoked.name, {RequestState::kQueued},
                                              revoked, /*fail_open_jobs=*/true)
                  .ok());
  v1::RevokeCertificateRequest r;
  r.set_name(revoked.name);
  r.set_reason(v1::REVOCATION_REASON_SUPERSEDED);
  auto again = api_.RevokeCertificate(caller_, r);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->state(), v1::CertificateRequest::STATE_REVOKED);
  EXPECT_EQ(again->revocation_reason(), v1::REVOCATION_REASON_SUPERSEDED);

  r.set_reason(v1::REVOCATION_REASON_KEY_COMPROMISE);
  absl::Status other = api_.RevokeCertificate(caller_, r).status();
  EXPECT_EQ(other.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(other.message(), "REVOCATION_REASON_SUPERSEDED")) << other;
  EXPECT_EQ(store_.GetCertificateRequest("t-1", revoked.name)->revocation_reason, 4);
}

// The target is a oneof: a request naming none is refused, not read as an empty name.
TEST_F(CertificateApiTest, GetAndRevokeNeedATarget) {
  EXPECT_EQ(api_.GetCertificateRequest(caller_, v1::GetCertificateRequestRequest()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(api_.RevokeCertificate(caller_, v1::RevokeCertificateRequest()).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto created = api_.Create(caller_, CsrRequest("by-request-id"));
  ASSERT_TRUE(created.ok()) << created.status();
  v1::GetCertificateRequestRequest get;
  get.set_request_id("by-request-id");
  auto found = api_.GetCertificateRequest(caller_, get);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->name(), created->name);
}

// AIP-158: a page_size above the maximum is read as the maximum; a negative one is refused.
TEST_F(CertificateApiTest, PageSizeAboveTheMaximumIsClamped) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(api_.Create(caller_, CsrRequest(absl::StrCat("page-", i))).ok());
  }
  v1::ListCertificateRequestsRequest list;
  list.set_page_size(100000);
  auto page = api_.ListCertificateRequests(caller_, list);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->certificate_requests_size(), 3);
  list.set_page_size(-1);
  EXPECT_EQ(api_.ListCertificateRequests(caller_, list).status().code(), absl::StatusCode::kInvalidArgument);
}

// After CURSOR_EXPIRED a client lists and watches from the list's watch_cursor: it is the
// tenant's newest change when the page was read, so watching from it sends exactly the
// changes made after the list (issue 10).
TEST_F(CertificateApiTest, ListReturnsTheWatchCursorOfItsRead) {
  v1::ListCertificateRequestsRequest list;
  auto empty = api_.ListCertificateRequests(caller_, list);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->watch_cursor(), "0");  // no change yet: watch from the oldest kept

  auto first = api_.Create(caller_, CsrRequest("listed"));
  ASSERT_TRUE(first.ok()) << first.status();
  auto page = api_.ListCertificateRequests(caller_, list);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->certificate_requests_size(), 1);
  EXPECT_EQ(page->watch_cursor(), absl::StrCat(*store_.LatestChangeSeq("t-1")));

  auto later = api_.Create(caller_, CsrRequest("after-the-list"));
  ASSERT_TRUE(later.ok()) << later.status();
  v1::WatchCertificateRequestsRequest watch;
  watch.set_cursor(page->watch_cursor());
  absl::StatusOr<int64_t> cursor = api_.WatchCursor(caller_, watch);
  ASSERT_TRUE(cursor.ok()) << cursor.status();
  auto changes = store_.ListRequestChanges("t-1", *cursor, 100);
  ASSERT_TRUE(changes.ok()) << changes.status();
  ASSERT_EQ(changes->size(), 1u);
  EXPECT_EQ((*changes)[0].name, later->name);

  watch.set_cursor("-1");
  EXPECT_EQ(api_.WatchCursor(caller_, watch).status().code(), absl::StatusCode::kInvalidArgument);
}

// waiting_reason reaches keys with only the `certificates` scope: before the fix it named
// the customer's CA server host of a disconnected connector.
TEST_F(CertificateApiTest, WaitingReasonDoesNotShowConnectorHosts) {
  AssignApprovedConnector("secret-adcs-host.corp.example");

  auto created = api_.Create(caller_, CsrRequest("waiting"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(absl::StrContains(created->waiting_reason, "conn-1 (never connected)"))
      << created->waiting_reason;
  EXPECT_FALSE(absl::StrContains(created->waiting_reason, "secret-adcs-host"))
      << created->waiting_reason;
}

// The request_id is checked by the insert, not by a read before it (issue 9); a repeat
// still gets the first call's request after its CA was deleted, and other parameters under
// the same request_id are still refused.
TEST_F(CertificateApiTest, ARepeatGetsTheFirstRequestEvenAfterItsCaWasDeleted) {
  const v1::CreateCertificateRequestRequest first = CsrRequest("repeat");
  bool inserted = false;
  auto created = api_.Create(caller_, first, &inserted);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(inserted);

  auto again = api_.Create(caller_, first, &inserted);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(inserted);
  EXPECT_EQ(again->name, created->name);

  v1::CreateCertificateRequestRequest other = first;
  other.set_template_name("OtherTemplate");
  EXPECT_EQ(api_.Create(caller_, other).status().code(), absl::StatusCode::kAlreadyExists);

  ASSERT_TRUE(store_.DeleteCertificateAuthority("t-1", "ca-1").ok());
  auto after_delete = api_.Create(caller_, first, &inserted);
  ASSERT_TRUE(after_delete.ok()) << after_delete.status();
  EXPECT_FALSE(inserted);
  EXPECT_EQ(after_delete->name, created->name);
  EXPECT_EQ(api_.Create(caller_, other).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(api_.Create(caller_, CsrRequest("new-after-delete")).status().code(),
            absl::StatusCode::kNotFound);
}

// A create that found the CA served by a live connector lets the next creates within
// served_memo skip the connector reads (issue 9); past it, a disabled connector shows.
TEST_F(CertificateApiTest, AServedCaIsTakenAsServedForServedMemoOnly) {
  AssignApprovedConnector("adcs.corp.example");
  SessionRecord session{"conn-1", "t-1", "replica-1", clock_.Now(), clock_.Now()};
  ASSERT_TRUE(store_.UpsertSession(session).ok());

  auto served = api_.Create(caller_, CsrRequest("served"));
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->waiting_reason, "");

  ASSERT_TRUE(store_.TransitionConnector("t-1", "conn-1", {ConnectorState::kActive},
                                         ConnectorState::kDisabled).ok());
  auto within = api_.Create(caller_, CsrRequest("within-memo"));
  ASSERT_TRUE(within.ok()) << within.status();
  EXPECT_EQ(within->waiting_reason, "");

  clock_.Advance(CertificateApiOptions().served_memo);
  auto after = api_.Create(caller_, CsrRequest("after-memo"));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(absl::StrContains(after->waiting_reason, "disabled or rejected (conn-1)"))
      << after->waiting_reason;
}

// Before, DISPATCHED and PENDING_APPROVAL requests never ended and RETRIEVE was retried
// for ever.
TEST_F(CertificateApiTest, RequestsWaitingAtTheCaExpireByAge) {
  auto pending = api_.Create(caller_, CsrRequest("pending"));
  auto dispatched = api_.Create(caller_, CsrRequest("dispatched"));
  ASSERT_TRUE(pending.ok() && dispatched.ok());
  CertificateRequestRecord p = *pending;
  p.state = RequestState::kPendingApproval;
  p.ca_request_id = 77;
  ASSERT_TRUE(store_.UpdateCertificateRequest("t-1", p.name, {RequestState::kQueued}, p, false).ok());
  CertificateRequestRecord d = *dispatched;
  d.state = RequestState::kDispatched;
  ASSERT_TRUE(store_.UpdateCertificateRequest("t-1", d.name, {RequestState::kQueued}, d, false).ok());

  clock_.Advance(absl::Hours(23));
  EXPECT_EQ(*api_.ExpireWaitingRequests(), 0);
  clock_.Advance(absl::Hours(2));
  EXPECT_EQ(*api_.ExpireWaitingRequests(), 1);
  auto d_after = store_.GetCertificateRequest("t-1", d.name);
  EXPECT_EQ(d_after->state, RequestState::kExpired);
  EXPECT_EQ(d_after->error_code, "DISPATCH_TIMEOUT");
  EXPECT_TRUE(absl::StrContains(d_after->remedy, "CertbridgeRequestId:" + d.name)) << d_after->remedy;
  EXPECT_EQ(store_.GetCertificateRequest("t-1", p.name)->state, RequestState::kPendingApproval);

  clock_.Advance(absl::Hours(24 * 30));
  EXPECT_EQ(*api_.ExpireWaitingRequests(), 1);
  auto p_after = store_.GetCertificateRequest("t-1", p.name);
  EXPECT_EQ(p_after->state, RequestState::kExpired);
  EXPECT_EQ(p_after->error_code, "PENDING_APPROVAL_TIMEOUT");
  EXPECT_TRUE(absl::StrContains(p_after->remedy, "CA request 77")) << p_after->remedy;
}

}  // namespace
}  // namespace certbridge::broker
