// PendingCall (broker/service/pending_call.h): answered once, when the state it re-reads is
// settled, when forced, or past its deadline — and a wake-up that arrives while a read is
// under way is followed by one more read instead of being dropped (fe103fa). A state offered
// with its version (a record written on this replica) answers without a read, and the answer
// never goes back to a version older than one the call has seen (issue 9).
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
  // `version` 0: the state's version is unknown to the reader.
  void Set(const std::string& value, int64_t version = 0) {
    absl::MutexLock lock(&mu_);
    value_ = value;
    version_ = version;
  }
  std::string Get(int64_t* version) {
    absl::MutexLock lock(&mu_);
    ++reads_;
    *version = version_;
    return value_;
  }
  int reads() {
    absl::MutexLock lock(&mu_);
    return reads_;
  }

 private:
  absl::Mutex mu_;
  std::string value_ ABSL_GUARDED_BY(mu_) = "waiting";
  int64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  int reads_ ABSL_GUARDED_BY(mu_) = 0;
};

class PendingCallTest : public ::testing::Test {
 protected:
  using Call = PendingCall<std::string>;

  // A call whose read takes `state_`, then runs `after_read` (to hold a read open after its
  // snapshot, as a slow database read would be).
  // `seen_version`: the version of the state the caller holds when the call starts.
  std::shared_ptr<Call> NewCall(absl::Duration timeout, std::function<void()> after_read = {},
                                int64_t seen_version = 0) {
    Call::Hooks hooks;
    hooks.read = [this, after_read](int64_t* version) -> absl::StatusOr<std::string> {
      std::string value = state_.Get(version);
      if (after_read) after_read();
      return value;
    };
    // "done", and "done at <version>" to tell offered states apart, are settled.
    hooks.settled = [](const std::string& value) { return value.rfind("done", 0) == 0; };
    hooks.forget = [this](Call*) {
      absl::MutexLock lock(&mu_);
      ++answers_;
    };
    return std::make_shared<Call>(&pool_, &clock_, &reactor_, &response_,
                                  clock_.Now() + timeout, std::move(hooks), seen_version);
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

// The record a write on this replica returned: a settled state newer than the call's answers
// it at once, on the offering thread, with no read; later wake-ups and offers change nothing.
TEST_F(PendingCallTest, OfferedSettledStateIsAnsweredWithoutARead) {
  auto call = NewCall(absl::Seconds(30), {}, /*seen_version=*/5);
  EXPECT_TRUE(call->Offer("done", 6));
  EXPECT_EQ(answers(), 1);
  EXPECT_EQ(call->SeenVersion(), 6);
  EXPECT_FALSE(call->Offer("done", 7));
  call->Evaluate(false);  // the change's notification, arriving later
  pool_.Shutdown();
  EXPECT_EQ(answers(), 1);
  EXPECT_EQ(response_, "done");
  EXPECT_EQ(state_.reads(), 0);
}

// An offer of a version the call already holds (or an older one) is ignored even if settled;
// an unsettled newer one is remembered as seen but does not answer before the deadline.
TEST_F(PendingCallTest, OfferIsAnsweredOnlyIfNewerAndSettled) {
  auto call = NewCall(absl::Seconds(30), {}, /*seen_version=*/5);
  EXPECT_FALSE(call->Offer("done", 5));
  EXPECT_FALSE(call->Offer("done", 4));
  EXPECT_FALSE(call->Offer("still waiting", 6));
  EXPECT_EQ(call->SeenVersion(), 6);
  EXPECT_FALSE(call->Offer("done", 6));
  EXPECT_TRUE(call->Offer("done", 7));
  pool_.Shutdown();
  EXPECT_EQ(answers(), 1);
  EXPECT_EQ(response_, "done");
  EXPECT_EQ(state_.reads(), 0);
}

// A read taken before a change that is offered while the read runs returns the older version:
// the call answers (here: forced) with the newer state it was offered, never the older read.
TEST_F(PendingCallTest, AReadOlderThanAnOfferedStateDoesNotWinOverIt) {
  state_.Set("waiting", 3);
  absl::Notification read_taken, offered;
  auto call = NewCall(
      absl::Seconds(30),
      [&] {
        read_taken.Notify();
        offered.WaitForNotification();
      },
      /*seen_version=*/3);
  call->Evaluate(/*force_answer=*/true);
  ASSERT_TRUE(read_taken.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_FALSE(call->Offer("dispatched", 4));  // newer, not settled
  offered.Notify();
  EXPECT_EQ(WaitForAnswer(), 1);
  pool_.Shutdown();
  EXPECT_EQ(response_, "dispatched");
  EXPECT_EQ(state_.reads(), 1);
}

// A settled offer that arrives while a read is under way answers; the read's result, when it
// comes, is dropped (answered exactly once, with the offered state).
TEST_F(PendingCallTest, AnOfferDuringAReadAnswersOnceAndTheReadIsDropped) {
  state_.Set("done", 9);
  absl::Notification read_taken, offered;
  auto call = NewCall(absl::Seconds(30), [&] {
    read_taken.Notify();
    offered.WaitForNotification();
  });
  call->Evaluate(false);
  ASSERT_TRUE(read_taken.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(call->Offer("done at 8", 8));
  offered.Notify();
  pool_.Shutdown();
  EXPECT_EQ(answers(), 1);
  EXPECT_EQ(response_, "done at 8");
}

}  // namespace
}  // namespace certbridge::broker
