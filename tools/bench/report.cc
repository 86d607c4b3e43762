#include "tools/bench/report.h"

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/integration/test_stack.h"
#include "tools/bench/flags.h"
#include "tools/bench/load.h"

#ifndef CERTBRIDGE_BUILD_TYPE
#define CERTBRIDGE_BUILD_TYPE "unknown"
#endif

namespace certbridge::bench {
namespace {

std::string Ms(absl::Duration d) { return absl::StrFormat("%.2f ms", absl::ToDoubleMilliseconds(d)); }

}  // namespace

std::string LoadAverage() {
  std::vector<std::string> fields = absl::StrSplit(testing::ReadFileOrEmpty("/proc/loadavg"), ' ');
  if (fields.size() < 3) return "unknown";
  return absl::StrCat(fields[0], " ", fields[1], " ", fields[2]);
}

void PrintTable(const Figures& f, const std::string& load_at_start) {
  const int n = absl::GetFlag(FLAGS_requests);
  const int c = absl::GetFlag(FLAGS_concurrency);
  std::printf("\ncertbridge-bench — nproc %u, build type %s, requests %d, concurrency %d, agents %d "
              "(window %d each)\n",
              std::thread::hardware_concurrency(), CERTBRIDGE_BUILD_TYPE, n, c,
              absl::GetFlag(FLAGS_agents), absl::GetFlag(FLAGS_agent_window));
  std::printf("load average at start %s, at end %s (a shared machine makes figures indicative)\n",
              load_at_start.c_str(), LoadAverage().c_str());
  std::printf("%-52s %s\n", "figure", "value");
  auto row = [](const std::string& name, const std::string& value) {
    std::printf("%-52s %s\n", name.c_str(), value.c_str());
  };
  const absl::Duration raw_p50 = Quantile(f.raw.latencies, 0.5);
  const absl::Duration raw_p99 = Quantile(f.raw.latencies, 0.99);
  const absl::Duration e2e_p50 = Quantile(f.end_to_end.latencies, 0.5);
  const absl::Duration e2e_p99 = Quantile(f.end_to_end.latencies, 0.99);
  row("raw emulator: certificates/s", absl::StrFormat("%.1f", f.raw.per_second()));
  row("raw emulator: latency p50 / p99", Ms(raw_p50) + " / " + Ms(raw_p99));
  row("end to end: certificates/s", absl::StrFormat("%.1f", f.end_to_end.per_second()));
  row("end to end: latency p50 / p99", Ms(e2e_p50) + " / " + Ms(e2e_p99));
  row("ratio end-to-end / raw certificates/s",
      f.raw.per_second() > 0 ? absl::StrFormat("%.2f", f.end_to_end.per_second() / f.raw.per_second())
                             : "n/a");
  row("broker-added latency p50 / p99", Ms(e2e_p50 - raw_p50) + " / " + Ms(e2e_p99 - raw_p99));
  row("end to end: requests / not issued / duplicates",
      absl::StrCat(f.end_to_end_requests, " / ", f.end_to_end_not_issued, " / ",
                   f.end_to_end_duplicates));
  if (!f.raw_single.latencies.empty() && !f.end_to_end_single.latencies.empty()) {
    const absl::Duration raw1 = Quantile(f.raw_single.latencies, 0.5);
    const absl::Duration e2e1 = Quantile(f.end_to_end_single.latencies, 0.5);
    const absl::Duration raw1_99 = Quantile(f.raw_single.latencies, 0.99);
    const absl::Duration e2e1_99 = Quantile(f.end_to_end_single.latencies, 0.99);
    row("one caller: raw p50 / p99", Ms(raw1) + " / " + Ms(raw1_99));
    row("one caller: end to end p50 / p99", Ms(e2e1) + " / " + Ms(e2e1_99));
    row("one caller: broker-added latency p50 / p99 (target 3 / 15 ms)",
        Ms(e2e1 - raw1) + " / " + Ms(e2e1_99 - raw1_99));
  }
  row(absl::StrCat("broker-added latency p50 at ", c, " callers (target 10 ms)"),
      Ms(e2e_p50 - raw_p50));
  if (f.cost_measured) {
    const CostPerCertificate& k = f.cost;
    row("per certificate: transactions (commits+rollbacks; target 5)",
        absl::StrFormat("%.2f (%.2f rollbacks)", k.transactions, k.rollbacks));
    row("per certificate: durable commits (xids; target 3)",
        absl::StrFormat("%.2f", k.durable_commits));
    row("per certificate: commit records in the WAL (pg_waldump)",
        k.wal_commit_records < 0 ? std::string("n/a") : absl::StrFormat("%.2f", k.wal_commit_records));
    row("per certificate: rows inserted / updated",
        absl::StrFormat("%.2f / %.2f", k.rows_inserted, k.rows_updated));
    row("per certificate: WAL records / KiB / writes / syncs",
        absl::StrFormat("%.1f / %.2f / %.2f / %.2f", k.wal_records, k.wal_kib, k.wal_writes,
                        k.wal_syncs));
    row("per certificate CPU ms: PostgreSQL / broker",
        absl::StrFormat("%.2f / %.2f", k.postgres_cpu_ms, k.broker_cpu_ms));
    row("per certificate CPU ms: agents / emulator / bench",
        absl::StrFormat("%.2f / %.2f / %.2f", k.agents_cpu_ms, k.emulator_cpu_ms, k.bench_cpu_ms));
    row("per certificate CPU ms: broker+PostgreSQL+agents vs emulator",
        absl::StrFormat("%.2f vs %.2f", k.postgres_cpu_ms + k.broker_cpu_ms + k.agents_cpu_ms,
                        k.emulator_cpu_ms));
    row("raw run: emulator CPU ms per certificate", absl::StrFormat("%.2f", f.raw_emulator_cpu_ms));
    row("idle stack: transactions/s / durable commits/s",
        absl::StrFormat("%.1f / %.1f", f.idle_transactions_per_second,
                        f.idle_durable_commits_per_second));
  }
  if (f.two_tenants_measured) {
    auto rounds = [](const std::vector<double>& rates) {
      double sum = 0;
      std::vector<std::string> each;
      for (double r : rates) {
        sum += r;
        each.push_back(absl::StrFormat("%.1f", r));
      }
      return absl::StrFormat("%.1f (rounds %s)", rates.empty() ? 0.0 : sum / rates.size(),
                             absl::StrJoin(each, ", "));
    };
    row("one tenant, same stack: certificates/s", rounds(f.one_tenant_rates));
    row("two tenants, same total load: certificates/s", rounds(f.two_tenant_rates));
    row("two tenants, last round: certificates/s A + B",
        absl::StrFormat("%.1f + %.1f", f.tenant_a.per_second(), f.tenant_b.per_second()));
    row("two tenants: not issued / duplicates",
        absl::StrCat(f.two_tenants_not_issued, " / ", f.two_tenants_duplicates));
  }
  if (f.scep_measured) {
    const ScepFigures& s = f.scep;
    row(absl::StrCat("SCEP enrollments/s (", c, " callers)"),
        absl::StrFormat("%.1f", s.enrollments.per_second()));
    row("SCEP enrollment p50 / p99 (challenge to checked cert)",
        Ms(Quantile(s.enrollments.latencies, 0.5)) + " / " +
            Ms(Quantile(s.enrollments.latencies, 0.99)));
    row("SCEP PKIOperation POST p50 / p99",
        Ms(Quantile(s.post_latencies, 0.5)) + " / " + Ms(Quantile(s.post_latencies, 0.99)));
    row("ratio SCEP enrollments/s / raw certificates/s",
        f.raw.per_second() > 0 ? absl::StrFormat("%.2f", s.enrollments.per_second() / f.raw.per_second())
                               : "n/a");
    row("ratio SCEP enrollments/s / end-to-end certificates/s",
        f.end_to_end.per_second() > 0
            ? absl::StrFormat("%.2f", s.enrollments.per_second() / f.end_to_end.per_second())
            : "n/a");
    if (!s.single.latencies.empty()) {
      row("one caller: SCEP enrollment p50 / p99",
          Ms(Quantile(s.single.latencies, 0.5)) + " / " + Ms(Quantile(s.single.latencies, 0.99)));
    }
    row("SCEP: enrollments / failed / duplicate serials",
        absl::StrCat(s.made, " / ", s.failed, " / ", s.duplicate_serials));
    if (s.cost_measured) {
      row("per SCEP enrollment: transactions / durable commits",
          absl::StrFormat("%.2f / %.2f", s.cost.transactions, s.cost.durable_commits));
      row("per SCEP enrollment CPU ms: PostgreSQL / broker / agents",
          absl::StrFormat("%.2f / %.2f / %.2f", s.cost.postgres_cpu_ms, s.cost.broker_cpu_ms,
                          s.cost.agents_cpu_ms));
      row("per SCEP enrollment CPU ms: emulator / bench (devices+MDM)",
          absl::StrFormat("%.2f / %.2f", s.cost.emulator_cpu_ms, s.cost.bench_cpu_ms));
    }
    row("SCEP: profile created to RA certificate", Ms(s.ra_wait));
    row("SCEP: distinct device keys", absl::StrCat(s.distinct_keys));
  } else {
    row("SCEP enrollments", "not measured" + (f.scep_skipped_reason.empty()
                                                  ? std::string()
                                                  : ": " + f.scep_skipped_reason));
  }
  if (f.idle_measured) {
    row("idle streams held by one broker / ended early",
        absl::StrCat(f.idle_streams_open, " / ", f.idle_streams_ended_early));
    row("broker RSS before / after", absl::StrCat(f.rss_before_kib, " KiB / ", f.rss_after_kib, " KiB"));
    row("broker RSS per idle stream",
        absl::StrFormat("%.1f KiB", f.idle_streams_open > 0
                                        ? static_cast<double>(f.rss_after_kib - f.rss_before_kib) /
                                              f.idle_streams_open
                                        : 0.0));
    row("idle streams: time to accept all / per second",
        absl::StrFormat("%.1f s / %.0f", absl::ToDoubleSeconds(f.idle_accept),
                        f.idle_streams_open / std::max(1e-9, absl::ToDoubleSeconds(f.idle_accept))));
    row("idle streams: connectors registered in",
        absl::StrFormat("%.1f s (%d threads)", absl::ToDoubleSeconds(f.idle_registration),
                        absl::GetFlag(FLAGS_idle_threads)));
    row("idle streams: broker open-files limit / bench RSS",
        absl::StrCat(f.broker_open_files_limit, " / ", f.bench_rss_kib, " KiB"));
    row("idle streams held: end-to-end certificates/s",
        absl::StrFormat("%.1f", f.during_idle.per_second()));
    row("idle streams held: end-to-end p50 / p99",
        Ms(Quantile(f.during_idle.latencies, 0.5)) + " / " +
            Ms(Quantile(f.during_idle.latencies, 0.99)));
    row("idle streams held: requests / not issued / duplicates",
        absl::StrCat(f.during_idle_requests, " / ", f.during_idle_not_issued, " / ",
                     f.during_idle_duplicates));
  } else {
    row("idle streams", "not measured");
  }
  if (f.neighbour_measured) {
    const absl::Duration alone_p99 = Quantile(f.neighbour.quiet_alone.latencies, 0.99);
    const absl::Duration flood_p99 = Quantile(f.neighbour.quiet_during_flood.latencies, 0.99);
    row("quiet tenant alone: List p50 / p99",
        Ms(Quantile(f.neighbour.quiet_alone.latencies, 0.5)) + " / " + Ms(alone_p99));
    row(absl::StrCat("quiet tenant, other tenant flooding (", absl::GetFlag(FLAGS_flood_callers),
                     absl::GetFlag(FLAGS_flood_process)
                         ? absl::StrCat(" callers, own process at nice ", absl::GetFlag(FLAGS_flood_nice))
                         : std::string(" callers, in bench"),
                     "): p50 / p99"),
        Ms(Quantile(f.neighbour.quiet_during_flood.latencies, 0.5)) + " / " + Ms(flood_p99));
    row("quiet tenant p99 during flood / alone (bound: 4.0)",
        alone_p99 > absl::ZeroDuration()
            ? absl::StrFormat("%.2f", absl::FDivDuration(flood_p99, alone_p99))
            : "n/a");
    row("flooding tenant: calls/s served / refused (RESOURCE_EXHAUSTED)",
        absl::StrFormat("%.0f / %d", f.neighbour.flood_ok / absl::ToDoubleSeconds(f.neighbour.flood_wall),
                        static_cast<int>(f.neighbour.flood_refused)));
    row("flooding tenant: calls failed otherwise", absl::StrCat(f.neighbour.flood_failed));
    row("quiet tenant failed calls alone / during flood",
        absl::StrCat(f.neighbour.quiet_alone.failures, " / ", f.neighbour.quiet_during_flood.failures));
  } else {
    row("noisy neighbour", "not measured");
  }
  if (f.recovery_measured) {
    row("recovery: kill -9 to new broker serving", Ms(f.recovery_restart));
    row("recovery: kill -9 to first certificate issued", Ms(f.recovery_time));
    row("recovery: requests / lost / duplicates",
        absl::StrCat(f.recovery_requests, " / ", f.recovery_lost, " / ", f.recovery_duplicates));
    row("recovery run: certificates/s (incl. outage)",
        absl::StrFormat("%.1f", f.recovery.per_second()));
    row("recovery run: latency p50 / max (incl. retries)",
        Ms(Quantile(f.recovery.latencies, 0.5)) + " / " + Ms(Quantile(f.recovery.latencies, 1.0)));
  } else {
    row("recovery", "not measured" + (f.recovery_skipped_reason.empty()
                                          ? std::string()
                                          : ": " + f.recovery_skipped_reason));
  }
}

}  // namespace certbridge::bench
