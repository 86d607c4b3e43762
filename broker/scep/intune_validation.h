// The seam to Microsoft Intune's third-party SCEP validation API (docs/scep.md, "Intune").
// With a profile in INTUNE challenge mode the device's challenge is an Intune-signed blob
// that only Intune can check: the broker asks Intune whether (transactionID, CSR) is one
// it issued, and tells it afterwards whether a certificate was issued.
//
// The real client needs Microsoft Entra application credentials (client id, secret or
// certificate) per tenant and calls https://<intune service>/ScepRequestValidationFEService
// (ValidateRequest, SendSuccessNotification, SendFailureNotification). It is NOT
// implemented or verified here: there is no Intune tenant in this environment. Only the
// interface and FakeIntuneValidation exist; a profile in INTUNE mode without a configured
// validator refuses every enrollment (FAILURE badRequest).
//
// Thread-safety: implementations must allow concurrent calls.
#ifndef CERTBRIDGE_BROKER_SCEP_INTUNE_VALIDATION_H_
#define CERTBRIDGE_BROKER_SCEP_INTUNE_VALIDATION_H_

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace certbridge::broker::scep {

struct IntuneValidationRequest {
  std::string tenant_id;
  std::string transaction_id;
  std::string csr_der;  // Intune checks the challenge inside it
};

class IntuneValidation {
 public:
  virtual ~IntuneValidation() = default;
  // OK: Intune issued this challenge for this CSR. PERMISSION_DENIED: it says no.
  // UNAVAILABLE: Intune could not be asked (the device retries later).
  virtual absl::Status Validate(const IntuneValidationRequest& request) = 0;
  // Told once the request reached a terminal state (Intune shows it in its report).
  virtual void ReportIssued(const IntuneValidationRequest& request, absl::string_view serial_hex) = 0;
  virtual void ReportFailed(const IntuneValidationRequest& request, absl::string_view reason) = 0;
};

// A fake for unit tests: approves the transaction ids it was told to.
class FakeIntuneValidation final : public IntuneValidation {
 public:
  void Approve(const std::string& transaction_id) {
    absl::MutexLock lock(&mu_);
    approved_.insert(transaction_id);
  }
  absl::Status Validate(const IntuneValidationRequest& request) override {
    absl::MutexLock lock(&mu_);
    if (approved_.count(request.transaction_id) == 0) {
      return absl::PermissionDeniedError("Intune did not issue this challenge for this request");
    }
    return absl::OkStatus();
  }
  void ReportIssued(const IntuneValidationRequest& request, absl::string_view serial_hex) override {
    absl::MutexLock lock(&mu_);
    reports_.emplace_back(request.transaction_id, std::string("issued ") + std::string(serial_hex));
  }
  void ReportFailed(const IntuneValidationRequest& request, absl::string_view reason) override {
    absl::MutexLock lock(&mu_);
    reports_.emplace_back(request.transaction_id, std::string("failed ") + std::string(reason));
  }
  std::vector<std::pair<std::string, std::string>> reports() const {
    absl::MutexLock lock(&mu_);
    return reports_;
  }

 private:
  mutable absl::Mutex mu_;
  std::set<std::string> approved_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::string>> reports_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certbridge::broker::scep

#endif  // CERTBRIDGE_BROKER_SCEP_INTUNE_VALIDATION_H_
