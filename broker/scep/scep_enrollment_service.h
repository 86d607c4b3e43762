// ScepEnrollment over the broker's own pipeline: a SCEP enrollment becomes a normal
// CSR-mode certificate request through CertificateApi::Create (the same validation, SID
// strong-mapping SAN URL and CA attribute string as the gRPC API; docs/architecture.md §3),
// so it is listed, watched, audited and revocable like any other. See docs/scep.md.
//
// Enroll, in order, before anything reaches the CA:
//   1. the transactionID seen before (same profile): the request made for it is answered,
//      if the CSR is the same (else FAILURE badRequest); no challenge is consumed again.
//   2. the CSR is parsed (bounded) and checked against the profile's policy;
//   3. the challenge: DYNAMIC — known, unexpired, unused (or used by this same
//      transaction), and the CSR's subject/SANs are the bound ones; STATIC — equal to the
//      profile's (compared as SHA-256 digests in constant time); INTUNE — IntuneValidation
//      says yes. A RenewalReq signed by a certificate this profile issued (same tenant, CA,
//      subject, not expired, not revoked) needs no challenge;
//   4. the dynamic challenge is consumed atomically, and the request created with
//      request_id ScepRequestId(profile, transactionID) and labels scep_profile /
//      scep_transaction;
//   5. a bounded wait (options.wait) for ISSUED, DENIED, FAILED, ... or PENDING_APPROVAL,
//      woken by the store's change notifications (options.changes), not by polling.
// States map: ISSUED → SUCCESS; QUEUED, DISPATCHED, PENDING_APPROVAL → PENDING (the device
// polls); anything else → FAILURE badRequest. An unknown transaction in Poll is FAILURE
// badCertId. Every refusal and every created request is an audit event (actor
// "scep:<profile>").
//
// Thread-safety: all methods may be called concurrently (they block on the store and
// Enroll waits up to options.wait: call them on threads that may block, such as the SCEP
// listener's bounded connection threads, never on a gRPC reactor).
#ifndef CERTBRIDGE_BROKER_SCEP_SCEP_ENROLLMENT_SERVICE_H_
#define CERTBRIDGE_BROKER_SCEP_SCEP_ENROLLMENT_SERVICE_H_

#include <string>

#include "absl/time/time.h"
#include "broker/scep/intune_validation.h"
#include "broker/scep/scep_back_end.h"
#include "broker/scep/scep_enrollment.h"
#include "broker/scep/scep_store.h"
#include "broker/service/request_change_waiters.h"
#include "broker/store/certificate_store.h"
#include "common/pki/pki.h"

namespace certbridge::broker::scep {

// The certificate request_id of a SCEP transaction: "scep-" + SHA-256 hex of the profile
// id and the transactionID, so any transactionID (up to 256 bytes) fits the 128-byte
// request_id and the same pair always maps to the same request.
std::string ScepRequestId(absl::string_view profile_id, absl::string_view transaction_id);
// The transaction key of a renewal signed with certificate `serial_hex`: clients that keep
// their key renew under the first enrollment's transactionID, so the renewed serial tells
// a renewal from a retry. Poll follows these from the first request to the newest.
std::string RenewalTransactionKey(absl::string_view transaction_id, absl::string_view serial_hex);

struct ScepEnrollmentOptions {
  // How long Enroll waits for a terminal state (or PENDING_APPROVAL) before answering
  // PENDING; the device then polls. Default 5 s: MDM clients time out HTTP after ~30 s.
  absl::Duration wait = absl::Seconds(5);
  // What wakes the wait: the broker's ChangeFanout tells it of every committed change of a
  // request (any replica's). Not owned; nullptr: Enroll does not wait and answers PENDING
  // unless the request is settled already.
  RequestChangeWaiters* changes = nullptr;
  // Not owned; nullptr: profiles in INTUNE mode refuse every enrollment.
  IntuneValidation* intune = nullptr;
};

class ScepEnrollmentService final : public ScepEnrollment {
 public:
  // Nothing is owned; all must outlive this.
  ScepEnrollmentService(const ScepBackEnd& back_end, ScepEnrollmentOptions options);

  // NOT_FOUND unknown or disabled profile; UNAVAILABLE while the profile's RA certificate
  // is not issued yet (the message says so) or the store is down; INVALID_ARGUMENT when
  // the RA key does not open (wrong secret).
  absl::StatusOr<ScepProfileMaterial> FindProfile(absl::string_view profile_id) override;
  ScepEnrollmentResult Enroll(const ScepProfileMaterial& profile,
                              const ScepEnrollmentRequest& request) override;
  ScepEnrollmentResult Poll(const ScepProfileMaterial& profile,
                            absl::string_view transaction_id) override;

 private:
  // Steps 2-4 of Enroll for a transaction not seen before.
  ScepEnrollmentResult EnrollNew(const ScepProfileRecord& profile,
                                 const ScepEnrollmentRequest& request,
                                 const std::string& request_id, bool renewal_by_certificate,
                                 const absl::StatusOr<pki::CertificateInfo>& signer);
  // The request's state now, or after a bounded wait when `wait`.
  ScepEnrollmentResult Answer(const ScepProfileRecord& profile, CertificateRequestRecord request,
                              bool wait);
  ScepEnrollmentResult Refuse(const ScepProfileRecord& profile,
                              const ScepEnrollmentRequest& request, ScepFailInfo fail_info,
                              std::string detail);
  void Audit(const ScepProfileRecord& profile, absl::string_view action,
             absl::string_view object_id, std::string details);

  const ScepBackEnd back_end_;
  ScepEnrollmentOptions options_;
};

}  // namespace certbridge::broker::scep

#endif  // CERTBRIDGE_BROKER_SCEP_SCEP_ENROLLMENT_SERVICE_H_
