// The SCEP operations (RFC 8894 section 4) behind /scep/<profile>/pkiclient.exe, apart from
// HTTP: GetCACaps, GetCACert and PKIOperation, answered from a ScepEnrollment. The HTTP
// server (scep_http_server.h) only routes, bounds and transports; everything a device can
// observe is decided here, so it runs in a unit test with a fake enrollment.
//
// Thread-safety: Handle may be called from many threads at once (it keeps no state); it
// blocks for as long as ScepEnrollment::Enroll/Poll do, so it runs on the HTTP server's
// per-connection threads, never on an event loop.
#ifndef CERTBRIDGE_BROKER_SCEP_SCEP_OPERATIONS_H_
#define CERTBRIDGE_BROKER_SCEP_SCEP_OPERATIONS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "broker/scep/scep_enrollment.h"

namespace certbridge::broker::scep {

// GetCACaps' answer, one capability per line (RFC 8894 section 3.5.2).
inline constexpr char kScepCapabilities[] =
    "POSTPKIOperation\nSHA-256\nSHA-512\nAES\nSCEPStandard\nRenewal\n";

struct ScepHttpReply {
  int status_code = 500;
  std::string content_type = "text/plain";
  std::string body;
};

class ScepOperations {
 public:
  // `enrollment` must outlive this object.
  explicit ScepOperations(ScepEnrollment* enrollment) : enrollment_(enrollment) {}

  // `operation` as in ?operation=; `message` the PKIOperation's DER (the POST body, or the
  // GET message= parameter already base64-decoded). Replies: 200 with the answer; 400 for an
  // unknown operation or a PKIOperation that is not a SCEP request (no CertRep can be
  // built); 404 for an unknown or disabled profile; 503 when the profile cannot be read now.
  // A SCEP request that parses but fails (signature, envelope, CSR, policy) is a 200 CertRep
  // FAILURE with its failInfo, as RFC 8894 has it.
  ScepHttpReply Handle(absl::string_view profile_id, absl::string_view operation,
                       absl::string_view message);

 private:
  ScepHttpReply PkiOperation(const ScepProfileMaterial& profile, absl::string_view message);

  ScepEnrollment* const enrollment_;
};

}  // namespace certbridge::broker::scep

#endif  // CERTBRIDGE_BROKER_SCEP_SCEP_OPERATIONS_H_
