// A unary call that waits for something to happen (a registration to be approved, a
// certificate request to settle): whoever may have changed it calls Evaluate, which re-reads
// the state on the worker pool and answers the call once it is settled, forced, or past its
// deadline. Answered exactly once; the owner keeps it in a map until `forget` runs.
//
// Thread-safe. Hooks run on the worker pool; `read` may block.
#ifndef CERTBRIDGE_BROKER_SERVICE_PENDING_CALL_H_
#define CERTBRIDGE_BROKER_SERVICE_PENDING_CALL_H_

#include <functional>
#include <memory>
#include <utility>

#include <grpcpp/support/server_callback.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/service/worker_pool.h"
#include "common/clock.h"
#include "common/api_error.h"

namespace certbridge::broker {

template <typename Response>
class PendingCall : public std::enable_shared_from_this<PendingCall<Response>> {
 public:
  struct Hooks {
    std::function<absl::StatusOr<Response>()> read;
    std::function<bool(const Response&)> settled;
    // Removes the call from its owner's map; runs once, just before the answer.
    std::function<void(PendingCall*)> forget;
  };

  // Nothing is owned; pool, clock, reactor and response must outlive the call.
  PendingCall(WorkerPool* pool, const Clock* clock, grpc::ServerUnaryReactor* reactor,
              Response* response, absl::Time deadline, Hooks hooks)
      : pool_(pool),
        clock_(clock),
        reactor_(reactor),
        response_(response),
        deadline_(deadline),
        hooks_(std::move(hooks)) {}

  absl::Time deadline() const { return deadline_; }

  // Re-reads on the pool and answers if the state is settled, `force_answer` is set, or
  // the deadline has passed. A call made while a read is under way is not dropped: that
  // read may have been taken before the change being reported, so it is followed by one
  // more read (calls arriving meanwhile fold into that one). Does nothing once answered.
  void Evaluate(bool force_answer) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      if (evaluating_) {
        read_again_ = true;
        force_again_ = force_again_ || force_answer;
        return;
      }
      evaluating_ = true;
    }
    auto self = this->shared_from_this();
    pool_->Post([self, force_answer] { self->EvaluateNow(force_answer); });
  }

 private:
  void EvaluateNow(bool force_answer) {
    for (;;) {
      absl::StatusOr<Response> result = hooks_.read();
      const bool done = !result.ok() || hooks_.settled(*result) || force_answer ||
                        clock_->Now() >= deadline_;
      {
        absl::MutexLock lock(&mu_);
        if (finished_) {
          evaluating_ = false;
          return;
        }
        if (!done) {
          if (!read_again_) {
            evaluating_ = false;
            return;
          }
          read_again_ = false;
          force_answer = force_again_;
          force_again_ = false;
          continue;
        }
        finished_ = true;
        evaluating_ = false;
      }
      hooks_.forget(this);
      if (result.ok()) *response_ = *std::move(result);
      reactor_->Finish(ToGrpcStatusWithDetails(result.status()));
      return;
    }
  }

  WorkerPool* pool_;
  const Clock* clock_;
  grpc::ServerUnaryReactor* reactor_;
  Response* response_;
  const absl::Time deadline_;
  const Hooks hooks_;
  absl::Mutex mu_;
  bool evaluating_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // Evaluate was called while a read was under way: read once more before giving up.
  bool read_again_ ABSL_GUARDED_BY(mu_) = false;
  bool force_again_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_PENDING_CALL_H_
