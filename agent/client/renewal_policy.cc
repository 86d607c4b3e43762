#include "agent/client/renewal_policy.h"

#include <algorithm>
#include <cmath>

namespace certbridge::agent {

absl::Time RenewalTime(absl::Time not_before, absl::Time not_after, double fraction) {
  if (not_after <= not_before) return not_before;
  if (std::isnan(fraction)) fraction = kDefaultRenewFraction;
  fraction = std::clamp(fraction, 0.0, 1.0);
  return not_before + (not_after - not_before) * fraction;
}

bool RenewalDue(absl::Time not_before, absl::Time not_after, absl::Time now, double fraction) {
  return now >= RenewalTime(not_before, not_after, fraction);
}

}  // namespace certbridge::agent
