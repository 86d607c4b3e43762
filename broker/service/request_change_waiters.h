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
// Fewer reads (issue 9), as CertificateGrpcService's waiting calls do:
// - A subscription made with a `wakes` rule is not woken by a named change whose state the
//   rule says cannot end the wait (QUEUED -> DISPATCHED): every change of a request is
//   notified on its own (by name, or unnamed, or without a state), so the change that ends
//   the wait wakes it itself.
// - A waiter that passes the change_seq of the copy it holds is not woken by changes that
//   copy already shows (change numbers of a request grow with each write).
// - RequestRecorded hands over the record a write on this replica returned: a waiter woken
//   by it gets the record from WaitForChange and needs no read; the change's notification,
//   arriving later, shows nothing newer and wakes no one.
//
//   RequestChangeWaiters::Subscription changes(waiters, tenant_id, request_name, &StopsWaiting);
//   ... read r ...
//   std::optional<CertificateRequestRecord> written;
//   while (!StopsWaiting(r.state) &&
//          changes.WaitForChange(deadline - clock->Now(), r.change_seq, &written)) {
//     if (written.has_value()) r = *std::move(written); else ... read r again ...
//   }
//
// Thread-safety: all methods may be called concurrently. RequestChanged, RequestRecorded
// and Drain never block beyond a short mutex hold (they run on the store's listener thread
// or a writer's thread).
#ifndef CERTBRIDGE_BROKER_SERVICE_REQUEST_CHANGE_WAITERS_H_
#define CERTBRIDGE_BROKER_SERVICE_REQUEST_CHANGE_WAITERS_H_

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "broker/store/certificate_store.h"

namespace certbridge::broker {

class RequestChangeWaiters {
 public:
  class Subscription;

  RequestChangeWaiters() = default;
  RequestChangeWaiters(const RequestChangeWaiters&) = delete;
  RequestChangeWaiters& operator=(const RequestChangeWaiters&) = delete;
  // REQUIRES: no Subscription outlives this.
  ~RequestChangeWaiters() = default;

  // Request `name` of `tenant_id` changed (empty name: some requests of the tenant, the
  // newest numbered change_seq), by the change numbered change_seq (0: unknown), leaving it
  // in `state` (nullopt: unknown; ignored without a name).
  void RequestChanged(const std::string& tenant_id, const std::string& name,
                      int64_t change_seq = 0, std::optional<RequestState> state = std::nullopt) {
    // An unnamed record with a number covers the tenant's changes up to it; one without a
    // number (a listener's catch-up) may cover any: every waiter reads.
    const int64_t seq = change_seq > 0 ? change_seq : kUnknownChange;
    absl::MutexLock lock(&mu_);
    auto [begin, end] = subscriptions_.equal_range(tenant_id);
    for (auto it = begin; it != end; ++it) {
      Subscription* s = it->second;
      if (!name.empty() && s->name_ != name) continue;
      if (!name.empty() && state.has_value() && s->wakes_ != nullptr && !s->wakes_(*state)) {
        continue;
      }
      s->Wake(seq);
    }
  }

  // A write on this replica returned `record` (ChangeListener::OnRequestRecord): the
  // subscriptions to that request (same tenant and name) keep it, and those whose rule it
  // meets are woken with it.
  void RequestRecorded(const CertificateRequestRecord& record) {
    if (record.change_seq <= 0) return;
    absl::MutexLock lock(&mu_);
    auto [begin, end] = subscriptions_.equal_range(record.tenant_id);
    for (auto it = begin; it != end; ++it) {
      Subscription* s = it->second;
      if (s->name_ != record.name) continue;
      if (s->record_.has_value() && s->record_->change_seq >= record.change_seq) continue;
      s->record_ = record;
      if (s->wakes_ == nullptr || s->wakes_(record.state)) s->Wake(record.change_seq);
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
    // `wakes`: the states a change must leave the request in to end the wait (nullptr:
    // any change wakes). Changes of unknown state always wake.
    Subscription(RequestChangeWaiters* waiters, std::string tenant_id, std::string name,
                 bool (*wakes)(RequestState) = nullptr)
        : waiters_(waiters),
          tenant_id_(std::move(tenant_id)),
          name_(std::move(name)),
          wakes_(wakes) {
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
    bool WaitForChange(absl::Duration timeout) { return WaitForChange(timeout, 0, nullptr); }

    // The same, for a caller that holds the request as the change numbered
    // `held_change_seq` left it (0: unknown): changes up to that number do not count. When
    // it returns true and `written` is not null, *written is the request as the newest
    // change that woke it left it, if a write on this replica handed that record over
    // (RequestRecorded): use it, no read. Otherwise *written is empty: read again.
    bool WaitForChange(absl::Duration timeout, int64_t held_change_seq,
                       std::optional<CertificateRequestRecord>* written) {
      const absl::Time until = absl::Now() + timeout;
      absl::MutexLock lock(&waiters_->mu_);
      while (wake_seq_ <= held_change_seq && !waiters_->draining_) {
        if (cv_.WaitWithDeadline(&waiters_->mu_, until)) break;  // timed out
      }
      const bool changed = wake_seq_ > held_change_seq && !waiters_->draining_;
      if (written != nullptr) {
        written->reset();
        if (changed && record_.has_value() && record_->change_seq >= wake_seq_) {
          *written = *std::move(record_);
        }
      }
      if (changed) {
        wake_seq_ = 0;
        record_.reset();
      }
      return changed;
    }

   private:
    friend class RequestChangeWaiters;
    // REQUIRES: waiters_->mu_ held.
    void Wake(int64_t seq) {
      if (seq > wake_seq_) wake_seq_ = seq;
      cv_.Signal();
    }

    RequestChangeWaiters* const waiters_;
    const std::string tenant_id_;
    const std::string name_;
    bool (*const wakes_)(RequestState);
    std::multimap<std::string, Subscription*>::iterator entry_;
    // Guarded by waiters_->mu_ (the annotation cannot name another object's mutex).
    // The newest change that woke this and was not yet reported (0: none; kUnknownChange:
    // a change of unknown number).
    int64_t wake_seq_ = 0;
    // The newest record handed over by RequestRecorded and not yet reported.
    std::optional<CertificateRequestRecord> record_;
    absl::CondVar cv_;
  };

 private:
  static constexpr int64_t kUnknownChange = std::numeric_limits<int64_t>::max();

  absl::Mutex mu_;
  // Keyed by tenant_id.
  std::multimap<std::string, Subscription*> subscriptions_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_REQUEST_CHANGE_WAITERS_H_
