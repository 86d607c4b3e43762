// certbridge-bench: the figures docs/architecture.md §8 asks for, measured in one run on one
// machine against real processes (PostgreSQL, certbridge-broker, certbridge-agent,
// adcs-emulator), started and torn down through the integration-test stack:
//   1. the emulator's own raw issuing rate (CSRs submitted straight to it);
//   2. end-to-end certificates/s through one broker and its agents, and broker-added
//      latency (end-to-end quantiles minus raw quantiles);
//   3. idle agent streams held by one broker: its RSS per stream, the time to accept them
//      all, and end-to-end certificates issued while they are held;
//   4. recovery: the broker is killed (SIGKILL) during a run and a new one is started on the
//      same database and ports; time from the kill to the first certificate issued
//      afterwards, and requests lost (must be 0);
//   and SCEP enrollments/s through the broker's SCEP listener, set against the raw rate.
// It prints a table and exits 1 when any request failed, was lost or issued twice.
// Usage and the meaning of every figure: docs/benchmarks.md.// Each run lives in a file of its own (raw_run.h, end_to_end.h, noisy_neighbour.h,
// scep_run.h, idle_streams.h, recovery.h); this file starts the stack, runs them in order and prints
// report.h's table.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/integration/test_stack.h"
#include "tools/bench/agents.h"
#include "tools/bench/certificate_client.h"
#include "tools/bench/certificate_cost.h"
#include "tools/bench/end_to_end.h"
#include "tools/bench/figures.h"
#include "tools/bench/flags.h"
#include "tools/bench/idle_streams.h"
#include "tools/bench/noisy_neighbour.h"
#include "tools/bench/raw_run.h"
#include "tools/bench/recovery.h"
#include "tools/bench/report.h"
#include "tools/bench/scep_run.h"

