// What one certificate costs the stack: database transactions and durable commits, WAL, and
// CPU time of each process, from two snapshots taken around a run and divided by the
// certificates it issued (docs/benchmarks.md, "Cost per certificate").
//
// Sources:
//   - pg_stat_database of the brokers' database: xact_commit, xact_rollback (every
//     transaction, reads included), tup_inserted / tup_updated;
//   - pg_current_snapshot()'s xmax, the next transaction id: PostgreSQL gives an id only to a
//     transaction that writes, and only such a transaction writes a commit record that has
//     to be flushed (an fsync with synchronous_commit = on) — the "durable commits";
//   - pg_stat_wal: WAL records, bytes, writes and syncs (syncs stay 0 while the server runs
//     with fsync = off, as the test stack's does);
//   - the commit records themselves, counted by pg_waldump --stats=record between the two
//     snapshots' WAL positions: a cross-check of the transaction-id count (they differ by
//     transactions that wrote and then rolled back, and by the bench's own reads: none);
//   - /proc of each process tree (tools/bench/proc_figures.h), and getrusage for the bench.
//
// pg_stat_database is fed by each backend at most once a second, so a snapshot first waits
// for `kStatsSettle` with the stack idle (the idle broker's own background transactions in
// that time are part of the figure; IdleTransactionsPerSecond measures them).
#ifndef CERTBRIDGE_TOOLS_BENCH_CERTIFICATE_COST_H_
#define CERTBRIDGE_TOOLS_BENCH_CERTIFICATE_COST_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/integration/test_stack.h"

namespace certbridge::bench {

inline constexpr absl::Duration kStatsSettle = absl::Milliseconds(1500);

// The processes whose CPU is counted; each is summed with its descendants.
struct CostProcesses {
  pid_t postgres = -1;  // the postmaster: all backends are its children
  pid_t broker = -1;
  std::vector<pid_t> agents;
  pid_t emulator = -1;
};

struct CostSnapshot {
  int64_t xact_commit = 0;
  int64_t xact_rollback = 0;
  int64_t tup_inserted = 0;
  int64_t tup_updated = 0;
  int64_t next_xid = 0;
  int64_t wal_records = 0;
  int64_t wal_bytes = 0;
  int64_t wal_write = 0;
  int64_t wal_sync = 0;
  std::string wal_lsn;  // pg_current_wal_lsn()
  absl::Duration postgres_cpu;
  absl::Duration broker_cpu;
  absl::Duration agents_cpu;
  absl::Duration emulator_cpu;
  absl::Duration bench_cpu;  // this process (the load generator)
};

// Waits kStatsSettle, then reads the counters and CPU times. The query is one read-only
// transaction of its own, which PerCertificate subtracts.
absl::StatusOr<CostSnapshot> TakeCostSnapshot(const testing::TestStack& stack,
                                              const CostProcesses& processes);

struct CostPerCertificate {
  int certificates = 0;
  double transactions = 0;     // commits + rollbacks
  double rollbacks = 0;
  double durable_commits = 0;  // transaction ids assigned
  double rows_inserted = 0;
  double rows_updated = 0;
  double wal_records = 0;
  double wal_kib = 0;
  double wal_writes = 0;
  double wal_syncs = 0;
  double wal_commit_records = -1;  // -1: pg_waldump unavailable or failed
  double postgres_cpu_ms = 0;
  double broker_cpu_ms = 0;
  double agents_cpu_ms = 0;
  double emulator_cpu_ms = 0;
  double bench_cpu_ms = 0;
};

// `stack` is used for pg_waldump over the WAL written between the snapshots.
CostPerCertificate PerCertificate(const testing::TestStack& stack, const CostSnapshot& before,
                                  const CostSnapshot& after, int certificates);

}  // namespace certbridge::bench

#endif  // CERTBRIDGE_TOOLS_BENCH_CERTIFICATE_COST_H_
