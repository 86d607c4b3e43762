// Structured logs: one JSON object per line on stderr.
//
//   LogInfo("connector.approved", {{"tenant_id", t}, {"connector_id", c}});
//
// Never pass secrets (API keys, tokens, registration codes, private keys, DSNs).
#ifndef CERTBRIDGE_COMMON_LOG_H_
#define CERTBRIDGE_COMMON_LOG_H_

#include <initializer_list>
#include <utility>

#include "absl/strings/string_view.h"

namespace certbridge {

using LogFields = std::initializer_list<std::pair<absl::string_view, absl::string_view>>;

void LogInfo(absl::string_view event, LogFields fields = {});
void LogWarning(absl::string_view event, LogFields fields = {});
void LogError(absl::string_view event, LogFields fields = {});

// Sets the "component" field of every line (e.g. "broker", "agent"). Call once in main().
void SetLogComponent(absl::string_view component);

}  // namespace certbridge

#endif  // CERTBRIDGE_COMMON_LOG_H_
