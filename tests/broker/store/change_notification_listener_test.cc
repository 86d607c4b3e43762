// ChangeNotificationListener without PostgreSQL: a fake channel (a pipe the thread polls)
// and fake reads stand for the LISTEN connection and the pool. What the thread must do:
// deliver every record of a payload, tell the cache hook about CA and connector changes,
// reconnect after the connection breaks and report the tenants changed meanwhile, retry a
// refused connection, and make no call after SetListener(nullptr) returns.
#include "broker/store/postgres/change_notification_listener.h"

#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/store/postgres/notify_payload.h"

namespace certbridge::broker {
namespace {

using ::testing::ElementsAre;

constexpr absl::Duration kDeadline = absl::Seconds(10);

// The listening connection: payloads and breakage arrive through a pipe the thread polls.
class FakeChannel final : public NotificationChannel {
 public:
  FakeChannel() {
    if (pipe(fds_) == 0) fcntl(fds_[0], F_SETFL, O_NONBLOCK);
  }
  ~FakeChannel() override {
    close(fds_[0]);
    close(fds_[1]);
  }
  int socket() override {
    absl::MutexLock lock(&mu_);
    return broken_ ? -1 : fds_[0];
  }
  bool ConsumeInput() override {
    char buffer[64];
    while (read(fds_[0], buffer, sizeof(buffer)) > 0) {
    }
    absl::MutexLock lock(&mu_);
    return !broken_;
  }
  std::vector<std::string> TakeNotifications() override {
    absl::MutexLock lock(&mu_);
    return std::exchange(payloads_, {});
  }
  void Push(std::string payload) {
    {
      absl::MutexLock lock(&mu_);
      payloads_.push_back(std::move(payload));
    }
    Wake();
  }
  void Break() {
    {
      absl::MutexLock lock(&mu_);
      broken_ = true;
    }
    Wake();
  }

 private:
  void Wake() { (void)!write(fds_[1], "x", 1); }

  int fds_[2] = {-1, -1};
  absl::Mutex mu_;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> payloads_ ABSL_GUARDED_BY(mu_);
};

// The database as the hooks see it.
class FakeServer {
 public:
  ChangeNotificationListener::Hooks Hooks() {
    ChangeNotificationListener::Hooks hooks;
    hooks.listen = [this]() -> absl::StatusOr<std::unique_ptr<NotificationChannel>> {
      absl::MutexLock lock(&mu_);
      if (refuse_) return absl::UnavailableError("connection refused");
      auto channel = std::make_unique<FakeChannel>();
      channel_ = channel.get();  // valid until the next listen or Break: the thread drops it then
      ++listens_;
      return channel;
    };
    hooks.newest_change = [this]() -> absl::StatusOr<int64_t> {
      absl::MutexLock lock(&mu_);
      return newest_;
    };
    hooks.tenants_changed_since = [this](int64_t seq)
        -> absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> {
      absl::MutexLock lock(&mu_);
      asked_since_.push_back(seq);
      return changed_;
    };
    hooks.ca_changed = [this](const std::string& tenant_id, const std::string& ca_id) {
      absl::MutexLock lock(&mu_);
      ca_changes_.push_back(absl::StrCat(tenant_id, "/", ca_id));
    };
    hooks.everything_may_have_changed = [this] {
      absl::MutexLock lock(&mu_);
      ++everything_;
    };
    return hooks;
  }

  void Notify(const std::string& payload) {
    absl::MutexLock lock(&mu_);
    channel_->Push(payload);
  }
  // The server ends the listening session, having committed changes up to `newest`, of
  // which the thread will hear `changed` only through its reconnect reads.
  void EndSession(int64_t newest, std::vector<std::pair<std::string, int64_t>> changed) {
    absl::MutexLock lock(&mu_);
    newest_ = newest;
    changed_ = std::move(changed);
    channel_->Break();
    channel_ = nullptr;
  }
  void SetRefuse(bool refuse) {
    absl::MutexLock lock(&mu_);
    refuse_ = refuse;
  }
  void SetNewest(int64_t newest) {
    absl::MutexLock lock(&mu_);
    newest_ = newest;
  }
  bool AwaitListens(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return listens_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kDeadline);
  }
  int listens() {
    absl::MutexLock lock(&mu_);
    return listens_;
  }
  std::vector<int64_t> asked_since() {
    absl::MutexLock lock(&mu_);
    return asked_since_;
  }
  std::vector<std::string> ca_changes() {
    absl::MutexLock lock(&mu_);
    return ca_changes_;
  }
  int everything() {
    absl::MutexLock lock(&mu_);
    return everything_;
  }

 private:
  absl::Mutex mu_;
  FakeChannel* channel_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool refuse_ ABSL_GUARDED_BY(mu_) = false;
  int listens_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t newest_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<std::string, int64_t>> changed_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> asked_since_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> ca_changes_ ABSL_GUARDED_BY(mu_);
  int everything_ ABSL_GUARDED_BY(mu_) = 0;
};

class Recorder : public ChangeListener {
 public:
  void OnJobsReady(const std::string& tenant_id, const std::string& ca_id) override {
    Add(absl::StrCat("ready ", tenant_id, "/", ca_id));
  }
  void OnRequestChanged(const std::string& tenant_id, const std::string& name,
                        int64_t change_seq, std::optional<RequestState> state) override {
    Add(absl::StrCat("changed ", tenant_id, "/", name, "@", change_seq,
                     state.has_value() ? absl::StrCat(" ", RequestStateName(*state)) : ""));
  }
  void OnConnectorChanged(const std::string& tenant_id, const std::string& connector_id) override {
    Add(absl::StrCat("connector ", tenant_id, "/", connector_id));
  }
  // The calls so far, once there are at least n (or after the deadline).
  std::vector<std::string> Await(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), kDeadline);
    return calls_;
  }

 private:
  void Add(std::string call) {
    absl::MutexLock lock(&mu_);
    calls_.push_back(std::move(call));
  }
  absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

