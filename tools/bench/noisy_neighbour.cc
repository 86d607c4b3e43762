#include "tools/bench/noisy_neighbour.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace certbridge::bench {
namespace {

using testing::CallContext;
using testing::ReadFileOrEmpty;

constexpr int kCallsBeforePace = 200;

grpc::Status ListOnce(v1::CertificateService::Stub& stub, const std::string& key) {
  v1::ListCertificateRequestsRequest list;
  list.set_page_size(1);
  v1::ListCertificateRequestsResponse out;
  return stub.ListCertificateRequests(CallContext(key).get(), list, &out);
}

struct FloodCounts {
  std::atomic<int64_t> ok{0};
  std::atomic<int64_t> refused{0};
  std::atomic<int64_t> failed{0};  // any other error
};

// A channel of its own with gRPC's default connect timeout (20 s): CertificateClient's
// 50 ms reconnect settings, meant for the recovery run, also cap each connection attempt,
// and a freshly started flood process on a loaded machine then never finished a TLS
// handshake in time ("Failed to connect to remote host: FD Shutdown" on every call).
std::unique_ptr<v1::CertificateService::Stub> FloodClient(const std::string& root,
                                                          const std::string& address, int number) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = root;
  grpc::ChannelArguments args;
  args.SetInt("certbridge.bench.flood_channel", number);
  return v1::CertificateService::NewStub(
      grpc::CreateCustomChannel(address, grpc::SslCredentials(tls), args));
}

// `callers` threads calling until `stop`; each on a channel of its own, ignoring every
// RESOURCE_EXHAUSTED and its retry delay.
std::vector<std::thread> StartFlood(const std::string& root, const std::string& address,
                                    const std::string& key, int callers,
                                    const std::atomic<bool>& stop, FloodCounts& counts) {
  std::vector<std::thread> threads;
  for (int i = 0; i < callers; ++i) {
    threads.emplace_back([&root, &address, &key, &stop, &counts, i] {
      auto stub = FloodClient(root, address, i);
      while (!stop.load()) {
        grpc::Status s = ListOnce(*stub, key);
        if (s.ok()) {
          counts.ok.fetch_add(1);
        } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          counts.refused.fetch_add(1);
        } else if (counts.failed.fetch_add(1) < 3) {
          std::fprintf(stderr, "flood: call failed: code %d: %s\n", static_cast<int>(s.error_code()),
                       s.error_message().c_str());
        }
      }
    });
  }
  return threads;
}

std::atomic<bool> flood_process_stop{false};
void StopFlood(int) { flood_process_stop.store(true); }

// "flood: ok=N refused=M wall_ms=W" from the flood process's log.
bool ParseFloodTotals(const std::string& log, NeighbourFigures& figures) {
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (absl::ConsumePrefix(&line, "flood: other errors ")) {
      (void)absl::SimpleAtoi(line, &figures.flood_failed);
    }
  }
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (!absl::ConsumePrefix(&line, "flood: ok=")) continue;
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    int64_t wall_ms = 0;
    if (parts.size() == 3 && absl::SimpleAtoi(parts[0], &figures.flood_ok) &&
        absl::ConsumePrefix(&parts[1], "refused=") &&
        absl::SimpleAtoi(parts[1], &figures.flood_refused) &&
        absl::ConsumePrefix(&parts[2], "wall_ms=") && absl::SimpleAtoi(parts[2], &wall_ms)) {
      figures.flood_wall = absl::Milliseconds(wall_ms);
      return true;
    }
  }
  return false;
}

}  // namespace

