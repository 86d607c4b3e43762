#include "broker/scep/scep_store.h"

namespace certbridge::broker::scep {

absl::string_view ScepChallengeModeName(ScepChallengeMode mode) {
  switch (mode) {
    case ScepChallengeMode::kDynamic: return "DYNAMIC";
    case ScepChallengeMode::kStatic: return "STATIC";
    case ScepChallengeMode::kIntune: return "INTUNE";
  }
  return "DYNAMIC";
}

std::optional<ScepChallengeMode> ScepChallengeModeFromName(absl::string_view name) {
  for (ScepChallengeMode mode :
       {ScepChallengeMode::kDynamic, ScepChallengeMode::kStatic, ScepChallengeMode::kIntune}) {
    if (name == ScepChallengeModeName(mode)) return mode;
  }
  return std::nullopt;
}

}  // namespace certbridge::broker::scep
