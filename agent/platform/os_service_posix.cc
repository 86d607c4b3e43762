#include <iostream>

#include "agent/platform/os_service.h"

namespace certbridge::agent {

bool HasServiceCommand() { return false; }

int ServiceCommand(int, char**, const std::function<int(int, char**)>&) {
  std::cerr << "certbridge-agent service: Windows only; on Linux let systemd run "
               "`certbridge-agent run`\n";
  return 2;
}

}  // namespace certbridge::agent
