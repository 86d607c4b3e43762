// A fixed set of threads for blocking work (libpq, RSA, OpenSSL), so that gRPC reactor
// threads never block. Tasks run in FIFO order; the queue is unbounded but callers bound
// their own in-flight work (one task per RPC or stream event).
#ifndef CERTBRIDGE_BROKER_SERVICE_WORKER_POOL_H_
#define CERTBRIDGE_BROKER_SERVICE_WORKER_POOL_H_

#include <deque>
#include <functional>
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

  // Thread-safe. Tasks posted after destruction began are dropped.
  void Post(std::function<void()> task);

 private:
  void Run();

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_WORKER_POOL_H_
