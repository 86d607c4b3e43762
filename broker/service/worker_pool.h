// A fixed set of threads for blocking work (libpq, RSA, OpenSSL), so that gRPC reactor
// threads never block.
//
// Two kinds of queue:
//   - the internal queue (Post without a key): the broker's own work, one task per stream
//     event or timer, bounded by its callers. Served first.
//   - one fair queue per API caller (Post with a key, e.g. the API key id): served round
//     robin, one task per key in turn, each bounded. A caller who floods the API waits
//     behind its own backlog, not in front of everyone else's, and is refused once its
//     queue is full; since each task holds at most one database connection, the database
//     pool is shared the same way.
//
//   WorkerPool pool(16);
//   pool.Post([] { ... });                       // internal work
//   if (!pool.Post("key-abc", [] { ... }, 256)) { /* RESOURCE_EXHAUSTED */ }
//
// Thread-safe.
#ifndef CERTBRIDGE_BROKER_SERVICE_WORKER_POOL_H_
#define CERTBRIDGE_BROKER_SERVICE_WORKER_POOL_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace certbridge::broker {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  // Shutdown().
  ~WorkerPool();

  // Runs the tasks already queued, then joins the threads; tasks posted from then on are
  // dropped. Call it before destroying what the tasks refer to. Idempotent.
  void Shutdown();

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Internal work, FIFO, served before the fair queues. Tasks posted after Shutdown began
  // are dropped.
  void Post(std::function<void()> task);

  // Work on behalf of `key` (non-empty). False, without queueing, when `key` already has
  // `max_queued` tasks waiting (or the pool is shutting down).
  bool Post(const std::string& key, std::function<void()> task, size_t max_queued);

 private:
  void Run();

  absl::Mutex mu_;
  std::deque<std::function<void()>> internal_ ABSL_GUARDED_BY(mu_);
  // Non-empty queues only; `turns_` holds each of their keys once, in serving order.
  std::map<std::string, std::deque<std::function<void()>>> fair_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> turns_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_WORKER_POOL_H_
