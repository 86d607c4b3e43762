#include "agent/client/agent_info.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

#ifndef CERTBRIDGE_VERSION
#error "CERTBRIDGE_VERSION must be defined by the build (agent/agent.cmake)"
#endif

namespace certbridge::agent {

std::string AgentVersion() { return CERTBRIDGE_VERSION; }

std::string DefaultCaIdentity(absl::string_view host) {
  absl::string_view short_name = host.substr(0, host.find('.'));
  return absl::StrCat(absl::AsciiStrToUpper(short_name), "$");
}

}  // namespace certbridge::agent
