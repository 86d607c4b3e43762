// Run 4 of certbridge-bench: the broker is killed (SIGKILL) a third of the way through an
// end-to-end run and a new one started on the same database and ports; the time from the
// kill to the first certificate issued afterwards, and requests lost (must be 0).
#ifndef CERTBRIDGE_TOOLS_BENCH_RECOVERY_H_
#define CERTBRIDGE_TOOLS_BENCH_RECOVERY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/integration/test_stack.h"
#include "tools/bench/certificate_client.h"
#include "tools/bench/figures.h"

namespace certbridge::bench {

// `broker` is replaced by the new broker process; it is started with `broker_flags` and the
// old one's ports. The new broker's start error when it did not start.
absl::Status MeasureRecovery(testing::TestStack& stack, testing::BrokerProcess& broker,
                             const std::vector<std::string>& broker_flags, const Tenant& tenant,
                             Figures& figures);

}  // namespace certbridge::bench

#endif  // CERTBRIDGE_TOOLS_BENCH_RECOVERY_H_
