// The Windows account an agent runs as ("CORP\ADCS01$"), which AD CS sees as the requester
// and which decides who may RETRIEVE or REVOKE a request (docs/architecture.md §4.6).
// Windows compares account names ignoring case, so "corp\adcs01$" is the same account.
//
// The one home of the CA identity rule: the broker normalises an identity where it enters
// (Register, Hello) and where it is compared, so the claim of a sticky job (an exact
// comparison in the store) and Hello's check cannot disagree.
//
// Pure functions, thread-safe.
#ifndef CERTBRIDGE_COMMON_ADCS_CA_IDENTITY_H_
#define CERTBRIDGE_COMMON_ADCS_CA_IDENTITY_H_

#include <string>

#include "absl/strings/string_view.h"

namespace certbridge::adcs {

// The identity in the form stored and compared: surrounding whitespace removed, ASCII
// letters upper-cased ("corp\adcs01$" → "CORP\ADCS01$"). Non-ASCII letters are kept as
// they are (Windows' own case table is not reproduced here), so two spellings of an
// account that differ only in the case of a non-ASCII letter stay different.
std::string NormalizeCaIdentity(absl::string_view identity);

// Whether `a` and `b` name the same account by the rule above.
bool SameCaIdentity(absl::string_view a, absl::string_view b);

}  // namespace certbridge::adcs

#endif  // CERTBRIDGE_COMMON_ADCS_CA_IDENTITY_H_
