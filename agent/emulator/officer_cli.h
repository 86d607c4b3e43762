// `adcs-emulator officer ...`: the certutil -resubmit / -deny / -revoke / -CRL of the
// emulator, plus fault control. See docs/adcs-emulator.md for the commands.
#ifndef CERTBRIDGE_AGENT_EMULATOR_OFFICER_CLI_H_
#define CERTBRIDGE_AGENT_EMULATOR_OFFICER_CLI_H_

#include <ostream>
#include <string>
#include <vector>

namespace certbridge::emulator {

// `args` are the words after "officer". Exit status: 0 done; 1 the emulator refused (the
// HRESULT and its words are printed); 2 usage error; 3 emulator unreachable.
int RunOfficerCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace certbridge::emulator

#endif  // CERTBRIDGE_AGENT_EMULATOR_OFFICER_CLI_H_
