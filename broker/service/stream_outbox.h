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
    }
    PumpLocked();
  }

  void OnCancel() override { End(grpc::Status::CANCELLED); }

 protected:
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
  absl::Mutex outbox_mu_;
  std::deque<Message> outbox_ ABSL_GUARDED_BY(outbox_mu_);
  bool writing_ ABSL_GUARDED_BY(outbox_mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(outbox_mu_) = false;
  bool finished_ ABSL_GUARDED_BY(outbox_mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(outbox_mu_);
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_STREAM_OUTBOX_H_
