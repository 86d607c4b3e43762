// ScepEnrollmentService against the FakeStore and FakeScepStore: who may enroll is decided
// before anything reaches the CA, every enrollment is a normal certificate request, and a
// transactionID is issued at most once.
#include "broker/scep/scep_enrollment_service.h"

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "broker/scep/fake_scep_store.h"
#include "broker/scep/intune_validation.h"
#include "broker/scep/ra_key_vault.h"
#include "broker/service/certificate_api.h"
#include "broker/service/request_change_waiters.h"
#include "broker/store/fake/fake_store.h"
#include "common/clock.h"
#include "common/pki/pki.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certbridge::broker::scep {
namespace {

using ::testing::HasSubstr;
using Status = ScepEnrollmentResult::Status;

constexpr char kSid[] = "S-1-5-21-3623811015-3361044348-30300820-1013";
constexpr char kSecret[] = "0123456789abcdef0123456789abcdef-test-secret";

class ScepEnrollmentServiceTest : public ::testing::Test {
 protected:
  ScepEnrollmentServiceTest()
      : scep_store_(&store_),
        certificates_(&store_, &store_, &clock_, CertificateApiOptions()),
        vault_(*RaKeyVault::Create(kSecret)) {
    EXPECT_TRUE(store_.CreateTenant({"t-1", "Tenant one", clock_.Now()}).ok());
    EXPECT_TRUE(store_.CreateTenant({"t-2", "Tenant two", clock_.Now()}).ok());
    CertificateAuthorityRecord ca;
    ca.ca_id = "ca-1";
    ca.tenant_id = "t-1";
    ca.host = "adcs01.corp.example";
    ca.ca_name = "Corp Issuing CA";
    ca.create_time = clock_.Now();
    EXPECT_TRUE(store_.CreateCertificateAuthority(ca).ok());
    auto root = pki::SigningCa::CreateSelfSigned("CN=Corp Issuing CA", pki::KeyType::kEcP256,
                                                 clock_.Now() - absl::Hours(1),
                                                 clock_.Now() + absl::Hours(24 * 3650));
    EXPECT_TRUE(root.ok());
    ca_ = std::move(*root);
    AddProfile("p-dyn", ScepChallengeMode::kDynamic);
    options_.wait = absl::ZeroDuration();
    options_.intune = &intune_;
    options_.changes = &waiters_;
    store_.SetChangeListener(&wake_waiters_);
    Rebuild();
  }

  ScepBackEnd BackEnd(const RaKeyVault* vault) {
    return {.store = &store_,
            .requests = &store_,
            .scep_store = &scep_store_,
            .certificates = &certificates_,
            .vault = vault,
            .clock = &clock_};
  }

  void Rebuild() { service_ = std::make_unique<ScepEnrollmentService>(BackEnd(&vault_), options_); }

  void AddProfile(const std::string& id, ScepChallengeMode mode, ScepPolicy policy = {}) {
    ScepProfileRecord p;
    p.profile_id = id;
    p.tenant_id = "t-1";
    p.ca_id = "ca-1";
    p.template_name = "Device";
    p.ra_template_name = "CertbridgeScepRa";
    p.challenge_mode = mode;
    p.policy = std::move(policy);
    if (mode == ScepChallengeMode::kStatic) p.static_challenge_hash = pki::Sha256Hex("jamf-static");
    p.create_time = clock_.Now();
    auto ra_key = pki::PrivateKey::Generate(pki::KeyType::kRsa2048);
    EXPECT_TRUE(ra_key.ok());
    auto sealed = vault_.Seal(*ra_key, id);
    EXPECT_TRUE(sealed.ok());
    pki::IssueParams params;
    params.csr_der = pki::ParseCsr(*pki::CreateCsrPem(*ra_key, {.subject = "CN=SCEP RA"}))->der;
    params.not_before = clock_.Now() - absl::Minutes(5);
    params.not_after = clock_.Now() + absl::Hours(24 * 365);
    auto ra_cert = ca_->Issue(params);
    EXPECT_TRUE(ra_cert.ok()) << ra_cert.status();
    p.ra_certificate_pem = ra_cert->pem;
    p.ra_chain_pem = ca_->certificate().pem;
    p.ra_key_encrypted_pem = *sealed;
    p.ra_not_after = ra_cert->not_after;
    ASSERT_TRUE(scep_store_.CreateScepProfile(p).ok());
  }

