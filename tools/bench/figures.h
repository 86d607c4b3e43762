// Every figure certbridge-bench prints: each run (raw_run.h, end_to_end.h, idle_streams.h,
// recovery.h, noisy_neighbour.h, scep_run.h) fills its part, report.h prints the table.
#ifndef CERTBRIDGE_TOOLS_BENCH_FIGURES_H_
#define CERTBRIDGE_TOOLS_BENCH_FIGURES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tools/bench/certificate_cost.h"
#include "tools/bench/load.h"
#include "tools/bench/noisy_neighbour.h"
#include "tools/bench/scep_run.h"

namespace certbridge::bench {

// Every figure printed at the end; a missing phase leaves its fields at their defaults.
struct Figures {
  LoadResult raw;
  double raw_emulator_cpu_ms = 0;  // the emulator's CPU per certificate in the raw run
  LoadResult raw_single;           // one caller
  LoadResult end_to_end;
  LoadResult end_to_end_single;    // one caller
  bool cost_measured = false;
  CostPerCertificate cost;         // of the end-to-end run
  double idle_transactions_per_second = 0;
  double idle_durable_commits_per_second = 0;
  bool two_tenants_measured = false;
  // Alternating rounds on the same stack (both tenants' agents connected): the total load
  // from one tenant, then split between two (all their certificates over the longer wall).
  std::vector<double> one_tenant_rates;
  std::vector<double> two_tenant_rates;
  LoadResult tenant_a;             // the last round's split
  LoadResult tenant_b;
  int two_tenants_not_issued = 0;
  int two_tenants_duplicates = 0;
  int end_to_end_requests = 0;
  int end_to_end_not_issued = 0;
  int end_to_end_duplicates = 0;
  bool idle_measured = false;
  int idle_streams_open = 0;
  int idle_streams_ended_early = 0;  // disconnects the broker logged while they were open
  int64_t rss_before_kib = 0;
  int64_t rss_after_kib = 0;
  int64_t bench_rss_kib = 0;          // the bench itself, holding the client ends
  int64_t broker_open_files_limit = 0;
  absl::Duration idle_registration;   // registering the idle streams' connectors
  absl::Duration idle_accept;         // first Connect to the last stream's AgentConfig
  // End to end again while the idle streams are held (the same --requests, no warm-up).
  LoadResult during_idle;
  int during_idle_requests = 0;
  int during_idle_not_issued = 0;
  int during_idle_duplicates = 0;
  bool recovery_measured = false;
  std::string recovery_skipped_reason;
  int recovery_requests = 0;
  int recovery_lost = 0;
  int recovery_duplicates = 0;
  absl::Duration recovery_time;
  absl::Duration recovery_restart;  // kill to the new broker serving
  LoadResult recovery;
  // Noisy neighbour: the quiet tenant's calls alone, then while another tenant floods.
  bool neighbour_measured = false;
  NeighbourFigures neighbour;
  // SCEP enrollments through the broker's SCEP listener (tools/bench/scep_run.h).
  bool scep_measured = false;
  std::string scep_skipped_reason;
  ScepFigures scep;
};

}  // namespace certbridge::bench

#endif  // CERTBRIDGE_TOOLS_BENCH_FIGURES_H_
