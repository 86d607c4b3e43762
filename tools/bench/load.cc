#include "tools/bench/load.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace certbridge::bench {

double LoadResult::per_second() const {
  const double seconds = absl::ToDoubleSeconds(wall);
  return seconds > 0 ? static_cast<double>(latencies.size()) / seconds : 0;
}

LoadResult RunClosedLoop(int count, int concurrency, const std::function<bool(int index)>& call) {
  LoadResult result;
  absl::Mutex mu;
  std::atomic<int> next{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < std::max(1, concurrency); ++t) {
    threads.emplace_back([&] {
      for (int i = next.fetch_add(1); i < count; i = next.fetch_add(1)) {
        const absl::Time begin = absl::Now();
        const bool ok = call(i);
        const absl::Duration took = absl::Now() - begin;
        absl::MutexLock lock(&mu);
        if (ok) {
          result.latencies.push_back(took);
        } else {
          ++result.failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  result.wall = absl::Now() - start;
  return result;
}

absl::Duration Quantile(std::vector<absl::Duration> values, double q) {
  if (values.empty()) return absl::ZeroDuration();
  std::sort(values.begin(), values.end());
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
  return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace certbridge::bench
