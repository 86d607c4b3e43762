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
#include <string>

#include "absl/status/statusor.h"
#include "agent/ca/ca_backend.h"
#include "agent/jobs/ca_backend_source.h"

namespace certbridge::agent {

std::unique_ptr<CaBackendSource> NativeCaBackendSource();

// One backend for `config` ("HOST\\CA name"), for `certbridge-agent test-ca`: Windows,
// ComCaBackend (UNAVAILABLE naming the HRESULT when the COM classes cannot be created);
// Linux, FAILED_PRECONDITION saying to give --emulator.
absl::StatusOr<std::unique_ptr<CaBackend>> NativeCaBackend(const std::string& config);

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_NATIVE_CA_BACKEND_H_
