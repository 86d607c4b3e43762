// The write half shared by the broker's streaming reactors (agent Connect, certificate
// Watch): one write in flight at a time with the rest queued behind it, Finish only after
// the queue is written, and a reference count so that work posted to the pool can outlive
// gRPC's OnDone safely.
//
//   class WatchStream : public OutboxReactor<grpc::ServerWriteReactor<Event>, Event> {
//     ... Send(event); ... End(status); ...
//   };
//
// Thread-safe: Send and End may be called from any thread. The object deletes itself when
// gRPC has called OnDone (which must call Unref) and every Ref has been released.
//
// Lifetime rule for subclasses that register themselves somewhere (a map of streams) from
// a pool task: OnDone may run before that task. Register through RegisterUnlessDone and
// unregister in OnDone only if it returns true, so that a stream whose peer left before
// it started is never left registered after it is freed.
#ifndef CERTBRIDGE_BROKER_SERVICE_STREAM_OUTBOX_H_
#define CERTBRIDGE_BROKER_SERVICE_STREAM_OUTBOX_H_

#include <atomic>
#include <deque>
#include <utility>

#include <grpcpp/support/status.h>

#include "absl/synchronization/mutex.h"

namespace certbridge::broker {

template <typename Reactor, typename Message>
class OutboxReactor : public Reactor {
 public:
  ~OutboxReactor() override = default;

  // Queues a message; dropped once the stream is ending.
  void Send(Message message) {
    absl::MutexLock lock(&outbox_mu_);
    if (finish_requested_) return;
    outbox_.push_back(std::move(message));
    PumpLocked();
  }

  // Finishes the stream with `status` once the queued messages are written. The first
  // call wins.
  void End(grpc::Status status) {
    absl::MutexLock lock(&outbox_mu_);
    if (finish_requested_) return;
    finish_requested_ = true;
    finish_status_ = std::move(status);
    PumpLocked();
  }

  void OnWriteDone(bool ok) override {
    bool drained = false;
    {
      absl::MutexLock lock(&outbox_mu_);
      writing_ = false;
      if (!ok) {
        // The peer is gone: nothing more can be written.
        outbox_.clear();
        if (!finish_requested_) {
          finish_requested_ = true;
          finish_status_ = grpc::Status::CANCELLED;
        }
      } else {
        outbox_.pop_front();
        drained = outbox_.empty() && !finish_requested_;
      }
      PumpLocked();
    }
    // Outside the lock: subclasses take their own locks here (flow control).
    if (drained) OnOutboxDrained();
  }

  void OnCancel() override { End(grpc::Status::CANCELLED); }

  // For bidi streams: starts the next read unless the stream is ending. A pool task that
  // handled a message must not call StartRead itself: the stream may have been cancelled
  // and finished meanwhile, and a read started on a finished reactor crashes the process
  // ("pure virtual method called", seen by the chaos suite). Finish is only called under
  // the same lock after finish_requested_ is set, so a read started here always precedes it.
  template <typename Message2>
  void StartReadUnlessEnding(Message2* message) {
    absl::MutexLock lock(&outbox_mu_);
    if (finish_requested_) return;
    this->StartRead(message);
  }

  // Messages queued and not yet written (the one being written included).
  size_t QueuedMessages() {
    absl::MutexLock lock(&outbox_mu_);
    return outbox_.size();
  }

 protected:
  // Called on a gRPC thread when the last queued message has been written and the stream
  // is not ending: a producer that stopped to bound memory may produce again. Must not
  // block.
  virtual void OnOutboxDrained() {}

  // Runs `add` (which registers the stream and returns whether it did) unless OnDone has
  // already run (MarkDone). Returns true when registered: OnDone must then undo it. False
  // for a stream that is already done (`add` not called) or that `add` refused. Call
  // MarkDone first thing in OnDone; it returns whether a registration was made.
  template <typename AddFn>
  bool RegisterUnlessDone(AddFn add) {
    absl::MutexLock lock(&life_mu_);
    if (done_ || !add()) return false;
    registered_ = true;
    return true;
  }
  bool MarkDone() {
    absl::MutexLock lock(&life_mu_);
    done_ = true;
    return registered_;
  }

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(outbox_mu_) {
    if (writing_ || finished_) return;
    if (!outbox_.empty()) {
      writing_ = true;
      this->StartWrite(&outbox_.front());
      return;
    }
    if (finish_requested_) {
      finished_ = true;
      this->Finish(finish_status_);
    }
  }

  std::atomic<int> refs_{1};  // released by the subclass's OnDone
  // Held while registering so that OnDone cannot run between the done_ check and the
  // registration. Lock order: life_mu_ before any lock `add` takes.
  absl::Mutex life_mu_;
  bool done_ ABSL_GUARDED_BY(life_mu_) = false;
  bool registered_ ABSL_GUARDED_BY(life_mu_) = false;
  absl::Mutex outbox_mu_;
  std::deque<Message> outbox_ ABSL_GUARDED_BY(outbox_mu_);
  bool writing_ ABSL_GUARDED_BY(outbox_mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(outbox_mu_) = false;
  bool finished_ ABSL_GUARDED_BY(outbox_mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(outbox_mu_);
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_STREAM_OUTBOX_H_
