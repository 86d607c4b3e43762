// PendingCall (broker/service/pending_call.h): answered once, when the state it re-reads is
// settled, when forced, or past its deadline — and a wake-up that arrives while a read is
// under way is followed by one more read instead of being dropped (fe103fa).
#include "broker/service/pending_call.h"

#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace certbridge::broker {
namespace {

// Finish on a reactor bound to no call is kept for later by gRPC; the test observes the
// answer through `forget` and the response instead (the response is written after
// `forget`, so a test reads it only after pool_.Shutdown() joined the pool's threads).
class DetachedReactor final : public grpc::ServerUnaryReactor {
 public:
  void OnDone() override {}
};

// The state a call waits on, as a test changes it.
class WatchedState {
 public:
  void Set(const std::string& value) {
    absl::MutexLock lock(&mu_);
    value_ = value;
  }
  std::string Get() {
    absl::MutexLock lock(&mu_);
    ++reads_;
    return value_;
  }
  int reads() {
    absl::MutexLock lock(&mu_);
    return reads_;
  }

 private:
  absl::Mutex mu_;
  std::string value_ ABSL_GUARDED_BY(mu_) = "waiting";
  int reads_ ABSL_GUARDED_BY(mu_) = 0;
};

class PendingCallTest : public ::testing::Test {
 protected:
  using Call = PendingCall<std::string>;

  // A call whose read takes `state_`, then runs `after_read` (to hold a read open after its
  // snapshot, as a slow database read would be).
  std::shared_ptr<Call> NewCall(absl::Duration timeout, std::function<void()> after_read = {}) {
    Call::Hooks hooks;
    hooks.read = [this, after_read]() -> absl::StatusOr<std::string> {
      std::string value = state_.Get();
      if (after_read) after_read();
      return value;
    };
    hooks.settled = [](const std::string& value) { return value == "done"; };
    hooks.forget = [this](Call*) {
      absl::MutexLock lock(&mu_);
      ++answers_;
    };
    return std::make_shared<Call>(&pool_, &clock_, &reactor_, &response_,
                                  clock_.Now() + timeout, std::move(hooks));
  }

  // Waits (bounded) until the call was answered; the number of answers so far.
  int WaitForAnswer() {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](int* answers) { return *answers > 0; }, &answers_),
                         absl::Seconds(10));
    return answers_;
  }
  int answers() {
    absl::MutexLock lock(&mu_);
    return answers_;
  }

  WorkerPool pool_{2};
  FakeClock clock_;
  DetachedReactor reactor_;
  std::string response_;
  WatchedState state_;
  absl::Mutex mu_;
  int answers_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST_F(PendingCallTest, UnsettledStateIsNotAnsweredBeforeItsDeadline) {
  auto call = NewCall(absl::Seconds(30));
  call->Evaluate(false);
  pool_.Shutdown();  // runs what was queued
  EXPECT_EQ(answers(), 0);
  EXPECT_EQ(response_, "");
}

TEST_F(PendingCallTest, SettledStateIsAnsweredExactlyOnce) {
  state_.Set("done");
  auto call = NewCall(absl::Seconds(30));
  call->Evaluate(false);
  EXPECT_EQ(WaitForAnswer(), 1);
  call->Evaluate(false);
  call->Evaluate(true);
  pool_.Shutdown();
  EXPECT_EQ(answers(), 1);
  EXPECT_EQ(response_, "done");
}

TEST_F(PendingCallTest, ForcedCallAnswersWhatItRead) {
  auto forced = NewCall(absl::Seconds(30));
  forced->Evaluate(true);
  EXPECT_EQ(WaitForAnswer(), 1);
  pool_.Shutdown();
  EXPECT_EQ(response_, "waiting");
}

TEST_F(PendingCallTest, CallPastItsDeadlineAnswersWhatItRead) {
  auto late = NewCall(absl::Seconds(30));
  clock_.Advance(absl::Seconds(31));
  late->Evaluate(false);
  EXPECT_EQ(WaitForAnswer(), 1);
  pool_.Shutdown();
  EXPECT_EQ(response_, "waiting");
}

// The race fe103fa fixed: the change is reported while a read taken before it is still
// running. That read sees the old state; the call must read again, not wait for its deadline.
TEST_F(PendingCallTest, AWakeUpDuringAReadIsFollowedByAnotherRead) {
  absl::Notification first_read_taken, change_reported;
  bool first = true;  // only the pool's one evaluation touches it
  auto call = NewCall(absl::Seconds(30), [&] {
    if (!first) return;
    first = false;
    first_read_taken.Notify();
    change_reported.WaitForNotification();
  });
  call->Evaluate(false);
  ASSERT_TRUE(first_read_taken.WaitForNotificationWithTimeout(absl::Seconds(10)));
  // The first read holds "waiting"; the state settles and is reported while it runs.
  state_.Set("done");
  call->Evaluate(false);
  change_reported.Notify();
  EXPECT_EQ(WaitForAnswer(), 1) << "the wake-up during the read was dropped";
  pool_.Shutdown();  // the response is written after `forget`: join before reading it
  EXPECT_EQ(response_, "done");
  EXPECT_EQ(state_.reads(), 2);
}

}  // namespace
}  // namespace certbridge::broker
