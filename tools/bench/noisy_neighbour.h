// The noisy-neighbour figure of certbridge-bench (docs/benchmarks.md, 2b): a quiet tenant's
// ListCertificateRequests latency alone and while another tenant floods the API.
//
// The flooding callers run in a process of their own by default: the bench re-executes
// itself with --flood_only, and that process lowers itself to nice 19 (--flood_nice)
// before it starts a thread, so that on a machine with few cores the flood's TLS and HTTP/2
// client work yields to the broker, PostgreSQL and the quiet caller. The figure then
// measures how the broker shares itself between tenants rather than how the bench's own
// threads share the CPU with the quiet caller. The broker still does all the flood's
// server-side work (TLS, HTTP/2, authentication, refusals) at normal priority.
#ifndef CERTBRIDGE_TOOLS_BENCH_NOISY_NEIGHBOUR_H_
#define CERTBRIDGE_TOOLS_BENCH_NOISY_NEIGHBOUR_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tests/integration/test_stack.h"
#include "tools/bench/certificate_client.h"
#include "tools/bench/load.h"

namespace certbridge::bench {

struct NeighbourOptions {
  int flood_callers = 32;
  int quiet_calls = 300;
  // True: the flood runs in a nice-19 process of its own (`self_exe --flood_only`);
  // false: as threads of this process at normal priority (the figure before 2026-12-02).
  bool flood_in_own_process = true;
  int flood_nice = 19;     // the flood process's nice level
  std::string self_exe;  // this binary, for the flood process
};

struct NeighbourFigures {
  LoadResult quiet_alone;
  LoadResult quiet_during_flood;
  int64_t flood_ok = 0;
  int64_t flood_refused = 0;  // RESOURCE_EXHAUSTED
  int64_t flood_failed = 0;   // any other error
  absl::Duration flood_wall;
};

// Creates the flooding tenant and measures. `quiet` is an existing tenant.
absl::Status MeasureNoisyNeighbour(testing::TestStack& stack, const testing::BrokerProcess& broker,
                                   const Tenant& quiet, const NeighbourOptions& options,
                                   NeighbourFigures& figures);

// What the flood process runs, until SIGTERM or the death of its parent: `callers`
// closed-loop ListCertificateRequests calls to `address` with the API key read from
// `key_file` (never on the command line), trusting `tls_root_file`, at nice level `nice`.
// Prints "flood: at pace" once 200 calls returned and, at the end, "flood: ok=N refused=M wall_ms=W".
// Returns the process exit code.
int RunFloodProcess(const std::string& address, const std::string& key_file,
                    const std::string& tls_root_file, int callers, int nice);

}  // namespace certbridge::bench

#endif  // CERTBRIDGE_TOOLS_BENCH_NOISY_NEIGHBOUR_H_
