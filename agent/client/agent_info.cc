#include "agent/client/agent_info.h"

#include <sys/utsname.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

#ifndef CERTBRIDGE_VERSION
#error "CERTBRIDGE_VERSION must be defined by the build (agent/agent.cmake)"
#endif

namespace certbridge::agent {

std::string AgentVersion() { return CERTBRIDGE_VERSION; }

std::string OsDescription() {
  struct utsname u;
  if (uname(&u) != 0) return "unknown";
  return absl::StrCat(u.sysname, " ", u.release, " ", u.machine);
}

std::string LocalHostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

std::string DefaultCaIdentity(absl::string_view host) {
  absl::string_view short_name = host.substr(0, host.find('.'));
  return absl::StrCat(absl::AsciiStrToUpper(short_name), "$");
}

}  // namespace certbridge::agent
