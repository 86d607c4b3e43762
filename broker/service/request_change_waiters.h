// RequestChangeWaiters: a thread that must block until a certificate request changes (the
// SCEP listener's Enroll, on its own libmicrohttpd connection thread) waits here, and the
// store's change notifications (ChangeFanout, for changes committed by any replica) wake
// it. The synchronous counterpart of PendingCall, which answers gRPC calls without holding
// a thread (docs/architecture.md §4: wake-ups without polling).
//
//   RequestChangeWaiters::Subscription changes(waiters, tenant_id, request_name);
//   ASSIGN_OR_RETURN(CertificateRequestRecord r, store->GetCertificateRequest(...));
//   while (!Settled(r) && changes.WaitForChange(deadline - clock->Now())) {
//     ... read r again ...
//   }
//
// Subscribe before the first read: a change between that read and the wait is then not
// lost (WaitForChange returns at once). A change reported without a request name (the
// Postgres store collapses a claim's or a sweep's changes into one per tenant) wakes every
// subscription of that tenant. Drain (shutdown) wakes every waiter and ends later waits at
// once, as if their time were up.
//
// Thread-safety: all methods may be called concurrently. RequestChanged and Drain never
// block beyond a short mutex hold (they run on the store's listener thread).
#ifndef CERTBRIDGE_BROKER_SERVICE_REQUEST_CHANGE_WAITERS_H_
#define CERTBRIDGE_BROKER_SERVICE_REQUEST_CHANGE_WAITERS_H_

#include <map>
#include <utility>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace certbridge::broker {

class RequestChangeWaiters {
 public:
  class Subscription;

  RequestChangeWaiters() = default;
  RequestChangeWaiters(const RequestChangeWaiters&) = delete;
  RequestChangeWaiters& operator=(const RequestChangeWaiters&) = delete;
  // REQUIRES: no Subscription outlives this.
  ~RequestChangeWaiters() = default;

  // Request `name` of `tenant_id` changed (empty name: some request of the tenant).
  void RequestChanged(const std::string& tenant_id, const std::string& name) {
    absl::MutexLock lock(&mu_);
    auto [begin, end] = subscriptions_.equal_range(tenant_id);
    for (auto it = begin; it != end; ++it) {
      Subscription* s = it->second;
      if (name.empty() || s->name_ == name) {
        s->changed_ = true;
        s->cv_.Signal();
      }
    }
  }

  // Every wait, now and later, returns false at once.
  void Drain() {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    for (auto& [tenant, s] : subscriptions_) s->cv_.Signal();
  }

  // Subscriptions registered now (for metrics and tests).
  int Subscribed() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(subscriptions_.size());
  }

  // One thread's interest in one request, from construction to destruction.
  // Not thread-safe itself: one thread waits on it.
  class Subscription {
   public:
    Subscription(RequestChangeWaiters* waiters, std::string tenant_id, std::string name)
        : waiters_(waiters), tenant_id_(std::move(tenant_id)), name_(std::move(name)) {
      absl::MutexLock lock(&waiters_->mu_);
      entry_ = waiters_->subscriptions_.emplace(tenant_id_, this);
    }
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription() {
      absl::MutexLock lock(&waiters_->mu_);
      waiters_->subscriptions_.erase(entry_);
    }

    // True when the request changed since the subscription began or the previous true
    // answer (read it again); false when `timeout` passed first (measured in real time:
    // the caller turns its deadline on its Clock into the timeout) or the waiters drain.
    bool WaitForChange(absl::Duration timeout) {
      const absl::Time until = absl::Now() + timeout;
      absl::MutexLock lock(&waiters_->mu_);
      while (!changed_ && !waiters_->draining_) {
        if (cv_.WaitWithDeadline(&waiters_->mu_, until)) break;  // timed out
      }
      const bool changed = changed_ && !waiters_->draining_;
      changed_ = false;
      return changed;
    }

   private:
    friend class RequestChangeWaiters;
    RequestChangeWaiters* const waiters_;
    const std::string tenant_id_;
    const std::string name_;
    std::multimap<std::string, Subscription*>::iterator entry_;
    // Guarded by waiters_->mu_ (the annotation cannot name another object's mutex).
    bool changed_ = false;
    absl::CondVar cv_;
  };

 private:
  absl::Mutex mu_;
  // Keyed by tenant_id.
  std::multimap<std::string, Subscription*> subscriptions_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_REQUEST_CHANGE_WAITERS_H_
