// Run 2 of certbridge-bench: CreateCertificateRequest through the broker's API port and its
// agents to the emulator, until each request is ISSUED (certificate_client.h), with the cost
// of each certificate measured around it; and the same load split between two tenants.
#ifndef CERTBRIDGE_TOOLS_BENCH_END_TO_END_H_
#define CERTBRIDGE_TOOLS_BENCH_END_TO_END_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/integration/test_stack.h"
#include "tools/bench/certificate_client.h"
#include "tools/bench/certificate_cost.h"
#include "tools/bench/figures.h"
#include "tools/bench/load.h"

namespace certbridge::bench {

// `n` CreateCertificateRequest calls through the API port after `warmup` unmeasured ones,
// with request ids starting with `label`.
struct EndToEndRun {
  LoadResult load;
  int not_issued = 0;
  int duplicates = 0;
};

// `concurrency` < 0: --concurrency.
absl::StatusOr<EndToEndRun> RunEndToEnd(testing::TestStack& stack,
                                        const testing::BrokerProcess& broker,
                                        const Tenant& tenant, const std::string& label, int n,
                                        int warmup, int concurrency = -1);

// The end-to-end run at --concurrency, with the cost of each certificate (database and CPU,
// tools/bench/certificate_cost.h) measured around it; then the one-caller run.
absl::Status MeasureEndToEnd(testing::TestStack& stack, const testing::BrokerProcess& broker,
                             const Tenant& tenant, const CostProcesses& processes,
                             Figures& figures);

// The same total load as the end-to-end run (--requests calls by --concurrency callers),
// split in half between `a` and `b`, both at once, alternating with `a` alone at that load
// on the same stack: one tenant's throughput should not be bounded by a per-tenant hot row.
absl::Status MeasureTwoTenants(testing::TestStack& stack, const testing::BrokerProcess& broker,
                               const Tenant& a, const Tenant& b, Figures& figures);

}  // namespace certbridge::bench

#endif  // CERTBRIDGE_TOOLS_BENCH_END_TO_END_H_
