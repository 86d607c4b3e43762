#include "agent/native_ca_backend.h"

namespace certbridge::agent {

std::unique_ptr<CaBackendSource> NativeCaBackendSource() {
  return std::make_unique<UnconfiguredCaBackendSource>(
      "start the agent with --ca-emulator HOST:PORT (the Linux build has no AD CS client)");
}

absl::StatusOr<std::unique_ptr<CaBackend>> NativeCaBackend(const std::string& config) {
  return absl::FailedPreconditionError(
      "CA \"" + config + "\": give --emulator HOST:PORT (the Linux build has no AD CS client)");
}

}  // namespace certbridge::agent