  std::string MintChallenge(const std::string& profile_id, const std::string& subject,
                            std::vector<std::string> sans, const std::string& sid,
                            absl::Duration ttl = absl::Hours(1)) {
    const std::string challenge = pki::RandomToken(32);
    ScepChallengeRecord c;
    c.challenge_hash = pki::Sha256Hex(challenge);
    c.tenant_id = "t-1";
    c.profile_id = profile_id;
    c.device_id = "device-42";
    c.subject = subject;
    c.subject_alt_names = std::move(sans);
    c.sid = sid;
    c.create_time = clock_.Now();
    c.expire_time = clock_.Now() + ttl;
    EXPECT_TRUE(scep_store_.CreateScepChallenge(c).ok());
    return challenge;
  }

  struct Device {
    std::unique_ptr<pki::PrivateKey> key;
    std::string csr_der;
  };
  Device NewDevice(const std::string& subject, std::vector<pki::SubjectAltName> sans = {},
                   pki::KeyType type = pki::KeyType::kEcP256) {
    Device d;
    d.key = std::make_unique<pki::PrivateKey>(*pki::PrivateKey::Generate(type));
    auto pem = pki::CreateCsrPem(*d.key, {.subject = subject, .sans = std::move(sans)});
    EXPECT_TRUE(pem.ok()) << pem.status();
    d.csr_der = pki::ParseCsr(*pem)->der;
    return d;
  }

  ScepEnrollmentResult Enroll(const std::string& profile_id, const std::string& transaction_id,
                              const std::string& csr_der, const std::string& challenge) {
    ScepEnrollmentRequest r;
    r.transaction_id = transaction_id;
    r.csr_der = csr_der;
    r.challenge_password = challenge;
    auto material = service_->FindProfile(profile_id);
    EXPECT_TRUE(material.ok()) << material.status();
    return service_->Enroll(*material, r);
  }

  ScepEnrollmentResult Poll(const std::string& profile_id, const std::string& transaction_id) {
    auto material = service_->FindProfile(profile_id);
    EXPECT_TRUE(material.ok()) << material.status();
    return service_->Poll(*material, transaction_id);
  }

  // What the agent and the CA do: the request becomes ISSUED with a certificate for its CSR.
  pki::CertificateInfo IssueAtCa(const std::string& profile_id, const std::string& transaction_id) {
    auto request = store_.GetCertificateRequestByRequestId("t-1", ScepRequestId(profile_id, transaction_id));
    EXPECT_TRUE(request.ok()) << request.status();
    pki::IssueParams params;
    params.csr_der = pki::ParseCsr(request->csr_pem)->der;
    params.not_before = clock_.Now() - absl::Minutes(5);
    params.not_after = clock_.Now() + absl::Hours(24 * 365);
    auto cert = ca_->Issue(params);
    EXPECT_TRUE(cert.ok()) << cert.status();
    CertificateRequestRecord update = *request;
    update.state = RequestState::kIssued;
    update.certificate_pem = cert->pem;
    update.serial_hex = cert->serial_hex;
    update.not_after = cert->not_after;
    EXPECT_TRUE(store_.UpdateCertificateRequest("t-1", request->name,
                                                {RequestState::kQueued, RequestState::kDispatched,
                                                 RequestState::kPendingApproval},
                                                update, /*fail_open_jobs=*/true)
                    .ok());
    return *cert;
  }

  int RequestCount() {
    auto list = store_.ListCertificateRequests("t-1", {}, 0, 100);
    EXPECT_TRUE(list.ok());
    return static_cast<int>(list->size());
  }

