// Test support for the SCEP front-end tests (scep_http_front_end_test,
// scep_certmonger_front_end_test): an honest ScepEnrollment that issues from a test CA in
// the test process, behind the real listener (broker/scep/scep_http_server.h). Not the
// broker's pipeline: the end-to-end test through broker, agent and emulator is
// tests/integration's.
#ifndef CERTBRIDGE_TESTS_BROKER_SCEP_SCEP_FRONT_END_TEST_ENROLLMENT_H_
#define CERTBRIDGE_TESTS_BROKER_SCEP_SCEP_FRONT_END_TEST_ENROLLMENT_H_

#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "broker/scep/scep_enrollment.h"
#include "common/pki/pki.h"

namespace certbridge::broker::scep::testing {

inline constexpr char kChallenge[] = "front-end-challenge";

// Thread-safe. Profiles: "devices" issues at once; "approval" answers PENDING to a transaction's first
// request and issues on the next (an officer approving in between). Every certificate is
// issued once per transaction and handed out again on a repeat.
class TestCaEnrollment : public ScepEnrollment {
 public:
  TestCaEnrollment() {
    const absl::Time now = absl::Now();
    ca_ = *pki::SigningCa::CreateSelfSigned("CN=SCEP front-end test CA", pki::KeyType::kRsa2048,
                                            now - absl::Hours(1), now + absl::Hours(48));
    pki::PrivateKey ra_key = *pki::PrivateKey::Generate(pki::KeyType::kRsa2048);
    pki::IssueParams params;
    params.csr_der = pki::ParseCsr(*pki::CreateCsrPem(ra_key, {.subject = "CN=SCEP front-end RA"}))->der;
    params.not_before = now - absl::Hours(1);
    params.not_after = now + absl::Hours(24);
    ra_certificate_pem_ = ca_->Issue(params)->pem;
    ra_private_key_pem_ = ra_key.ToPem();
  }

  absl::StatusOr<ScepProfileMaterial> FindProfile(absl::string_view profile_id) override {
    if (profile_id != "devices" && profile_id != "approval") {
      return absl::NotFoundError(absl::StrCat("SCEP profile \"", profile_id, "\""));
    }
    ScepProfileMaterial material;
    material.tenant_id = "tenant-1";
    material.profile_id = std::string(profile_id);
    material.ra_certificate_pem = ra_certificate_pem_;
    material.ra_private_key_pem = ra_private_key_pem_;
    material.ca_chain_pem = {ca_->certificate().pem};
    return material;
  }

  ScepEnrollmentResult Enroll(const ScepProfileMaterial& profile,
                              const ScepEnrollmentRequest& request) override {
    if (hold_enrollments_) {
      // An enrollment waiting for the CA, as the real one waits a bounded time.
      {
        absl::MutexLock lock(&mu_);
        ++held_;
      }
      release_.WaitForNotificationWithTimeout(absl::Seconds(60));
    }
    if (request.renewal) {
      // A renewal is signed with a certificate this CA issued; no challenge.
      absl::StatusOr<pki::CertificateInfo> signer =
          pki::ParseCertificate(request.signer_certificate_der);
      if (signer.ok()) signer = pki::VerifyChain(signer->pem, ca_->certificate().pem, absl::Now());
      if (!signer.ok()) return Failure(ScepFailInfo::kBadCertId, signer.status().ToString());
    } else if (request.challenge_password != kChallenge) {
      return Failure(ScepFailInfo::kBadRequest, "wrong challenge");
    }
    absl::MutexLock lock(&mu_);
    const std::string key = absl::StrCat(request.renewal ? "renew:" : "new:",
                                         request.transaction_id);
    Transaction& transaction = transactions_[key];
    last_transaction_key_[request.transaction_id] = key;
    if (transaction.csr_der.empty()) {
      transaction.csr_der = request.csr_der;
      if (profile.profile_id == "approval") return Pending();
    }
    return IssueLocked(transaction);
  }

  ScepEnrollmentResult Poll(const ScepProfileMaterial& /*profile*/,
                            absl::string_view transaction_id) override {
    absl::MutexLock lock(&mu_);
    auto key = last_transaction_key_.find(transaction_id);
    if (key == last_transaction_key_.end()) {
      return Failure(ScepFailInfo::kBadCertId, "unknown transaction");
    }
    return IssueLocked(transactions_[key->second]);
  }

  // Enroll blocks until Release (at most 60 s); WaitHeld waits until `count` are blocked.
  void HoldEnrollments() { hold_enrollments_ = true; }
  bool WaitHeld(int count) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return held_ >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), absl::Seconds(30));
  }
  void Release() { release_.Notify(); }

  int issued_count() {
    absl::MutexLock lock(&mu_);
    return issued_count_;
  }
  const pki::SigningCa& ca() const { return *ca_; }
  const std::string& ra_certificate_pem() const { return ra_certificate_pem_; }

 private:
  struct Transaction {
    std::string csr_der;
    std::string certificate_der;
  };

  static ScepEnrollmentResult Failure(ScepFailInfo info, std::string detail) {
    ScepEnrollmentResult result;
    result.status = ScepEnrollmentResult::Status::kFailure;
    result.fail_info = info;
    result.detail = std::move(detail);
    return result;
  }
  static ScepEnrollmentResult Pending() {
    ScepEnrollmentResult result;
    result.status = ScepEnrollmentResult::Status::kPending;
    return result;
  }

  ScepEnrollmentResult IssueLocked(Transaction& transaction) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (transaction.certificate_der.empty()) {
      pki::IssueParams params;
      params.csr_der = transaction.csr_der;
      params.not_before = absl::Now() - absl::Minutes(5);
      params.not_after = absl::Now() + absl::Hours(24);
      params.extended_key_usages = {"1.3.6.1.5.5.7.3.2"};
      absl::StatusOr<pki::CertificateInfo> issued = ca_->Issue(params);
      if (!issued.ok()) return Failure(ScepFailInfo::kBadRequest, issued.status().ToString());
      transaction.certificate_der = issued->der;
      ++issued_count_;
    }
    ScepEnrollmentResult result;
    result.status = ScepEnrollmentResult::Status::kSuccess;
    result.certificate_der = transaction.certificate_der;
    return result;
  }

  std::atomic<bool> hold_enrollments_{false};
  absl::Notification release_;
  std::unique_ptr<pki::SigningCa> ca_;
  std::string ra_certificate_pem_;
  std::string ra_private_key_pem_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Transaction> transactions_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> last_transaction_key_ ABSL_GUARDED_BY(mu_);
  int issued_count_ ABSL_GUARDED_BY(mu_) = 0;
  int held_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace certbridge::broker::scep::testing

#endif  // CERTBRIDGE_TESTS_BROKER_SCEP_SCEP_FRONT_END_TEST_ENROLLMENT_H_
