// certbridge-bench's command-line flags, defined in flags.cc; each run's file reads the ones
// it needs. Their meaning and defaults: flags.cc and the flag table of docs/benchmarks.md.
#ifndef CERTBRIDGE_TOOLS_BENCH_FLAGS_H_
#define CERTBRIDGE_TOOLS_BENCH_FLAGS_H_

#include <string>

#include "absl/flags/declare.h"

ABSL_DECLARE_FLAG(int, requests);
ABSL_DECLARE_FLAG(int, concurrency);
ABSL_DECLARE_FLAG(int, single_caller_requests);
ABSL_DECLARE_FLAG(bool, two_tenants);
ABSL_DECLARE_FLAG(int, agents);
ABSL_DECLARE_FLAG(int, agent_window);
ABSL_DECLARE_FLAG(int, idle_streams);
ABSL_DECLARE_FLAG(int, idle_threads);
ABSL_DECLARE_FLAG(bool, recovery);
ABSL_DECLARE_FLAG(int, flood_callers);
ABSL_DECLARE_FLAG(int, quiet_calls);
ABSL_DECLARE_FLAG(bool, flood_process);
ABSL_DECLARE_FLAG(int, flood_nice);
ABSL_DECLARE_FLAG(bool, flood_only);
ABSL_DECLARE_FLAG(std::string, flood_address);
ABSL_DECLARE_FLAG(std::string, flood_key_file);
ABSL_DECLARE_FLAG(std::string, flood_tls_root);
ABSL_DECLARE_FLAG(int, scep_requests);
ABSL_DECLARE_FLAG(int, scep_single_caller_requests);
ABSL_DECLARE_FLAG(int, scep_device_keys);
ABSL_DECLARE_FLAG(int, warmup);
ABSL_DECLARE_FLAG(bool, verbose);

#endif  // CERTBRIDGE_TOOLS_BENCH_FLAGS_H_
