// CaBackendSource: which CaBackend serves a job's CA (Job.ca_config, "host\\CA name").
//
//   CachingCaBackendSource source([&](const std::string& config) {
//     return EmulatorCaBackend::Create({.target = addr, .identity = id, .config = config});
//   });
//   ASSIGN_OR_RETURN(CaBackend* ca, source.ForConfig("adcs01\\Corp CA"));
//
// Thread-safe. Backends live as long as the source.
#ifndef CERTBRIDGE_AGENT_JOBS_CA_BACKEND_SOURCE_H_
#define CERTBRIDGE_AGENT_JOBS_CA_BACKEND_SOURCE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/ca/ca_backend.h"

namespace certbridge::agent {

class CaBackendSource {
 public:
  virtual ~CaBackendSource() = default;
  // FAILED_PRECONDITION when this agent has no way to reach such a CA (no backend
  // configured); other errors from creating the backend.
  virtual absl::StatusOr<CaBackend*> ForConfig(const std::string& ca_config) = 0;
};

// Creates one backend per CA config on first use and keeps it.
class CachingCaBackendSource final : public CaBackendSource {
 public:
  using Factory =
      std::function<absl::StatusOr<std::unique_ptr<CaBackend>>(const std::string& ca_config)>;
  explicit CachingCaBackendSource(Factory factory) : factory_(std::move(factory)) {}

  absl::StatusOr<CaBackend*> ForConfig(const std::string& ca_config) override {
    absl::MutexLock lock(&mu_);
    auto it = backends_.find(ca_config);
    if (it != backends_.end()) return it->second.get();
    absl::StatusOr<std::unique_ptr<CaBackend>> backend = factory_(ca_config);
    if (!backend.ok()) return backend.status();
    CaBackend* raw = backend->get();
    backends_[ca_config] = *std::move(backend);
    return raw;
  }

 private:
  const Factory factory_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<CaBackend>> backends_ ABSL_GUARDED_BY(mu_);
};

// Every CA: FAILED_PRECONDITION with `reason` (e.g. how to configure a backend).
class UnconfiguredCaBackendSource final : public CaBackendSource {
 public:
  explicit UnconfiguredCaBackendSource(std::string reason) : reason_(std::move(reason)) {}
  absl::StatusOr<CaBackend*> ForConfig(const std::string& ca_config) override {
    return absl::FailedPreconditionError(
        absl::StrCat("no CA backend is configured for CA \"", ca_config, "\": ", reason_));
  }

 private:
  const std::string reason_;
};

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_JOBS_CA_BACKEND_SOURCE_H_
