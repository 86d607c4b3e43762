// host.h on Linux and other POSIX systems.
#include <sys/utsname.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "agent/platform/host.h"

namespace certbridge::agent {

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

std::string DefaultStateDir() { return "/var/lib/certbridge-agent"; }

}  // namespace certbridge::agent
