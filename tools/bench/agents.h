// The agent processes of certbridge-bench's stack.
#ifndef CERTBRIDGE_TOOLS_BENCH_AGENTS_H_
#define CERTBRIDGE_TOOLS_BENCH_AGENTS_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "tests/integration/test_stack.h"
#include "tools/bench/certificate_client.h"

namespace certbridge::bench {

// Registers --agents agents in `tenant`, assigns them its CA and starts them against the
// emulator; each is appended to `agents` once the broker shows it connected.
absl::Status StartAgents(testing::TestStack& stack, const testing::BrokerProcess& broker,
                         const Tenant& tenant, const testing::EmulatorProcessHandle& emulator,
                         std::vector<std::unique_ptr<testing::ChildProcess>>& agents);

}  // namespace certbridge::bench

#endif  // CERTBRIDGE_TOOLS_BENCH_AGENTS_H_
