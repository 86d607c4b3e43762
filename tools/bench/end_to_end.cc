#include "tools/bench/end_to_end.h"

#include <algorithm>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tools/bench/flags.h"

namespace certbridge::bench {

using testing::BrokerProcess;
using testing::ReadFileOrEmpty;
using testing::TestStack;

absl::StatusOr<EndToEndRun> RunEndToEnd(TestStack& stack, const BrokerProcess& broker,
                                        const Tenant& tenant, const std::string& label, int n,
                                        int warmup, int concurrency) {
  if (concurrency < 0) concurrency = absl::GetFlag(FLAGS_concurrency);
  absl::StatusOr<std::vector<std::string>> csrs = MakeCsrs(n + warmup, label);
  if (!csrs.ok()) return csrs.status();
  const ClientConfig client{ReadFileOrEmpty(stack.pki("tls-ca.pem")), broker.api_address(),
                            tenant.key, absl::GetFlag(FLAGS_verbose)};
  auto stub = CertificateClient(client.tls_root_pem, client.address);
  const std::string run = absl::StrCat(absl::ToUnixNanos(absl::Now()));
  RunClosedLoop(warmup, concurrency, [&](int i) {
    return CreateUntilTerminal(
               *stub, client,
               CsrRequest(tenant, absl::StrCat("warm-", label, "-", run, "-", i), (*csrs)[n + i]),
               absl::Seconds(120))
        .error.empty();
  });
  IssuedLedger ledger;
  EndToEndRun out;
  out.load = RunClosedLoop(n, concurrency, [&](int i) {
    Outcome outcome = CreateUntilTerminal(
        *stub, client, CsrRequest(tenant, absl::StrCat(label, "-", run, "-", i), (*csrs)[i]),
        absl::Seconds(120));
    ledger.Record(i, outcome);
    return Issued(outcome);
  });
  out.not_issued = ledger.not_issued();
  out.duplicates = ledger.duplicates();
  ledger.PrintErrors();
  return out;
}

// The end-to-end run at --concurrency, with the cost of each certificate (database and CPU,
// tools/bench/certificate_cost.h) measured around it; then the one-caller run.
absl::Status MeasureEndToEnd(TestStack& stack, const BrokerProcess& broker, const Tenant& tenant,
                             const CostProcesses& processes, Figures& figures) {
  const int n = absl::GetFlag(FLAGS_requests);
  absl::StatusOr<EndToEndRun> warm =
      RunEndToEnd(stack, broker, tenant, "warm", absl::GetFlag(FLAGS_warmup), 0);
  if (!warm.ok()) return warm.status();
  // What the idle stack costs the database per second (sweeps, heartbeats): it is part of
  // every figure below, since each snapshot waits kStatsSettle first.
  absl::StatusOr<CostSnapshot> idle_start = TakeCostSnapshot(stack, processes);
  if (!idle_start.ok()) return idle_start.status();
  absl::StatusOr<CostSnapshot> before = TakeCostSnapshot(stack, processes);
  if (!before.ok()) return before.status();
  const double idle_seconds = absl::ToDoubleSeconds(kStatsSettle);
  figures.idle_transactions_per_second =
      (before->xact_commit - idle_start->xact_commit - 1 + before->xact_rollback -
       idle_start->xact_rollback) / idle_seconds;
  figures.idle_durable_commits_per_second = (before->next_xid - idle_start->next_xid) / idle_seconds;
  absl::StatusOr<EndToEndRun> run = RunEndToEnd(stack, broker, tenant, "e2e", n, 0);
  if (!run.ok()) return run.status();
  absl::StatusOr<CostSnapshot> after = TakeCostSnapshot(stack, processes);
  if (!after.ok()) return after.status();
  figures.cost = PerCertificate(stack, *before, *after, static_cast<int>(run->load.latencies.size()));
  figures.cost_measured = true;
  figures.end_to_end = std::move(run->load);
  figures.end_to_end_requests = n;
  figures.end_to_end_not_issued = run->not_issued;
  figures.end_to_end_duplicates = run->duplicates;
  const int single = absl::GetFlag(FLAGS_single_caller_requests);
  if (single > 0) {
    absl::StatusOr<EndToEndRun> one = RunEndToEnd(stack, broker, tenant, "single", single, 0, 1);
    if (!one.ok()) return one.status();
    figures.end_to_end_single = std::move(one->load);
    figures.end_to_end_not_issued += one->not_issued;
    figures.end_to_end_duplicates += one->duplicates;
  }
  return absl::OkStatus();
}

// Certificates per second of runs that started together: all that succeeded over the
// longest wall time.
double CombinedRate(const LoadResult& a, const LoadResult& b) {
  const absl::Duration wall = std::max(a.wall, b.wall);
  if (wall <= absl::ZeroDuration()) return 0;
  return static_cast<double>(a.latencies.size() + b.latencies.size()) / absl::ToDoubleSeconds(wall);
}

// The same total load as the end-to-end run (--requests calls by --concurrency callers),
// split in half between `a` and `b`, both at once, against `a` alone at that load on the
// same stack (the second tenant's agents connected and idle): one tenant's throughput
// should not be bounded by a per-tenant hot row. The two alternate for kTenantRounds
// rounds, so that a drift in the machine's load does not favour either.
absl::Status MeasureTwoTenants(TestStack& stack, const BrokerProcess& broker, const Tenant& a,
                               const Tenant& b, Figures& figures) {
  constexpr int kTenantRounds = 2;
  const int n = absl::GetFlag(FLAGS_requests);
  const int callers = std::max(1, absl::GetFlag(FLAGS_concurrency) / 2);
  for (int round = 0; round < kTenantRounds; ++round) {
    absl::StatusOr<EndToEndRun> alone =
        RunEndToEnd(stack, broker, a, absl::StrCat("one-", round), n, 0, 2 * callers);
    if (!alone.ok()) return alone.status();
    figures.one_tenant_rates.push_back(alone->load.per_second());
    figures.two_tenants_not_issued += alone->not_issued;
    figures.two_tenants_duplicates += alone->duplicates;

    absl::StatusOr<EndToEndRun> run_b;
    std::thread tenant_b([&] {
      run_b = RunEndToEnd(stack, broker, b, absl::StrCat("two-b-", round), n / 2, 0, callers);
    });
    absl::StatusOr<EndToEndRun> run_a =
        RunEndToEnd(stack, broker, a, absl::StrCat("two-a-", round), n - n / 2, 0, callers);
    tenant_b.join();
    if (!run_a.ok()) return run_a.status();
    if (!run_b.ok()) return run_b.status();
    figures.two_tenant_rates.push_back(CombinedRate(run_a->load, run_b->load));
    figures.two_tenants_not_issued += run_a->not_issued + run_b->not_issued;
    figures.two_tenants_duplicates += run_a->duplicates + run_b->duplicates;
    figures.tenant_a = std::move(run_a->load);
    figures.tenant_b = std::move(run_b->load);
  }
  figures.two_tenants_measured = true;
  return absl::OkStatus();
}

}  // namespace certbridge::bench