  std::vector<std::string> AuditActions() {
    std::vector<std::string> out;
    auto events = store_.ListAuditEvents("t-1", 0, 100);
    EXPECT_TRUE(events.ok()) << events.status();
    for (const auto& e : *events) out.push_back(e.action);
    return out;
  }

  // What the broker's ChangeFanout does for Enroll: the fake store calls it after each
  // write, as PostgresStore's listener does for every replica's commits.
  class WakeWaiters final : public ChangeListener {
   public:
    explicit WakeWaiters(RequestChangeWaiters* waiters) : waiters_(waiters) {}
    void OnJobsReady(const std::string&, const std::string&) override {}
    void OnRequestChanged(const std::string& tenant_id, const std::string& name, int64_t,
                          std::optional<RequestState>) override {
      waiters_->RequestChanged(tenant_id, name);
    }

   private:
    RequestChangeWaiters* waiters_;
  };

  // Waits (bounded) until an Enroll on another thread is subscribed to its request.
  bool SomeoneWaits() {
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (waiters_.Subscribed() == 0) {
      if (absl::Now() > give_up) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }

  FakeClock clock_;
  RequestChangeWaiters waiters_;
  WakeWaiters wake_waiters_{&waiters_};
  FakeStore store_;
  FakeScepStore scep_store_;
  CertificateApi certificates_;
  RaKeyVault vault_;
  std::unique_ptr<pki::SigningCa> ca_;
  FakeIntuneValidation intune_;
  ScepEnrollmentOptions options_;
  std::unique_ptr<ScepEnrollmentService> service_;
};

TEST_F(ScepEnrollmentServiceTest, DynamicChallengeEnrollsAsANormalRequestThenPollCollects) {
  Device device = NewDevice("CN=device42", {{pki::SubjectAltName::Type::kDns, "device42.corp.example"}});
  const std::string challenge =
      MintChallenge("p-dyn", "CN=device42", {"dns:device42.corp.example"}, kSid);
  ScepEnrollmentResult first = Enroll("p-dyn", "tx-1", device.csr_der, challenge);
  EXPECT_EQ(first.status, Status::kPending) << first.detail;

  auto request = store_.GetCertificateRequestByRequestId("t-1", ScepRequestId("p-dyn", "tx-1"));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->state, RequestState::kQueued);
  EXPECT_EQ(request->template_name, "Device");
  EXPECT_EQ(request->ca_id, "ca-1");
  EXPECT_EQ(request->sid, kSid);
  EXPECT_EQ(request->device_id, "device-42");
  EXPECT_EQ(request->labels.at("scep_profile"), "p-dyn");
  EXPECT_EQ(request->labels.at("scep_transaction"), "tx-1");
  // The SID reaches the CA as the strong-mapping SAN URL, exactly as through the gRPC API.
  EXPECT_THAT(request->attributes, HasSubstr(absl::StrCat("tag:microsoft.com,2022-09-14:sid:", kSid)));

