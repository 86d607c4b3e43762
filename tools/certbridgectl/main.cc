// certbridgectl: the command-line client of the broker's AdminService. See
// docs/certbridgectl.md.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <grpc/support/log.h>

#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "tools/certbridgectl/commands.h"

namespace {

// gRPC core logs connection failures to stderr on its own; the CLI already prints the
// call's status with a hint, so that noise is dropped unless GRPC_VERBOSITY asks for it.
void DropGrpcLog(gpr_log_func_args*) {}

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function(DropGrpcLog);

  certbridge::ctl::Environment env;
  for (absl::string_view name : {certbridge::ctl::kBrokerEnv, certbridge::ctl::kApiKeyEnv,
                                certbridge::ctl::kCaCertEnv}) {
    if (const char* value = std::getenv(std::string(name).c_str()); value != nullptr) {
      env.emplace(name, value);
    }
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  certbridge::RealClock clock;
  return certbridge::ctl::RunCertbridgectl(args, env, clock, std::cout, std::cerr);
}