int RunFloodProcess(const std::string& address, const std::string& key_file,
                    const std::string& tls_root_file, int callers, int nice) {
  // Before any thread (gRPC's included) exists, so that every thread inherits it. A nice
  // level rather than SCHED_IDLE, which can starve the flood outright on a busy shared
  // machine (a flood that makes no calls measures nothing); the flag lets a run choose.
  if (::setpriority(PRIO_PROCESS, 0, nice) != 0) std::perror("flood: setpriority");
  ::signal(SIGTERM, StopFlood);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  const std::string key(absl::StripAsciiWhitespace(ReadFileOrEmpty(key_file)));
  const std::string root = ReadFileOrEmpty(tls_root_file);
  if (key.empty() || root.empty()) {
    std::fprintf(stderr, "flood: cannot read the key file or the TLS root\n");
    return 2;
  }
  FloodCounts counts;
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads =
      StartFlood(root, address, key, callers, flood_process_stop, counts);
  bool paced = false;
  while (!flood_process_stop.load()) {
    if (!paced &&
        counts.ok.load() + counts.refused.load() + counts.failed.load() >= kCallsBeforePace) {
      std::printf("flood: at pace\n");
      std::fflush(stdout);
      paced = true;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  for (std::thread& t : threads) t.join();
  std::printf("flood: ok=%lld refused=%lld wall_ms=%lld\nflood: other errors %lld\n",
              static_cast<long long>(counts.ok.load()), static_cast<long long>(counts.refused.load()),
              static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - start)),
              static_cast<long long>(counts.failed.load()));
  std::fflush(stdout);
  return 0;
}

absl::Status MeasureNoisyNeighbour(testing::TestStack& stack, const testing::BrokerProcess& broker,
                                   const Tenant& quiet, const NeighbourOptions& options,
                                   NeighbourFigures& figures) {
  absl::StatusOr<Tenant> loud = CreateTenant(stack, broker);
  if (!loud.ok()) return loud.status();
  const std::string root = ReadFileOrEmpty(stack.pki("tls-ca.pem"));
  auto quiet_stub = CertificateClient(root, broker.api_address());
  auto quiet_run = [&] {
    return RunClosedLoop(options.quiet_calls, 1,
                         [&](int) { return ListOnce(*quiet_stub, quiet.key).ok(); });
  };
  figures.quiet_alone = quiet_run();

  if (!options.flood_in_own_process) {
    std::atomic<bool> stop{false};
    FloodCounts counts;
    const absl::Time flood_start = absl::Now();
    std::vector<std::thread> flood =
        StartFlood(root, broker.api_address(), loud->key, options.flood_callers, stop, counts);
    // Let the flood reach its pace before timing the quiet tenant.
    testing::WaitUntil(
        [&] { return counts.ok.load() + counts.refused.load() >= kCallsBeforePace; },
        absl::Seconds(30));
    figures.quiet_during_flood = quiet_run();
    stop.store(true);
    for (std::thread& t : flood) t.join();
    figures.flood_wall = absl::Now() - flood_start;
    figures.flood_ok = counts.ok.load();
    figures.flood_refused = counts.refused.load();
    figures.flood_failed = counts.failed.load();
    return absl::OkStatus();
  }

  // The key goes to the flood process in a file only it and we can read, not in argv.
  const std::string key_file = stack.dir() + "/flood.key";
  {
    std::ofstream out(key_file);
    out << loud->key << "\n";
  }
  ::chmod(key_file.c_str(), 0600);
  absl::StatusOr<std::unique_ptr<testing::ChildProcess>> flood = testing::ChildProcess::Start(
      {options.self_exe, "--flood_only", "--flood_address=" + broker.api_address(),
       "--flood_key_file=" + key_file, "--flood_tls_root=" + stack.pki("tls-ca.pem"),
       absl::StrCat("--flood_callers=", options.flood_callers),
       absl::StrCat("--flood_nice=", options.flood_nice)},
      stack.dir() + "/flood.log");
  if (!flood.ok()) return flood.status();
  if (!testing::WaitUntil([&] { return absl::StrContains((*flood)->Log(), "flood: at pace"); },
                          absl::Seconds(60))) {
    return absl::DeadlineExceededError(
        absl::StrCat("the flood process never reached its pace; its log:\n", (*flood)->Log()));
  }
  figures.quiet_during_flood = quiet_run();
  (*flood)->Signal(SIGTERM);
  if ((*flood)->WaitForExit(absl::Seconds(60)) != 0 || !ParseFloodTotals((*flood)->Log(), figures)) {
    return absl::InternalError(
        absl::StrCat("the flood process did not report; its log:\n", (*flood)->Log()));
  }
  if (figures.flood_failed > 0) {
    std::fprintf(stderr, "  the flood process's log:\n%s", (*flood)->Log().c_str());
  }
  return absl::OkStatus();
}

}  // namespace certbridge::bench