  EXPECT_EQ(Poll("p-dyn", "tx-1").status, Status::kPending);
  pki::CertificateInfo issued = IssueAtCa("p-dyn", "tx-1");
  ScepEnrollmentResult polled = Poll("p-dyn", "tx-1");
  ASSERT_EQ(polled.status, Status::kSuccess) << polled.detail;
  EXPECT_EQ(polled.certificate_der, issued.der);
  EXPECT_THAT(AuditActions(), ::testing::Contains("scep.enroll"));
}

TEST_F(ScepEnrollmentServiceTest, RetriedTransactionIsAnsweredWithoutASecondRequest) {
  Device device = NewDevice("CN=device42");
  const std::string challenge = MintChallenge("p-dyn", "CN=device42", {}, "");
  EXPECT_EQ(Enroll("p-dyn", "tx-1", device.csr_der, challenge).status, Status::kPending);
  IssueAtCa("p-dyn", "tx-1");
  // The device resends the same PKCSReq (its HTTP call timed out): same request, issued once.
  ScepEnrollmentResult again = Enroll("p-dyn", "tx-1", device.csr_der, challenge);
  EXPECT_EQ(again.status, Status::kSuccess) << again.detail;
  EXPECT_EQ(RequestCount(), 1);
}

TEST_F(ScepEnrollmentServiceTest, ReusedChallengeIsRefusedForAnotherTransaction) {
  const std::string challenge = MintChallenge("p-dyn", "", {}, "");
  EXPECT_EQ(Enroll("p-dyn", "tx-1", NewDevice("CN=a").csr_der, challenge).status, Status::kPending);
  ScepEnrollmentResult second = Enroll("p-dyn", "tx-2", NewDevice("CN=b").csr_der, challenge);
  EXPECT_EQ(second.status, Status::kFailure);
  EXPECT_EQ(second.fail_info, ScepFailInfo::kBadRequest);
  EXPECT_THAT(second.detail, HasSubstr("already used"));
  EXPECT_EQ(RequestCount(), 1);
}

TEST_F(ScepEnrollmentServiceTest, SameTransactionWithAnotherCsrIsRefused) {
  const std::string challenge = MintChallenge("p-dyn", "", {}, "");
  EXPECT_EQ(Enroll("p-dyn", "tx-1", NewDevice("CN=a").csr_der, challenge).status, Status::kPending);
  ScepEnrollmentResult other = Enroll("p-dyn", "tx-1", NewDevice("CN=a").csr_der, challenge);
  EXPECT_EQ(other.status, Status::kFailure);
  EXPECT_THAT(other.detail, HasSubstr("already used with another CSR"));
  EXPECT_EQ(RequestCount(), 1);
}

TEST_F(ScepEnrollmentServiceTest, WrongOrMissingChallengeIsRefusedBeforeTheCa) {
  MintChallenge("p-dyn", "", {}, "");
  ScepEnrollmentResult wrong = Enroll("p-dyn", "tx-1", NewDevice("CN=a").csr_der, "guess");
  EXPECT_EQ(wrong.status, Status::kFailure);
  EXPECT_EQ(wrong.fail_info, ScepFailInfo::kBadRequest);
  EXPECT_THAT(wrong.detail, HasSubstr("not one this profile issued"));
  ScepEnrollmentResult none = Enroll("p-dyn", "tx-2", NewDevice("CN=a").csr_der, "");
  EXPECT_EQ(none.status, Status::kFailure);
  EXPECT_THAT(none.detail, HasSubstr("no challengePassword"));
  EXPECT_EQ(RequestCount(), 0);
  EXPECT_THAT(AuditActions(), ::testing::ElementsAre("scep.refuse", "scep.refuse"));
}

TEST_F(ScepEnrollmentServiceTest, ExpiredChallengeIsBadTime) {
  const std::string challenge = MintChallenge("p-dyn", "", {}, "", absl::Minutes(10));
  clock_.Advance(absl::Minutes(11));
  ScepEnrollmentResult late = Enroll("p-dyn", "tx-1", NewDevice("CN=a").csr_der, challenge);
  EXPECT_EQ(late.status, Status::kFailure);
  EXPECT_EQ(late.fail_info, ScepFailInfo::kBadTime);
  EXPECT_EQ(RequestCount(), 0);
}

TEST_F(ScepEnrollmentServiceTest, ChallengeOfAnotherProfileIsUnknown) {
  AddProfile("p-other", ScepChallengeMode::kDynamic);
  const std::string challenge = MintChallenge("p-other", "", {}, "");
  ScepEnrollmentResult r = Enroll("p-dyn", "tx-1", NewDevice("CN=a").csr_der, challenge);
  EXPECT_EQ(r.status, Status::kFailure);
  EXPECT_THAT(r.detail, HasSubstr("not one this profile issued"));
}

TEST_F(ScepEnrollmentServiceTest, CsrOutsideTheBindingIsRefusedAndTheChallengeStaysUsable) {
  const std::string challenge =
      MintChallenge("p-dyn", "CN=device42", {"dns:device42.corp.example"}, "");
  ScepEnrollmentResult other_subject = Enroll(
      "p-dyn", "tx-1",
      NewDevice("CN=device43", {{pki::SubjectAltName::Type::kDns, "device42.corp.example"}}).csr_der,
      challenge);
  EXPECT_EQ(other_subject.status, Status::kFailure);
  EXPECT_THAT(other_subject.detail, HasSubstr("not the one the challenge was issued for"));
  ScepEnrollmentResult extra_san = Enroll(
      "p-dyn", "tx-2",
      NewDevice("CN=device42", {{pki::SubjectAltName::Type::kDns, "device42.corp.example"},
                                {pki::SubjectAltName::Type::kDns, "dc01.corp.example"}})
          .csr_der,
      challenge);
  EXPECT_EQ(extra_san.status, Status::kFailure);
  EXPECT_THAT(extra_san.detail, HasSubstr("not the ones the challenge was issued for"));
  EXPECT_EQ(RequestCount(), 0);
  // A refused CSR does not burn the challenge: the device's real CSR still enrolls.
  ScepEnrollmentResult right = Enroll(
      "p-dyn", "tx-3",
      NewDevice("CN=device42", {{pki::SubjectAltName::Type::kDns, "device42.corp.example"}}).csr_der,
      challenge);
  EXPECT_EQ(right.status, Status::kPending) << right.detail;
}

TEST_F(ScepEnrollmentServiceTest, PolicyRefusesKeysAndNamesOutsideTheProfile) {
  ScepPolicy policy;
  policy.allow_rsa = false;
  policy.subject_patterns = {"CN=*.corp.example"};
  policy.san_patterns = {"dns:*.corp.example"};
  AddProfile("p-pol", ScepChallengeMode::kDynamic, policy);
  const std::string challenge = MintChallenge("p-pol", "", {}, "");
  ScepEnrollmentResult rsa =
      Enroll("p-pol", "tx-1", NewDevice("CN=h.corp.example", {}, pki::KeyType::kRsa2048).csr_der, challenge);
  EXPECT_EQ(rsa.status, Status::kFailure);
  EXPECT_THAT(rsa.detail, HasSubstr("only EC keys"));
  ScepEnrollmentResult subject = Enroll("p-pol", "tx-2", NewDevice("CN=h.evil.example").csr_der, challenge);
  EXPECT_THAT(subject.detail, HasSubstr("matches none of the profile's subject patterns"));
  ScepEnrollmentResult san = Enroll(
      "p-pol", "tx-3",
      NewDevice("CN=h.corp.example", {{pki::SubjectAltName::Type::kDns, "dc01.evil.example"}}).csr_der,
      challenge);
  EXPECT_THAT(san.detail, HasSubstr("SAN dns:dc01.evil.example matches none"));
  EXPECT_EQ(RequestCount(), 0);
  EXPECT_EQ(Enroll("p-pol", "tx-4", NewDevice("CN=h.corp.example").csr_der, challenge).status,
            Status::kPending);
}

TEST_F(ScepEnrollmentServiceTest, StaticChallengeComparesTheProfileSecret) {
  AddProfile("p-static", ScepChallengeMode::kStatic);
  ScepEnrollmentResult wrong = Enroll("p-static", "tx-1", NewDevice("CN=a").csr_der, "jamf-statid");
  EXPECT_EQ(wrong.status, Status::kFailure);
  EXPECT_THAT(wrong.detail, HasSubstr("static challenge"));
  EXPECT_EQ(Enroll("p-static", "tx-2", NewDevice("CN=a").csr_der, "jamf-static").status, Status::kPending);
  // Static challenges are not single-use.
  EXPECT_EQ(Enroll("p-static", "tx-3", NewDevice("CN=b").csr_der, "jamf-static").status, Status::kPending);
}

TEST_F(ScepEnrollmentServiceTest, IntuneModeAsksTheValidationSeam) {
  AddProfile("p-intune", ScepChallengeMode::kIntune);
  ScepEnrollmentResult refused = Enroll("p-intune", "tx-1", NewDevice("CN=a").csr_der, "intune-blob");
  EXPECT_EQ(refused.status, Status::kFailure);
  EXPECT_THAT(refused.detail, HasSubstr("Intune"));
  intune_.Approve("tx-2");
  EXPECT_EQ(Enroll("p-intune", "tx-2", NewDevice("CN=a").csr_der, "intune-blob").status, Status::kPending);
}

TEST_F(ScepEnrollmentServiceTest, RenewalSignedWithTheIssuedCertificateNeedsNoChallenge) {
  Device device = NewDevice("CN=device42");
  const std::string challenge = MintChallenge("p-dyn", "CN=device42", {}, kSid);
  Enroll("p-dyn", "tx-1", device.csr_der, challenge);
  pki::CertificateInfo issued = IssueAtCa("p-dyn", "tx-1");

  Device renewed = NewDevice("CN=device42");
  ScepEnrollmentRequest r;
  r.transaction_id = "tx-renew";
  r.csr_der = renewed.csr_der;
  r.renewal = true;
  r.signer_certificate_der = issued.der;
  ScepEnrollmentResult result = service_->Enroll(*service_->FindProfile("p-dyn"), r);
  EXPECT_EQ(result.status, Status::kPending) << result.detail;
  auto request = store_.GetCertificateRequestByRequestId(
      "t-1", ScepRequestId("p-dyn", RenewalTransactionKey("tx-renew", issued.serial_hex)));
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->sid, kSid);  // the strong mapping carries over to the renewed certificate

