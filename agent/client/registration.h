// `certbridge-agent register`: device-code style registration (docs/architecture.md §4.1).
//
// Generates an EC P-256 key locally, sends only its CSR with the enrollment token
// (AgentService.Register, no client certificate), prints the registration code and URL for
// a person to approve, long-polls GetRegistration until approval, then stores the key, the
// issued chain, the broker's root and the identity in the state dir (see state_dir.h).
// The tenant's delivery certificate sent with the approval is pinned in the agent's policy
// state (AgentPolicyState::PinAtRegistration) before anything is saved.
//
//   ASSIGN_OR_RETURN(RegistrationResult r, RegisterAgent(params, RealClock(), std::cout));
//
// Errors (the broker's message is kept):
//   ALREADY_EXISTS       the state dir holds a registration and overwrite is false (checked
//                        before the token is spent)
//   UNAUTHENTICATED      the broker does not know the enrollment token
//   NOT_FOUND            the registration was deleted while waiting (some brokers also use it
//                        for an unknown token)
//   PERMISSION_DENIED    an admin rejected the registration
//   FAILED_PRECONDITION  the token or the registration code expired, or the state dir is unsafe
//   UNAVAILABLE          the broker could not be reached for Register
//   INVALID_ARGUMENT     bad parameters, or the broker refused the request, or the
//                        approval's delivery certificate does not match its fingerprint
//   INTERNAL             the broker's certificate does not match our key; I/O errors
#ifndef CERTBRIDGE_AGENT_CLIENT_REGISTRATION_H_
#define CERTBRIDGE_AGENT_CLIENT_REGISTRATION_H_

#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/client/state_dir.h"
#include "agent/platform/event_log.h"
#include "common/clock.h"
#include "common/pki/pki.h"

namespace certbridge::agent {

struct RegistrationParams {
  std::string broker_address;  // HOST:PORT
  std::string broker_ca_pem;
  std::string enrollment_token;
  std::string state_dir;
  // Empty: LocalHostName(). Also the CN of the CSR.
  std::string host;
  // Empty: DefaultCaIdentity(host), e.g. "ADCS01$".
  std::string ca_identity;
  // Outbound HTTP proxy, "http://HOST:PORT" (broker_channel.h); empty: none.
  std::string proxy;
  // Registered (1000) and approved (1001) are reported here; not owned; nullptr: not.
  EventLog* event_log = nullptr;
  // Replace an existing registration in state_dir.
  bool overwrite = false;
  // Long-poll window per GetRegistration call (the broker caps it at 60); each call's
  // deadline is this plus 10 s.
  int wait_seconds = 30;
  // A PENDING answer that came back sooner than this is followed by a pause.
  absl::Duration min_poll_interval = absl::Seconds(1);
  // Retry delays for GetRegistration when the broker is briefly unreachable.
  absl::Duration retry_base = absl::Seconds(1);
  absl::Duration retry_max = absl::Seconds(30);
};

struct RegistrationResult {
  AgentRegistration registration;
  pki::CertificateInfo leaf;
  // The tenant's delivery certificate pinned at registration (64 lower-case hex digits);
  // empty when the tenant had none at approval (the first key-generation job pins it).
  std::string delivery_certificate_sha256;
};

// Blocks until approval or a final error. Writes the approval box and progress to `out`;
// logs (JSON, stderr) without the code, token or key.
absl::StatusOr<RegistrationResult> RegisterAgent(const RegistrationParams& params,
                                                 const Clock& clock, std::ostream& out);

// The box shown to the person approving; exposed for tests and docs.
std::string FormatApprovalBox(absl::string_view code, absl::string_view url,
                              absl::Time expire_time, absl::Time now);

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_CLIENT_REGISTRATION_H_
