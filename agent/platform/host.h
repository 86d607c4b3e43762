// What the agent reads from the operating system about the machine it runs on. One
// implementation per platform: host_posix.cc, host_windows.cc. Thread-safe.
#ifndef CERTBRIDGE_AGENT_PLATFORM_HOST_H_
#define CERTBRIDGE_AGENT_PLATFORM_HOST_H_

#include <string>

namespace certbridge::agent {

// POSIX: uname(2) as "Linux 6.1.0-18-amd64 x86_64".
// Windows: "Windows 10.0.20348 x86_64" (RtlGetVersion, so not capped by the manifest).
// "unknown" if the OS does not say.
std::string OsDescription();

// POSIX: gethostname(2). Windows: the DNS host name (GetComputerNameExW,
// ComputerNameDnsHostname). "localhost" if it fails.
std::string LocalHostName();

// Where `register` and `run` keep the state dir unless told otherwise:
// POSIX /var/lib/certbridge-agent; Windows %ProgramData%\certbridge-agent
// (C:/ProgramData/certbridge-agent when the variable is unset).
std::string DefaultStateDir();

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_PLATFORM_HOST_H_