  // A PKCSReq signed with the issued certificate (how some clients renew) is a renewal too.
  r.transaction_id = "tx-renew-pkcsreq";
  r.renewal = false;
  r.csr_der = NewDevice("CN=device42").csr_der;
  EXPECT_EQ(service_->Enroll(*service_->FindProfile("p-dyn"), r).status, Status::kPending);
  r.renewal = true;

  // A certificate this profile did not issue does not renew.
  auto stranger = pki::SigningCa::CreateSelfSigned("CN=device42", pki::KeyType::kEcP256,
                                                   clock_.Now() - absl::Hours(1), clock_.Now() + absl::Hours(1));
  r.transaction_id = "tx-renew-2";
  r.signer_certificate_der = (*stranger)->certificate().der;
  ScepEnrollmentResult refused = service_->Enroll(*service_->FindProfile("p-dyn"), r);
  EXPECT_EQ(refused.status, Status::kFailure);
  EXPECT_EQ(refused.fail_info, ScepFailInfo::kBadCertId);
}

// scepclient keeps its key: its renewal has the first enrollment's transactionID and the
// same CSR, signed with the issued certificate. It is a new request, not a retry, and Poll
// of that transactionID follows to it.
TEST_F(ScepEnrollmentServiceTest, RenewalWithTheSameKeyAndTransactionIsANewRequest) {
  Device device = NewDevice("CN=device42");
  const std::string challenge = MintChallenge("p-dyn", "", {}, "");
  Enroll("p-dyn", "tx-1", device.csr_der, challenge);
  pki::CertificateInfo first = IssueAtCa("p-dyn", "tx-1");
  ScepEnrollmentRequest r;
  r.transaction_id = "tx-1";
  r.csr_der = device.csr_der;
  r.challenge_password = challenge;  // the reused CSR still carries the used challenge
  r.renewal = false;                 // and scepclient sends it as a PKCSReq
  r.signer_certificate_der = first.der;
  EXPECT_EQ(service_->Enroll(*service_->FindProfile("p-dyn"), r).status, Status::kPending);
  EXPECT_EQ(RequestCount(), 2);
  EXPECT_EQ(Poll("p-dyn", "tx-1").status, Status::kPending);  // the renewal, not the first
  EXPECT_EQ(service_->Enroll(*service_->FindProfile("p-dyn"), r).status, Status::kPending);
  EXPECT_EQ(RequestCount(), 2);  // a retry of the renewal is the same request
}

