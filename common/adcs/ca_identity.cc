#include "common/adcs/ca_identity.h"

#include "absl/strings/ascii.h"

namespace certbridge::adcs {

std::string NormalizeCaIdentity(absl::string_view identity) {
  return absl::AsciiStrToUpper(absl::StripAsciiWhitespace(identity));
}

bool SameCaIdentity(absl::string_view a, absl::string_view b) {
  return NormalizeCaIdentity(a) == NormalizeCaIdentity(b);
}

}  // namespace certbridge::adcs
