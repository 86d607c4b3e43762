#include "agent/ca/com_ca_backend.h"
#include "agent/native_ca_backend.h"

namespace certbridge::agent {

std::unique_ptr<CaBackendSource> NativeCaBackendSource() {
  // The COM classes are created per CA config when its first job arrives, so an agent
  // whose CA is unreachable still connects and reports each job's HRESULT.
  return std::make_unique<CachingCaBackendSource>(
      [](const std::string& config) -> absl::StatusOr<std::unique_ptr<CaBackend>> {
        absl::StatusOr<std::unique_ptr<ComCaBackend>> backend = ComCaBackend::Create(config);
        if (!backend.ok()) return backend.status();
        return std::unique_ptr<CaBackend>(std::move(*backend));
      });
}

absl::StatusOr<std::unique_ptr<CaBackend>> NativeCaBackend(const std::string& config) {
  absl::StatusOr<std::unique_ptr<ComCaBackend>> backend = ComCaBackend::Create(config);
  if (!backend.ok()) return backend.status();
  return std::unique_ptr<CaBackend>(std::move(*backend));
}

}  // namespace certbridge::agent
