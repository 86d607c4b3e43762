// The CA client this platform has built in, which `certbridge-agent run` uses when it is
// not pointed at adcs-emulator (--ca-emulator):
//   native_ca_backend_windows.cc  ComCaBackend (ICertRequest2/ICertAdmin2 through
//                                 certcli.dll), one per CA config, created on first use;
//   native_ca_backend_posix.cc    none: every job fails with FAILED_PRECONDITION saying to
//                                 use --ca-emulator (Linux has no AD CS client).
// Wired only by agent/main.cc.
#ifndef CERTBRIDGE_AGENT_NATIVE_CA_BACKEND_H_
#define CERTBRIDGE_AGENT_NATIVE_CA_BACKEND_H_

#include <memory>

#include "agent/jobs/ca_backend_source.h"

namespace certbridge::agent {

std::unique_ptr<CaBackendSource> NativeCaBackendSource();

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_NATIVE_CA_BACKEND_H_
