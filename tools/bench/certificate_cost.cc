#include "tools/bench/certificate_cost.h"

#include <sys/resource.h>

#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/process/child_process.h"
#include "tools/bench/proc_figures.h"

namespace certbridge::bench {
namespace {

constexpr char kCountersQuery[] =
    "SELECT d.xact_commit, d.xact_rollback, d.tup_inserted, d.tup_updated, "
    "pg_snapshot_xmax(pg_current_snapshot())::text, "
    "w.wal_records, w.wal_bytes, w.wal_write, w.wal_sync, pg_current_wal_lsn()::text "
    "FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = current_database()";

absl::Duration OwnCpu() {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return absl::ZeroDuration();
  return absl::DurationFromTimeval(usage.ru_utime) + absl::DurationFromTimeval(usage.ru_stime);
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// Commit records in the WAL from `start` to `end` (pg_waldump --stats=record prints one line
// per record type: "Transaction/COMMIT  <count> (<percent>) ..."); -1 when pg_waldump is
// missing or fails.
int64_t CommitRecords(const testing::TestStack& stack, const std::string& start,
                      const std::string& end) {
  const char* bin = std::getenv("CERTBRIDGE_PG_BIN");
  const std::string waldump =
      absl::StrCat(bin != nullptr && *bin != '\0' ? bin : "/usr/lib/postgresql/15/bin", "/pg_waldump");
  testing::CommandResult r = testing::RunCommand(
      {waldump, "--stats=record", "-p", stack.postgres().dir() + "/data/pg_wal", "-s", start, "-e",
       end});
  if (r.exit_code != 0) return -1;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    if (!absl::ConsumePrefix(&line, "Transaction/COMMIT ")) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t count = 0;
    if (!fields.empty() && absl::SimpleAtoi(fields[0], &count)) return count;
  }
  return 0;
}

}  // namespace

absl::StatusOr<CostSnapshot> TakeCostSnapshot(const testing::TestStack& stack,
                                              const CostProcesses& processes) {
  absl::SleepFor(kStatsSettle);
  CostSnapshot s;
  s.postgres_cpu = ProcessTreeCpu(processes.postgres);
  s.broker_cpu = ProcessTreeCpu(processes.broker);
  for (pid_t agent : processes.agents) s.agents_cpu += ProcessTreeCpu(agent);
  s.emulator_cpu = ProcessTreeCpu(processes.emulator);
  s.bench_cpu = OwnCpu();
  absl::StatusOr<std::vector<std::string>> row = stack.QueryRow(kCountersQuery);
  if (!row.ok()) return row.status();
  int64_t* fields[] = {&s.xact_commit, &s.xact_rollback, &s.tup_inserted,
                       &s.tup_updated, &s.next_xid,      &s.wal_records,
                       &s.wal_bytes,   &s.wal_write,     &s.wal_sync};
  if (row->size() != std::size(fields) + 1) {
    return absl::InternalError("pg_stat_database has no row for the stack's database");
  }
  s.wal_lsn = row->back();
  for (size_t i = 0; i < std::size(fields); ++i) {
    if (!absl::SimpleAtoi((*row)[i], fields[i])) {
      return absl::InternalError(absl::StrCat("unexpected counter value '", (*row)[i], "'"));
    }
  }
  return s;
}

CostPerCertificate PerCertificate(const testing::TestStack& stack, const CostSnapshot& before,
                                  const CostSnapshot& after, int certificates) {
  CostPerCertificate c;
  c.certificates = certificates;
  if (certificates <= 0) return c;
  const double n = certificates;
  // The snapshot query of `before` is a read-only transaction counted in `after`.
  c.transactions =
      ((after.xact_commit - before.xact_commit - 1) + (after.xact_rollback - before.xact_rollback)) / n;
  c.rollbacks = (after.xact_rollback - before.xact_rollback) / n;
  c.durable_commits = (after.next_xid - before.next_xid) / n;
  c.rows_inserted = (after.tup_inserted - before.tup_inserted) / n;
  c.rows_updated = (after.tup_updated - before.tup_updated) / n;
  c.wal_records = (after.wal_records - before.wal_records) / n;
  c.wal_kib = (after.wal_bytes - before.wal_bytes) / 1024.0 / n;
  c.wal_writes = (after.wal_write - before.wal_write) / n;
  c.wal_syncs = (after.wal_sync - before.wal_sync) / n;
  const int64_t commits = CommitRecords(stack, before.wal_lsn, after.wal_lsn);
  if (commits >= 0) c.wal_commit_records = commits / n;
  c.postgres_cpu_ms = Ms(after.postgres_cpu - before.postgres_cpu) / n;
  c.broker_cpu_ms = Ms(after.broker_cpu - before.broker_cpu) / n;
  c.agents_cpu_ms = Ms(after.agents_cpu - before.agents_cpu) / n;
  c.emulator_cpu_ms = Ms(after.emulator_cpu - before.emulator_cpu) / n;
  c.bench_cpu_ms = Ms(after.bench_cpu - before.bench_cpu) / n;
  return c;
}

}  // namespace certbridge::bench
