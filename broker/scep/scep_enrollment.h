// The seam between the SCEP front end (HTTP + RFC 8894 messages, broker/scep/scep_*) and
// the rest of the broker (profiles, challenges, the RA certificate and the certificate
// request pipeline). The front end parses and verifies the device's messages and builds the
// CertRep; everything it decides about *who may enroll* and *what is issued* comes through
// this interface, so it is unit-tested against a fake and the policy lives in one place.
#ifndef CERTBRIDGE_BROKER_SCEP_SCEP_ENROLLMENT_H_
#define CERTBRIDGE_BROKER_SCEP_SCEP_ENROLLMENT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/scep_message.h"

namespace certbridge::broker::scep {

// What the front end needs of a profile to answer GetCACaps/GetCACert and to open and sign
// PKIOperation messages. The RA private key is decrypted only in memory.
struct ScepProfileMaterial {
  std::string tenant_id;
  std::string profile_id;          // the <profile> segment of /scep/<profile>/pkiclient.exe
  std::string ra_certificate_pem;  // signs CertRep, decrypts the device's envelope
  std::string ra_private_key_pem;
  std::vector<std::string> ca_chain_pem;  // issuing CA first, then up to the root
};

// RFC 8894 section 3.2.1.4 failInfo values: one definition, in the message layer that
// encodes them (kBadAlg, kBadMessageCheck, kBadRequest, kBadTime, kBadCertId).
using ScepFailInfo = ::certbridge::pki::ScepFailInfo;

// One enrollment as the device sent it, after the front end verified the signature and
// decrypted the envelope.
struct ScepEnrollmentRequest {
  std::string transaction_id;        // SCEP transactionID: the idempotency key
  std::string csr_der;               // PKCS#10 from the envelope
  std::string challenge_password;    // from the CSR's challengePassword attribute ("" if none)
  bool renewal = false;              // RenewalReq (signed with an existing certificate)
  std::string signer_certificate_der;  // the certificate that signed the message
};

struct ScepEnrollmentResult {
  enum class Status { kSuccess, kPending, kFailure };
  Status status = Status::kFailure;
  std::string certificate_der;        // kSuccess: the issued certificate
  ScepFailInfo fail_info = ScepFailInfo::kBadRequest;  // kFailure
  std::string detail;                 // kFailure: for the broker's log and audit, not the device
};

class ScepEnrollment {
 public:
  virtual ~ScepEnrollment() = default;
  // NOT_FOUND for an unknown or disabled profile; the material of an active profile otherwise.
  virtual absl::StatusOr<ScepProfileMaterial> FindProfile(absl::string_view profile_id) = 0;
  // PKCSReq / RenewalReq: checks the challenge and the profile's policy, creates (or, for a
  // transactionID seen before, finds) the certificate request and waits a bounded time for it.
  // Blocking: called on a worker thread, never on the HTTP server's event loop.
  virtual ScepEnrollmentResult Enroll(const ScepProfileMaterial& profile,
                                      const ScepEnrollmentRequest& request) = 0;
  // CertPoll (GetCertInitial): the state of the request created for transaction_id.
  virtual ScepEnrollmentResult Poll(const ScepProfileMaterial& profile,
                                    absl::string_view transaction_id) = 0;
};

}  // namespace certbridge::broker::scep

#endif  // CERTBRIDGE_BROKER_SCEP_SCEP_ENROLLMENT_H_
