#include "tools/bench/recovery.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tools/bench/flags.h"
#include "tools/bench/load.h"

namespace certbridge::bench {

using testing::BrokerProcess;
using testing::ReadFileOrEmpty;
using testing::TestStack;

// Kills the broker (SIGKILL) once a third of the run is done and starts a new broker process
// (a new replica id) on the same database and the same ports, so that the agents and the
// clients find it where the old one was.
absl::Status MeasureRecovery(TestStack& stack, BrokerProcess& broker,
                             const std::vector<std::string>& broker_flags, const Tenant& tenant,
                             Figures& figures) {
  const int n = absl::GetFlag(FLAGS_requests);
  absl::StatusOr<std::vector<std::string>> csrs = MakeCsrs(n, "recovery");
  if (!csrs.ok()) return csrs.status();
  const ClientConfig client{ReadFileOrEmpty(stack.pki("tls-ca.pem")), broker.api_address(),
                            tenant.key, absl::GetFlag(FLAGS_verbose)};
  auto stub = CertificateClient(client.tls_root_pem, client.address);
  const std::string run = absl::StrCat(absl::ToUnixNanos(absl::Now()));
  std::atomic<int> done{0};
  absl::Mutex mu;
  absl::Time kill_time = absl::InfiniteFuture();
  absl::Time first_issued_after = absl::InfiniteFuture();
  absl::Status restart_status = absl::OkStatus();
  std::atomic<bool> restart_failed{false};
  std::thread killer([&] {
    testing::WaitUntil([&] { return done.load() >= n / 3; }, absl::Minutes(5));
    const absl::Time killed = absl::Now();
    broker.process->Signal(SIGKILL);
    broker.process->WaitForExit(absl::Seconds(10));
    {
      absl::MutexLock lock(&mu);
      kill_time = killed;
    }
    std::vector<std::string> flags = broker_flags;
    flags.push_back(absl::StrCat("--api_listen=127.0.0.1:", broker.api_port));
    flags.push_back(absl::StrCat("--agent_listen=127.0.0.1:", broker.agent_port));
    absl::StatusOr<BrokerProcess> replacement = stack.StartBroker(flags);
    absl::MutexLock lock(&mu);
    if (!replacement.ok()) {
      restart_status = replacement.status();
      restart_failed.store(true);
      return;
    }
    figures.recovery_restart = absl::Now() - killed;
    broker = *std::move(replacement);
  });
  IssuedLedger ledger;
  figures.recovery = RunClosedLoop(n, absl::GetFlag(FLAGS_concurrency), [&](int i) {
    if (restart_failed.load()) return false;  // no broker: the error below says why
    Outcome outcome = CreateUntilTerminal(
        *stub, client, CsrRequest(tenant, absl::StrCat("rec-", run, "-", i), (*csrs)[i]),
        absl::Seconds(90));
    ledger.Record(i, outcome);
    done.fetch_add(1);
    const bool issued = Issued(outcome);
    if (issued) {
      absl::MutexLock lock(&mu);
      // Only an answer to an attempt begun after the kill proves the new broker issues.
      if (outcome.last_attempt_start > kill_time) {
        first_issued_after = std::min(first_issued_after, absl::Now());
      }
    }
    return issued;
  });
  killer.join();
  if (!restart_status.ok()) return restart_status;
  figures.recovery_measured = true;
  figures.recovery_requests = n;
  figures.recovery_lost = ledger.not_issued();
  figures.recovery_duplicates = ledger.duplicates();
  figures.recovery_time = first_issued_after - kill_time;
  ledger.PrintErrors();
  return absl::OkStatus();
}

}  // namespace certbridge::bench
