// Windows security identifiers (SIDs) in their text form, as strong certificate mapping
// (KB5014754) carries them: "S-1-5-21-3623811015-3361044348-30300820-1013".
//
// The one home of the SID rule: the broker's API, certbridgectl, the emulator and the SID
// extension codec all call IsValidSid, so they cannot disagree.
//
// Pure functions, thread-safe. No std::regex: input from the network is checked by a
// bounded, linear scan.
#ifndef CERTBRIDGE_COMMON_ADCS_SID_H_
#define CERTBRIDGE_COMMON_ADCS_SID_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace certbridge::adcs {

// "S-1-" + an authority + 15 sub-authorities of at most 10 digits, with dashes: no valid
// SID is longer. Longer input is refused before it is scanned.
inline constexpr size_t kMaxSidLength = 4 + 15 + 15 * 11;

// True for "S-1-<authority>-<sub>..." with decimal numbers: an authority of at most 15
// digits (48 bits) and 1 to 15 sub-authorities of at most 10 digits (32 bits).
bool IsValidSid(absl::string_view sid);

}  // namespace certbridge::adcs

#endif  // CERTBRIDGE_COMMON_ADCS_SID_H_