// A device enrolling on a thread of its own (as on a SCEP listener connection), waited for
// with a deadline: Answered() is false if Enroll has not returned within it.
class DeviceThread {
 public:
  explicit DeviceThread(std::function<ScepEnrollmentResult()> enroll)
      : thread_([this, enroll = std::move(enroll)] {
          const absl::Time start = absl::Now();
          result_ = enroll();
          took_ = absl::Now() - start;
          answered_.Notify();
        }) {}
  ~DeviceThread() { thread_.join(); }
  bool Answered(absl::Duration within) { return answered_.WaitForNotificationWithTimeout(within); }
  bool AnsweredYet() const { return answered_.HasBeenNotified(); }
  // REQUIRES: Answered() returned true.
  const ScepEnrollmentResult& result() const { return result_; }
  absl::Duration took() const { return took_; }

 private:
  ScepEnrollmentResult result_;
  absl::Duration took_;
  absl::Notification answered_;
  std::thread thread_;
};

TEST_F(ScepEnrollmentServiceTest, EnrollIsAnsweredWhenTheStorePublishesTheChange) {
  options_.wait = absl::Hours(1);  // only the change can end this wait within the test
  Rebuild();
  const std::string challenge = MintChallenge("p-dyn", "", {}, "");
  const std::string csr = NewDevice("CN=a").csr_der;
  DeviceThread device([&] { return Enroll("p-dyn", "tx-1", csr, challenge); });
  ASSERT_TRUE(SomeoneWaits());
  EXPECT_FALSE(device.AnsweredYet());
  const pki::CertificateInfo issued = IssueAtCa("p-dyn", "tx-1");  // publishes the change
  const bool in_time = device.Answered(absl::Seconds(30));
  if (!in_time) waiters_.Drain();  // let the thread end so the test can report
  ASSERT_TRUE(in_time) << "Enroll was not woken by the change";
  EXPECT_EQ(device.result().status, Status::kSuccess) << device.result().detail;
  EXPECT_EQ(device.result().certificate_der, issued.der);
  EXPECT_EQ(waiters_.Subscribed(), 0);
}

