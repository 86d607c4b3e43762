// certbridgectl: the command-line client of the broker's AdminService and
// CertificateService. See docs/certbridgectl.md.
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <grpc/support/log.h>

#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "tools/certbridgectl/commands.h"
#include "tools/certbridgectl/scep_commands.h"

namespace {

// gRPC core logs connection failures to stderr on its own; the CLI already prints the
// call's status with a hint, so that noise is dropped unless GRPC_VERBOSITY asks for it.
void DropGrpcLog(gpr_log_func_args*) {}

// SIGINT and SIGTERM are blocked in every thread (gRPC's threads inherit the mask) and
// taken by one thread with sigwait, so that they can cancel a running watch, which a
// signal handler could not do safely. With nothing to cancel, the signal gets its default
// action: the process ends as it would have without this.
void WatchSignals(certbridge::ctl::Interrupter& interrupter) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread([signals, &interrupter] {
    int signal_number = 0;
    while (sigwait(&signals, &signal_number) == 0) {
      if (interrupter.Interrupt()) continue;
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, signal_number);
      signal(signal_number, SIG_DFL);
      pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
      raise(signal_number);
    }
  }).detach();
}

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function(DropGrpcLog);
  // Never destroyed: the detached signal thread may use it until the process ends.
  auto* const interrupter = new certbridge::ctl::Interrupter();
  WatchSignals(*interrupter);

  certbridge::ctl::Environment env;
  for (absl::string_view name : {certbridge::ctl::kBrokerEnv, certbridge::ctl::kApiKeyEnv,
                                certbridge::ctl::kCaCertEnv}) {
    if (const char* value = std::getenv(std::string(name).c_str()); value != nullptr) {
      env.emplace(name, value);
    }
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  if (certbridge::ctl::IsScepCommand(args)) {
    return certbridge::ctl::RunScepCommand(args, env, std::cout, std::cerr);
  }
  certbridge::RealClock clock;
  return certbridge::ctl::RunCertbridgectl(args, env, clock, std::cout, std::cerr,
                                           interrupter);
}
