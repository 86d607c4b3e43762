// A unary call that waits for something to happen (a registration to be approved, a
// certificate request to settle): whoever may have changed it calls Evaluate, which re-reads
// the state on the worker pool and answers the call once it is settled, forced, or past its
// deadline; or, when it already holds the new state (the record a write on this replica
// returned), calls Offer, which answers from it without a read. Answered exactly once; the
// owner keeps it in a map until `forget` runs.
//
// Versions: a state may carry a version, a number that grows with every change of it (a
// request's change_seq; 0: unknown). The call remembers the newest version it has read or
// been offered (SeenVersion), answers an Offer only when it is newer than that, and never
// answers with a read older than a state it was offered: the call's answer never goes back
// to an older state than one it has seen.
//
// Thread-safe. Hooks run on the worker pool (Offer's `settled` and `forget` on the caller's
// thread); `read` may block. Lock order: an owner's lock may be held while calling Evaluate
// or SeenVersion, never while calling Offer (which runs `forget`).
#ifndef CERTBRIDGE_BROKER_SERVICE_PENDING_CALL_H_
#define CERTBRIDGE_BROKER_SERVICE_PENDING_CALL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
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
    // Reads the state; sets *version to its version when known (left 0 otherwise).
    std::function<absl::StatusOr<Response>(int64_t* version)> read;
    std::function<bool(const Response&)> settled;
    // Removes the call from its owner's map; runs once, just before the answer.
    std::function<void(PendingCall*)> forget;
  };

  // Nothing is owned; pool, clock, reactor and response must outlive the call.
  // `seen_version`: the version of the state the caller already holds (0: unknown).
  PendingCall(WorkerPool* pool, const Clock* clock, grpc::ServerUnaryReactor* reactor,
              Response* response, absl::Time deadline, Hooks hooks, int64_t seen_version = 0)
      : pool_(pool),
        clock_(clock),
        reactor_(reactor),
        response_(response),
        deadline_(deadline),
        hooks_(std::move(hooks)),
        seen_version_(seen_version) {}

  absl::Time deadline() const { return deadline_; }

  // The newest version read or offered so far (or given to the constructor).
  int64_t SeenVersion() {
    absl::MutexLock lock(&mu_);
    return seen_version_;
  }

  // `state` at `version` (> 0), known without a read. Ignored when the call is answered or
  // has seen this version or a newer one. Otherwise it becomes the newest state seen, and
  // if it is settled (or the deadline has passed) the call is answered with it now, on
  // this thread, and a read under way is discarded; if not, a later read that returns an
  // older version counts as this state instead. Returns whether it answered. Never blocks
  // beyond `settled`, `forget` and a short mutex hold.
  bool Offer(const Response& state, int64_t version) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || version <= seen_version_) return false;
      seen_version_ = version;
      if (!hooks_.settled(state) && clock_->Now() < deadline_) {
        offered_ = state;
        return false;
      }
      finished_ = true;
      offered_.reset();
    }
    hooks_.forget(this);
    *response_ = state;
    reactor_->Finish(grpc::Status::OK);
    return true;
  }

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
      int64_t version = 0;
      absl::StatusOr<Response> result = hooks_.read(&version);
      {
        absl::MutexLock lock(&mu_);
        if (finished_) {
          evaluating_ = false;
          return;
        }
        if (result.ok() && version > 0) {
          if (version >= seen_version_) {
            seen_version_ = version;
            offered_.reset();
          } else if (offered_.has_value()) {
            // Read before a change it was offered meanwhile: that change is the newer state.
            result = *offered_;
          }
        }
        const bool done = !result.ok() || hooks_.settled(*result) || force_answer ||
                          clock_->Now() >= deadline_;
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
        offered_.reset();
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
  int64_t seen_version_ ABSL_GUARDED_BY(mu_);
  // The state last offered, while no read has returned its version or a newer one.
  std::optional<Response> offered_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_PENDING_CALL_H_