namespace certbridge::bench {
namespace {

using testing::BrokerProcess;
using testing::EmulatorProcessHandle;
using testing::ReadFileOrEmpty;
using testing::TestStack;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// This binary, which the noisy-neighbour run starts again as the flood process.
std::string SelfExe() {
  char path[4096];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : std::string();
}

int Run() {
  Figures figures;
  const std::string load_at_start = LoadAverage();
  auto step = [](const char* what) {
    std::fprintf(stderr, "[%s] %s\n", absl::FormatTime("%H:%M:%S", absl::Now(), absl::UTCTimeZone()).c_str(),
                 what);
  };
  step("starting PostgreSQL and making the PKI");
  absl::StatusOr<std::unique_ptr<TestStack>> stack = TestStack::Create();
  if (!stack.ok()) {
    std::fprintf(stderr, "certbridge-bench: cannot start the stack: %s\n", Message(stack.status()).c_str());
    return 2;
  }
  absl::StatusOr<EmulatorProcessHandle> emulator = (*stack)->StartEmulator(
      ReadFileOrEmpty(testing::SourcePath("agent/emulator/example-config.txtpb")));
  if (!emulator.ok()) {
    std::fprintf(stderr, "certbridge-bench: emulator: %s\n", Message(emulator.status()).c_str());
    return 2;
  }
  step("1/4 raw emulator rate");
  if (absl::Status s = MeasureRaw(*emulator, figures); !s.ok()) {
    std::fprintf(stderr, "certbridge-bench: raw: %s\n", Message(s).c_str());
    return 2;
  }
  std::vector<std::string> broker_flags = {"--sweep_interval=1s", "--job_lease=5s",
                                           "--heartbeat_interval_seconds=5"};
  const bool scep = absl::GetFlag(FLAGS_scep_requests) > 0;
  if (scep) {
    // The SCEP listener from the start: the broker is the same for every run.
    absl::StatusOr<std::vector<std::string>> scep_flags = ScepBrokerFlags(**stack);
    if (!scep_flags.ok()) {
      std::fprintf(stderr, "certbridge-bench: %s\n", Message(scep_flags.status()).c_str());
      return 2;
    }
    broker_flags.insert(broker_flags.end(), scep_flags->begin(), scep_flags->end());
  }
  absl::StatusOr<BrokerProcess> broker = (*stack)->StartBroker(broker_flags);
  if (!broker.ok()) {
    std::fprintf(stderr, "certbridge-bench: broker: %s\n", Message(broker.status()).c_str());
    return 2;
  }
  absl::StatusOr<Tenant> tenant = CreateTenant(**stack, *broker);
  if (!tenant.ok()) {
    std::fprintf(stderr, "certbridge-bench: tenant: %s\n", Message(tenant.status()).c_str());
    return 2;
  }
  std::vector<std::unique_ptr<testing::ChildProcess>> agents;
  if (absl::Status s = StartAgents(**stack, *broker, *tenant, *emulator, agents); !s.ok()) {
    std::fprintf(stderr, "certbridge-bench: %s\n", Message(s).c_str());
    return 2;
  }
  CostProcesses processes{.postgres = (*stack)->postgres_pid(),
                          .broker = broker->process->pid(),
                          .agents = {},
                          .emulator = emulator->process->pid()};
  for (const auto& agent : agents) processes.agents.push_back(agent->pid());
  step("2/4 end to end");
  if (absl::Status s = MeasureEndToEnd(**stack, *broker, *tenant, processes, figures); !s.ok()) {
    std::fprintf(stderr, "certbridge-bench: end to end: %s\n", Message(s).c_str());
    return 2;
  }
  if (absl::GetFlag(FLAGS_two_tenants)) {
    step("2a/4 one tenant vs two tenants at the same total load");
    absl::StatusOr<Tenant> second = CreateTenant(**stack, *broker);
    absl::Status s = second.status();
    if (s.ok()) s = StartAgents(**stack, *broker, *second, *emulator, agents);
    if (s.ok()) s = MeasureTwoTenants(**stack, *broker, *tenant, *second, figures);
    if (!s.ok()) std::fprintf(stderr, "certbridge-bench: two tenants: %s\n", Message(s).c_str());
  }
  if (absl::GetFlag(FLAGS_flood_callers) > 0) {
    step("2b/4 noisy neighbour");
    NeighbourOptions options{.flood_callers = absl::GetFlag(FLAGS_flood_callers),
                             .quiet_calls = absl::GetFlag(FLAGS_quiet_calls),
                             .flood_in_own_process = absl::GetFlag(FLAGS_flood_process),
                             .flood_nice = absl::GetFlag(FLAGS_flood_nice),
                             .self_exe = SelfExe()};
    if (absl::Status s = MeasureNoisyNeighbour(**stack, *broker, *tenant, options, figures.neighbour);
        s.ok()) {
      figures.neighbour_measured = true;
    } else {
      std::fprintf(stderr, "certbridge-bench: noisy neighbour: %s\n", Message(s).c_str());
    }
  }
  bool scep_ok = true;
  if (scep) {
    step("2c/4 SCEP enrollments");
    const ScepOptions options{.requests = absl::GetFlag(FLAGS_scep_requests),
                              .concurrency = absl::GetFlag(FLAGS_concurrency),
                              .single_caller_requests = absl::GetFlag(FLAGS_scep_single_caller_requests),
                              .warmup = absl::GetFlag(FLAGS_concurrency),
                              .distinct_keys = absl::GetFlag(FLAGS_scep_device_keys)};
    if (absl::Status s =
            MeasureScep(**stack, *broker, *emulator, *tenant, processes, options, figures.scep);
        s.ok()) {
      figures.scep_measured = true;
      for (const std::string& error : figures.scep.first_errors) {
        std::fprintf(stderr, "  SCEP: %s\n", error.c_str());
      }
    } else {
      figures.scep_skipped_reason = Message(s);
      scep_ok = false;
    }
  } else {
    figures.scep_skipped_reason = "--scep_requests=0";
  }
  if (absl::GetFlag(FLAGS_idle_streams) > 0) {
    step("3/4 idle streams");
    if (absl::Status s = MeasureIdleStreams(**stack, *broker, *tenant, figures); !s.ok()) {
      std::fprintf(stderr, "certbridge-bench: idle streams: %s\n", Message(s).c_str());
    }
  }
  bool recovery_ok = true;
  if (absl::GetFlag(FLAGS_recovery)) {
    step("4/4 recovery after kill -9 of the broker");
    if (absl::Status s = MeasureRecovery(**stack, *broker, broker_flags, *tenant, figures); !s.ok()) {
      figures.recovery_skipped_reason = Message(s);
      recovery_ok = false;
    }
  } else {
    figures.recovery_skipped_reason = "--recovery=false";
  }
  PrintTable(figures, load_at_start);
  const bool failed = figures.end_to_end_not_issued > 0 || figures.idle_streams_ended_early > 0 ||
                      figures.end_to_end_duplicates > 0 || figures.during_idle_not_issued > 0 ||
                      figures.during_idle_duplicates > 0 ||
                      figures.two_tenants_not_issued > 0 || figures.two_tenants_duplicates > 0 ||
                      figures.raw.failures > 0 || figures.recovery_lost > 0 ||
                      figures.recovery_duplicates > 0 || !recovery_ok || !scep_ok ||
                      figures.scep.failed > 0 || figures.scep.duplicate_serials > 0;
  if (failed) {
    std::printf("\nFAILED: a request (or SCEP enrollment) was not issued, was lost or was issued twice\n");
  }
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace certbridge::bench

namespace {
// The stack's processes (broker, agents, emulator) are forked into our process group and
// outlive us unless told: on SIGINT/SIGTERM, pass SIGTERM to the whole group, ourselves
// included. PostgreSQL stops by itself when its owner (this process) is gone.
void StopProcessGroup(int) {
  ::signal(SIGTERM, SIG_DFL);
  ::kill(0, SIGTERM);
}

// Each idle stream is a descriptor here and one in the broker, and 10,000 of them exceed
// the usual soft limit of 1,024: raise ours to the hard limit before any child starts, so
// that the broker (and everything else the stack forks) inherits it.
void RaiseOpenFilesLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  rlim_t wanted = limit.rlim_max;
  if (wanted == RLIM_INFINITY) wanted = 1 << 20;  // the kernel's usual nr_open
  if (limit.rlim_cur >= wanted) return;
  limit.rlim_cur = wanted;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) std::perror("certbridge-bench: setrlimit");
}
}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_flood_only)) {
    // Stays in the bench's process group, so that StopProcessGroup reaches it too.
    return certbridge::bench::RunFloodProcess(
        absl::GetFlag(FLAGS_flood_address), absl::GetFlag(FLAGS_flood_key_file),
        absl::GetFlag(FLAGS_flood_tls_root), absl::GetFlag(FLAGS_flood_callers),
        absl::GetFlag(FLAGS_flood_nice));
  }
  // Lead a process group of our own so that StopProcessGroup reaches only what we started.
  (void)::setpgid(0, 0);
  ::signal(SIGINT, StopProcessGroup);
  ::signal(SIGTERM, StopProcessGroup);
  RaiseOpenFilesLimit();
  return certbridge::bench::Run();
}
