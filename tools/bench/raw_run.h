// Run 1 of certbridge-bench: the emulator's own issuing rate, CSRs submitted straight to it
// through EmulatorCaBackend (no broker, no agent), at --concurrency and at one caller.
#ifndef CERTBRIDGE_TOOLS_BENCH_RAW_RUN_H_
#define CERTBRIDGE_TOOLS_BENCH_RAW_RUN_H_

#include "absl/status/status.h"
#include "tests/integration/test_stack.h"
#include "tools/bench/figures.h"

namespace certbridge::bench {

// Fills figures.raw, raw_emulator_cpu_ms and raw_single. INTERNAL when a Submit was not
// issued.
absl::Status MeasureRaw(const testing::EmulatorProcessHandle& emulator, Figures& figures);

}  // namespace certbridge::bench

#endif  // CERTBRIDGE_TOOLS_BENCH_RAW_RUN_H_
