#include "tools/bench/raw_run.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "agent/ca/emulator_ca_backend.h"
#include "tools/bench/certificate_client.h"
#include "tools/bench/flags.h"
#include "tools/bench/load.h"
#include "tools/bench/proc_figures.h"

namespace certbridge::bench {

using testing::EmulatorProcessHandle;

absl::Status MeasureRaw(const EmulatorProcessHandle& emulator, Figures& figures) {
  const int n = absl::GetFlag(FLAGS_requests);
  const int warmup = absl::GetFlag(FLAGS_warmup);
  absl::StatusOr<std::vector<std::string>> csrs = MakeCsrs(n + warmup, "raw");
  if (!csrs.ok()) return csrs.status();
  absl::StatusOr<std::unique_ptr<agent::EmulatorCaBackend>> backend =
      agent::EmulatorCaBackend::Create(
          {.target = emulator.address(), .identity = kIdentity, .config = kCaConfig, .channel = {}});
  if (!backend.ok()) return backend.status();
  const std::string attributes = absl::StrCat("CertificateTemplate:", kTemplate);
  auto submit = [&](const std::string& csr) {
    absl::StatusOr<agent::CaResult> r = (*backend)->Submit(
        {.csr_pem = csr, .attributes = attributes, .timeout = absl::Seconds(30)});
    return r.ok() && r->disposition == 3;  // CR_DISP_ISSUED
  };
  RunClosedLoop(warmup, absl::GetFlag(FLAGS_concurrency),
                [&](int i) { return submit((*csrs)[n + i]); });
  const absl::Duration emulator_cpu_before = ProcessTreeCpu(emulator.process->pid());
  figures.raw = RunClosedLoop(n, absl::GetFlag(FLAGS_concurrency),
                              [&](int i) { return submit((*csrs)[i]); });
  figures.raw_emulator_cpu_ms =
      absl::ToDoubleMilliseconds(ProcessTreeCpu(emulator.process->pid()) - emulator_cpu_before) /
      std::max(1, n);
  if (figures.raw.failures > 0) {
    return absl::InternalError(absl::StrCat(figures.raw.failures, " raw Submits were not issued"));
  }
  const int single = absl::GetFlag(FLAGS_single_caller_requests);
  if (single > 0) {
    absl::StatusOr<std::vector<std::string>> single_csrs = MakeCsrs(single, "raw-single");
    if (!single_csrs.ok()) return single_csrs.status();
    figures.raw_single = RunClosedLoop(single, 1, [&](int i) { return submit((*single_csrs)[i]); });
    if (figures.raw_single.failures > 0) {
      return absl::InternalError(
          absl::StrCat(figures.raw_single.failures, " raw one-caller Submits were not issued"));
    }
  }
  return absl::OkStatus();
}

}  // namespace certbridge::bench
