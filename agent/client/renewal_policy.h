// When the agent asks for a new certificate: once `fraction` of the current certificate's
// lifetime (notBefore -> notAfter) has passed. Pure functions; thread-safe.
//
//   if (RenewalDue(leaf.not_before, leaf.not_after, clock.Now(), 2.0 / 3)) { ... }
#ifndef CERTBRIDGE_AGENT_CLIENT_RENEWAL_POLICY_H_
#define CERTBRIDGE_AGENT_CLIENT_RENEWAL_POLICY_H_

#include "absl/time/time.h"

namespace certbridge::agent {

// The default fraction: renew after two thirds of the lifetime, so a 3-day certificate is
// renewed with a full day to spare.
inline constexpr double kDefaultRenewFraction = 0.6667;

// not_before + fraction * (not_after - not_before). `fraction` is clamped to [0, 1]; a
// certificate whose notAfter is not after its notBefore is due at once (returns not_before).
absl::Time RenewalTime(absl::Time not_before, absl::Time not_after, double fraction);

// now >= RenewalTime(...).
bool RenewalDue(absl::Time not_before, absl::Time not_after, absl::Time now, double fraction);

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_CLIENT_RENEWAL_POLICY_H_
