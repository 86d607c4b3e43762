// Closed-loop load for certbridge-bench: `concurrency` threads each take the next call
// index until `count` calls are done, timing every call.
#ifndef CERTBRIDGE_TOOLS_BENCH_LOAD_H_
#define CERTBRIDGE_TOOLS_BENCH_LOAD_H_

#include <functional>
#include <vector>

#include "absl/time/time.h"

namespace certbridge::bench {

struct LoadResult {
  std::vector<absl::Duration> latencies;  // of the calls that succeeded, in no order
  int failures = 0;                       // calls whose function returned false
  absl::Duration wall;                    // first call start to last call end
  double per_second() const;              // successful calls per second of wall time
};

// Runs call(0) .. call(count-1), `concurrency` at a time. `call` must be thread-safe and
// return whether the call succeeded. Blocks until all are done.
LoadResult RunClosedLoop(int count, int concurrency, const std::function<bool(int index)>& call);

// The q-quantile (0..1) by nearest rank; zero for an empty list.
absl::Duration Quantile(std::vector<absl::Duration> values, double q);

}  // namespace certbridge::bench

#endif  // CERTBRIDGE_TOOLS_BENCH_LOAD_H_