class ChangeNotificationListenerTest : public ::testing::Test {
 protected:
  FakeServer server_;
  Recorder recorder_;
  ChangeNotificationListener listener_{server_.Hooks(), kDeadline};
};

TEST_F(ChangeNotificationListenerTest, PassesTheStateOfANamedChangeAndUnknownOtherwise) {
  listener_.SetListener(&recorder_);
  server_.Notify(EncodeNotifyPayload({{"t1", "", "r1", 5, "ISSUED"}}));
  server_.Notify(EncodeNotifyPayload({{"t1", "", "r2", 6}}));  // a replica without the state
  server_.Notify("t1\x1f\x1fr3\x1f" "7\x1eS\x1fNOT_A_STATE");  // a newer replica's state
  EXPECT_THAT(recorder_.Await(3),
              ElementsAre("changed t1/r1@5 ISSUED", "changed t1/r2@6", "changed t1/r3@7"));
  listener_.SetListener(nullptr);
}

TEST_F(ChangeNotificationListenerTest, DeliversEveryRecordOfAPayload) {
  listener_.SetListener(&recorder_);  // returns once listening
  ASSERT_EQ(server_.listens(), 1);
  server_.Notify(EncodeNotifyPayload({{"t1", "ca1", "", 0}, {"t1", "", "r1", 5}}));
  server_.Notify("C\x1ft1\x1f" "c7");
  EXPECT_THAT(recorder_.Await(3),
              ElementsAre("ready t1/ca1", "changed t1/r1@5", "connector t1/c7"));
  // A connector change may be an assignment: every cached CA of the tenant goes.
  EXPECT_THAT(server_.ca_changes(), ElementsAre("t1/"));
  listener_.SetListener(nullptr);
}

TEST_F(ChangeNotificationListenerTest, CaRecordsGoToTheCacheHookNotTheListener) {
  listener_.SetListener(&recorder_);
  server_.Notify("A\x1ft1\x1f" "ca1");
  server_.Notify(EncodeNotifyPayload({{"t1", "", "r1", 7}}));  // a marker after it
  EXPECT_THAT(recorder_.Await(1), ElementsAre("changed t1/r1@7"));
  EXPECT_THAT(server_.ca_changes(), ElementsAre("t1/ca1"));
  listener_.SetListener(nullptr);
}

TEST_F(ChangeNotificationListenerTest, AfterTheSessionEndsReportsTenantsChangedMeanwhile) {
  server_.SetNewest(10);
  listener_.SetListener(&recorder_);
  ASSERT_EQ(server_.everything(), 1);
  server_.EndSession(12, {{"t2", 12}});
  ASSERT_TRUE(server_.AwaitListens(2));
  // The tenant whose change 12 nobody was told of, as "some requests changed".
  EXPECT_THAT(recorder_.Await(1), ElementsAre("changed t2/@12"));
  EXPECT_THAT(server_.asked_since(), ElementsAre(10));
  // Cached CA records may have missed their notifications too.
  EXPECT_EQ(server_.everything(), 2);
  // And the new session delivers.
  server_.Notify(EncodeNotifyPayload({{"t1", "ca1", "", 0}}));
  EXPECT_THAT(recorder_.Await(2), ElementsAre("changed t2/@12", "ready t1/ca1"));
  listener_.SetListener(nullptr);
}

TEST_F(ChangeNotificationListenerTest, RefusedConnectionsAreRetried) {
  server_.SetRefuse(true);
  ChangeNotificationListener quick(server_.Hooks(), absl::Milliseconds(50));
  quick.SetListener(&recorder_);  // gives up waiting after 50 ms; the thread keeps trying
  EXPECT_EQ(server_.listens(), 0);
  server_.SetRefuse(false);
  ASSERT_TRUE(server_.AwaitListens(1));
  quick.SetListener(nullptr);
}

TEST_F(ChangeNotificationListenerTest, NoCallAfterSetListenerNullptrReturns) {
  listener_.SetListener(&recorder_);
  server_.Notify(EncodeNotifyPayload({{"t1", "", "r1", 1}}));
  ASSERT_THAT(recorder_.Await(1), ElementsAre("changed t1/r1@1"));
  listener_.SetListener(nullptr);  // joins the thread, which dropped its channel
  // Started again, it listens anew and delivers to the new listener only.
  Recorder second;
  listener_.SetListener(&second);
  ASSERT_EQ(server_.listens(), 2);
  server_.Notify(EncodeNotifyPayload({{"t1", "", "r1", 2}}));
  EXPECT_THAT(second.Await(1), ElementsAre("changed t1/r1@2"));
  EXPECT_THAT(recorder_.Await(1), ElementsAre("changed t1/r1@1"));
  listener_.SetListener(nullptr);
}

}  // namespace
}  // namespace certbridge::broker
