// certbridge-bench's flags (tools/bench/flags.h); documented in docs/benchmarks.md.
#include "tools/bench/flags.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(int, requests, 300, "certificates per measured run (raw, end to end, recovery)");
ABSL_FLAG(int, concurrency, 8, "calls in flight at once");
ABSL_FLAG(int, single_caller_requests, 50,
          "certificates in the one-caller runs (raw and end to end) that give the broker-added "
          "latency at one caller (0 skips)");
ABSL_FLAG(bool, two_tenants, true,
          "after a second tenant with --agents agents of its own is up, alternate two rounds: "
          "the end-to-end load from one tenant, then split between two (half the callers each)");
ABSL_FLAG(int, agents, 2, "certbridge-agent processes serving the CA");
ABSL_FLAG(int, agent_window, 4, "each agent's --max-concurrent-jobs (its credit window)");
ABSL_FLAG(int, idle_streams, 200, "idle agent streams opened to one broker (0 skips)");
ABSL_FLAG(int, idle_threads, 4,
          "threads that register the idle streams' connectors and open the streams");
ABSL_FLAG(bool, recovery, true, "measure recovery after the broker is killed mid-run");
ABSL_FLAG(int, flood_callers, 32, "callers of the flooding tenant in the noisy-neighbour run (0 skips)");
ABSL_FLAG(int, quiet_calls, 300, "calls the quiet tenant times, alone and during the flood");
ABSL_FLAG(bool, flood_process, true,
          "run the flooding tenant's callers in a process of their own at nice 19 "
          "(false: as threads of the bench, at normal priority)");
// The flood process's own flags (tools/bench/noisy_neighbour.h); not for people.
ABSL_FLAG(int, flood_nice, 19, "nice level of the flood process (--flood_process)");
ABSL_FLAG(bool, flood_only, false, "internal: be the flood process");
ABSL_FLAG(std::string, flood_address, "", "internal: the flood process's broker API address");
ABSL_FLAG(std::string, flood_key_file, "", "internal: file holding the flooding tenant's API key");
ABSL_FLAG(std::string, flood_tls_root, "", "internal: the flood process's TLS root file");
ABSL_FLAG(int, scep_requests, 100,
          "SCEP enrollments (challenge, PKCSReq over HTTP, CertRep) timed at --concurrency "
          "callers, after --concurrency unmeasured ones (0 skips)");
ABSL_FLAG(int, scep_single_caller_requests, 10,
          "SCEP enrollments timed at one caller (0 skips)");
ABSL_FLAG(int, scep_device_keys, 8,
          "RSA-2048 keys the SCEP devices share round robin (0: a fresh key per enrollment, "
          "about 0.2 s of CPU each)");
ABSL_FLAG(int, warmup, 20, "unmeasured calls before raw and end-to-end runs");
ABSL_FLAG(bool, verbose, false, "print every retried CreateCertificateRequest error");
