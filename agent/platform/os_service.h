// `certbridge-agent service install|uninstall|run`: the agent as an operating-system service.
//   Windows (os_service_windows.cc): the Service Control Manager. `install` registers the
//   service "certbridge-agent" (automatic start, LocalSystem, restart on failure) whose
//   command line is `"<this exe>" service run <run flags>`; `uninstall` stops and deletes
//   it; `run` is what the SCM starts: it reports RUNNING, runs the agent exactly as the
//   `run` command does, and turns SERVICE_CONTROL_STOP / SHUTDOWN into
//   ShutdownSignal::Request(), the same graceful stop as Ctrl+C (SIGTERM on Linux).
//   POSIX (os_service_posix.cc): not supported; systemd runs `certbridge-agent run`.
#ifndef CERTBRIDGE_AGENT_PLATFORM_OS_SERVICE_H_
#define CERTBRIDGE_AGENT_PLATFORM_OS_SERVICE_H_

#include <functional>

namespace certbridge::agent {

// Whether this platform has the `service` command (main.cc lists it only then).
bool HasServiceCommand();

// Runs `service SUBCOMMAND [run flags]` (argv[0] is SUBCOMMAND). `run_agent` is the `run`
// command (flags as argc/argv, returns the exit code); `usage` prints the command's help.
// Returns the process exit code: 0 done, 1 failed (the message names the Win32 error),
// 2 usage error.
int ServiceCommand(int argc, char** argv, const std::function<int(int, char**)>& run_agent);

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_PLATFORM_OS_SERVICE_H_
