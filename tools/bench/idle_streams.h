// Run 3 of certbridge-bench: --idle_streams idle agent streams held by one broker, each of a
// connector of its own; the broker's RSS per stream, the time to accept them all, and the
// end-to-end run again while they are held.
#ifndef CERTBRIDGE_TOOLS_BENCH_IDLE_STREAMS_H_
#define CERTBRIDGE_TOOLS_BENCH_IDLE_STREAMS_H_

#include "absl/status/status.h"
#include "tests/integration/test_stack.h"
#include "tools/bench/certificate_client.h"
#include "tools/bench/figures.h"

namespace certbridge::bench {

// FAILED_PRECONDITION when the bench's or the broker's open-files limit is too low for
// --idle_streams; otherwise the first registration, stream or end-to-end error.
absl::Status MeasureIdleStreams(testing::TestStack& stack, const testing::BrokerProcess& broker,
                                const Tenant& tenant, Figures& figures);

}  // namespace certbridge::bench

#endif  // CERTBRIDGE_TOOLS_BENCH_IDLE_STREAMS_H_
