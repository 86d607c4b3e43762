// Who may enroll, as pure functions: a SCEP CSR against its profile's policy and against
// the binding of the dynamic challenge it carries (docs/scep.md, "Policy" and
// "Challenges"). Called before anything reaches the CA; no I/O, no clock.
#ifndef CERTBRIDGE_BROKER_SCEP_SCEP_POLICY_H_
#define CERTBRIDGE_BROKER_SCEP_SCEP_POLICY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "broker/scep/scep_store.h"
#include "common/pki/pki.h"

namespace certbridge::broker::scep {

// OK, or PERMISSION_DENIED naming the first thing outside the policy (key type or size,
// subject, a SAN) and the pattern list it was checked against.
absl::Status CheckCsrAgainstPolicy(const ScepPolicy& policy, const pki::CsrInfo& csr);

// OK, or PERMISSION_DENIED when the CSR's subject or SAN set differs from what the
// challenge was minted for. An empty binding part admits anything (the policy still
// applies). Subjects compare in canonical RFC 4514 form, ASCII case ignored.
absl::Status CheckCsrAgainstChallenge(const ScepChallengeRecord& challenge,
                                      const pki::CsrInfo& csr);

// INVALID_ARGUMENT naming the field for a policy that cannot be applied (bad patterns, no
// key algorithm allowed, sizes out of range).
absl::Status ValidatePolicy(const ScepPolicy& policy);

}  // namespace certbridge::broker::scep

#endif  // CERTBRIDGE_BROKER_SCEP_SCEP_POLICY_H_
