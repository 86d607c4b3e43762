// What the agent says about itself to the broker: version, OS, host name, and the Windows
// identity AD CS will see. Thread-safe.
#ifndef CERTBRIDGE_AGENT_CLIENT_AGENT_INFO_H_
#define CERTBRIDGE_AGENT_CLIENT_AGENT_INFO_H_

#include <string>

#include "absl/strings/string_view.h"
#include "agent/platform/host.h"  // OsDescription, LocalHostName, DefaultStateDir

namespace certbridge::agent {

// The project version from CMake, e.g. "0.1.0".
std::string AgentVersion();

// The computer account a Windows service running as LocalSystem presents to AD CS:
// the upper-cased short host name followed by "$", e.g. "ADCS01$" for "adcs01.corp.example".
std::string DefaultCaIdentity(absl::string_view host);

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_CLIENT_AGENT_INFO_H_
