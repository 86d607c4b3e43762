// The RA certificate of each SCEP profile, kept valid without anyone's attention
// (docs/scep.md, "The RA certificate"): NDES's RA certificates expire silently and take
// enrollment down with them; here a periodic round requests a new one from the customer's
// AD CS through the agent, like any CSR-mode request, long before the current one ends.
//
// One round (RenewDue), for every active profile:
//   - RA keys (current and pending) that open only with a previous secret (after the
//     operator rotated --scep_ra_secret_file; ra_key_vault.h) are sealed again with the
//     current one, written by ScepStore::ResealScepRaKeys (compare-and-set on the sealed
//     blobs) and audited as scep_ra.reseal;
//   - a request in flight (ra_pending_request_name) that is ISSUED: its certificate must
//     match the pending key; it becomes the RA certificate (with the request's chain) and
//     the pending fields are cleared. One that ended otherwise (DENIED, FAILED, EXPIRED,
//     ...) is dropped, logged, and asked again next round.
//   - no request in flight, and no RA certificate yet or `renew_at` of its lifetime gone
//     (default half): a new RSA-2048 key (RSA: SCEP clients encrypt to the RA), sealed with
//     RaKeyVault, and a request to CertificateApi with the profile's RA template,
//     request_id "scep-ra-<profile>-<unix seconds>", subject "CN=certbridge SCEP RA <profile>".
// Writes go through ScepStore::UpdateScepRa guarded by the pending request name, so two
// replicas running the round at once cannot both install or both ask.
//
// Thread-safety: RenewDue may run concurrently with itself (on several replicas).
#ifndef CERTBRIDGE_BROKER_SCEP_SCEP_RA_CERTIFICATES_H_
#define CERTBRIDGE_BROKER_SCEP_SCEP_RA_CERTIFICATES_H_

#include <atomic>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "broker/scep/scep_back_end.h"
#include "broker/scep/scep_store.h"

namespace certbridge::broker::scep {

struct ScepRaOptions {
  // The fraction of the RA certificate's lifetime after which a new one is requested.
  double renew_at = 0.5;
};

class ScepRaCertificates {
 public:
  // Nothing is owned; all must outlive this.
  explicit ScepRaCertificates(const ScepBackEnd& back_end, ScepRaOptions options = {});

  // One round over every active profile. Returns how many profiles changed (a request
  // sent or a certificate installed); the first store error ends the round.
  absl::StatusOr<int> RenewDue();

 private:
  // Keys that open only with a previous secret (after a rotation) are sealed again with
  // the current one; `profile` becomes the stored record. False: nothing to do.
  absl::StatusOr<bool> Reseal(ScepProfileRecord& profile);
  absl::StatusOr<bool> RenewOne(const ScepProfileRecord& profile);
  absl::StatusOr<bool> Collect(const ScepProfileRecord& profile);
  absl::StatusOr<bool> Ask(const ScepProfileRecord& profile);
  void Audit(const ScepProfileRecord& profile, absl::string_view action, std::string details);

  const ScepBackEnd back_end_;
  ScepRaOptions options_;
};

// Runs RenewDue every `interval` on its own thread until destroyed.
class ScepRaRenewalTask {
 public:
  ScepRaRenewalTask(ScepRaCertificates* ra, absl::Duration interval);
  ~ScepRaRenewalTask();

 private:
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace certbridge::broker::scep

#endif  // CERTBRIDGE_BROKER_SCEP_SCEP_RA_CERTIFICATES_H_