TEST_F(ScepEnrollmentServiceTest, ChangesOfOtherRequestsDoNotEndTheWaitAndTheDeadlineDoes) {
  options_.wait = absl::Milliseconds(300);
  Rebuild();
  // Another request of the tenant settles meanwhile: Enroll re-reads its own and waits on.
  const std::string other = MintChallenge("p-dyn", "", {}, "");
  ASSERT_EQ(Enroll("p-dyn", "tx-0", NewDevice("CN=z").csr_der, other).status, Status::kPending);
  const std::string challenge = MintChallenge("p-dyn", "", {}, "");
  const std::string csr = NewDevice("CN=b").csr_der;
  {
    DeviceThread device([&] { return Enroll("p-dyn", "tx-2", csr, challenge); });
    ASSERT_TRUE(SomeoneWaits());
    IssueAtCa("p-dyn", "tx-0");
    ASSERT_TRUE(device.Answered(absl::Seconds(30)));
    EXPECT_EQ(device.result().status, Status::kPending) << device.result().detail;
    EXPECT_GE(device.took(), absl::Milliseconds(300));
  }
  EXPECT_EQ(waiters_.Subscribed(), 0);
  // The device polls later and collects.
  const pki::CertificateInfo issued = IssueAtCa("p-dyn", "tx-2");
  ScepEnrollmentResult polled = Poll("p-dyn", "tx-2");
  ASSERT_EQ(polled.status, Status::kSuccess) << polled.detail;
  EXPECT_EQ(polled.certificate_der, issued.der);
}

