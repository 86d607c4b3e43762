#include "broker/service/worker_pool.h"

#include <utility>

namespace certbridge::broker {

WorkerPool::WorkerPool(int threads) {
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

WorkerPool::~WorkerPool() { Shutdown(); }

void WorkerPool::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void WorkerPool::Post(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  internal_.push_back(std::move(task));
}

bool WorkerPool::Post(const std::string& key, std::function<void()> task, size_t max_queued) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  std::deque<std::function<void()>>& queue = fair_[key];
  if (queue.size() >= max_queued) {
    if (queue.empty()) fair_.erase(key);
    return false;
  }
  if (queue.empty()) turns_.push_back(key);
  queue.push_back(std::move(task));
  return true;
}

void WorkerPool::Run() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !internal_.empty() || !turns_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (!internal_.empty()) {
        task = std::move(internal_.front());
        internal_.pop_front();
      } else if (!turns_.empty()) {
        std::string key = std::move(turns_.front());
        turns_.pop_front();
        auto it = fair_.find(key);
        task = std::move(it->second.front());
        it->second.pop_front();
        if (it->second.empty()) {
          fair_.erase(it);
        } else {
          turns_.push_back(std::move(key));  // its next task waits for everyone else's turn
        }
      } else {
        return;  // stopping and drained
      }
    }
    task();
  }
}

}  // namespace certbridge::broker
