// certbridgectl's SCEP subcommands (ScepService, proto/certbridge/v1/scep.proto;
// docs/scep.md), in a file of their own:
//
//   certbridgectl [--broker H:P] [--ca-cert F] [--api-key-file F] scep profiles create
//       --ca-id ID --template T --ra-template T [--display-name N] [--subject-pattern P]...
//       [--san-pattern P]... [--challenge-mode dynamic|static] [--static-challenge-file F]
//   certbridgectl ... scep profiles list | get PROFILE_ID | disable PROFILE_ID
//   certbridgectl ... scep challenges create PROFILE_ID [--subject S] [--san TYPE:VALUE]...
//       [--sid SID] [--device-id D] [--ttl 1h]
//
// Profiles print as "field: value" lines; `challenges create` prints the challenge alone on
// stdout (for scripts) and its expiry on stderr. The API key comes from --api-key-file or
// CERTBRIDGE_API_KEY, never the command line; a static challenge from a file.
#ifndef CERTBRIDGE_TOOLS_CERTBRIDGECTL_SCEP_COMMANDS_H_
#define CERTBRIDGE_TOOLS_CERTBRIDGECTL_SCEP_COMMANDS_H_

#include <ostream>
#include <string>
#include <vector>

#include "tools/certbridgectl/command_line.h"

namespace certbridge::ctl {

// True when the first command word of `args` (after global flags) is "scep".
bool IsScepCommand(const std::vector<std::string>& args);

// Runs a `scep ...` command line; returns kExitSuccess (0), kExitFailure (1: the call or a
// file failed) or kExitUsage (2).
int RunScepCommand(const std::vector<std::string>& args, const Environment& env,
                   std::ostream& out, std::ostream& err);

}  // namespace certbridge::ctl

#endif  // CERTBRIDGE_TOOLS_CERTBRIDGECTL_SCEP_COMMANDS_H_