TEST_F(ScepEnrollmentServiceTest, DrainEndsAWaitAtOnceWithPending) {
  options_.wait = absl::Hours(1);
  Rebuild();
  const std::string challenge = MintChallenge("p-dyn", "", {}, "");
  const std::string csr = NewDevice("CN=c").csr_der;
  DeviceThread device([&] { return Enroll("p-dyn", "tx-3", csr, challenge); });
  ASSERT_TRUE(SomeoneWaits());
  waiters_.Drain();
  ASSERT_TRUE(device.Answered(absl::Seconds(30)));
  EXPECT_EQ(device.result().status, Status::kPending) << device.result().detail;
}

TEST_F(ScepEnrollmentServiceTest, DeniedRequestIsFailureAndUnknownPollIsBadCertId) {
  const std::string challenge = MintChallenge("p-dyn", "", {}, "");
  Enroll("p-dyn", "tx-1", NewDevice("CN=a").csr_der, challenge);
  auto request = store_.GetCertificateRequestByRequestId("t-1", ScepRequestId("p-dyn", "tx-1"));
  CertificateRequestRecord update = *request;
  update.state = RequestState::kDenied;
  update.error_code = "CA_DENIED";
  ASSERT_TRUE(store_.UpdateCertificateRequest("t-1", request->name, {RequestState::kQueued}, update, true).ok());
  ScepEnrollmentResult denied = Poll("p-dyn", "tx-1");
  EXPECT_EQ(denied.status, Status::kFailure);
  EXPECT_EQ(denied.fail_info, ScepFailInfo::kBadRequest);
  EXPECT_THAT(denied.detail, HasSubstr("DENIED (CA_DENIED)"));
  ScepEnrollmentResult unknown = Poll("p-dyn", "tx-never");
  EXPECT_EQ(unknown.status, Status::kFailure);
  EXPECT_EQ(unknown.fail_info, ScepFailInfo::kBadCertId);
}

TEST_F(ScepEnrollmentServiceTest, FindProfileOpensTheRaKeyAndRefusesDisabledOrUnready) {
  auto material = service_->FindProfile("p-dyn");
  ASSERT_TRUE(material.ok()) << material.status();
  EXPECT_EQ(material->tenant_id, "t-1");
  auto key = pki::PrivateKey::FromPem(material->ra_private_key_pem);
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(pki::KeyMatchesCertificate(*key, material->ra_certificate_pem));
  ASSERT_EQ(material->ca_chain_pem.size(), 1u);

  EXPECT_EQ(service_->FindProfile("nope").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(scep_store_.DisableScepProfile("t-1", "p-dyn", clock_.Now()).ok());
  EXPECT_EQ(service_->FindProfile("p-dyn").status().code(), absl::StatusCode::kNotFound);

  ScepProfileRecord unready;
  unready.profile_id = "p-new";
  unready.tenant_id = "t-1";
  unready.ca_id = "ca-1";
  unready.ra_template_name = "CertbridgeScepRa";
  ASSERT_TRUE(scep_store_.CreateScepProfile(unready).ok());
  auto status = service_->FindProfile("p-new").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("RA certificate is not issued yet"));

  // A vault with another secret cannot open the key.
  RaKeyVault other = *RaKeyVault::Create("another-secret-another-secret-another-secret");
  ScepEnrollmentService wrong(BackEnd(&other), options_);
  ASSERT_TRUE(scep_store_.CreateScepProfile([&] {
    auto p = *scep_store_.GetScepProfile("t-1", "p-dyn");
    p.profile_id = "p-copy";
    p.disabled = false;
    return p;
  }()).ok());
  EXPECT_EQ(wrong.FindProfile("p-copy").status().code(), absl::StatusCode::kInvalidArgument);
  // Nor does this vault open a blob moved to another profile's row.
  EXPECT_EQ(service_->FindProfile("p-copy").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace certbridge::broker::scep

