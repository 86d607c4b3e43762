// Fair queues, token buckets and the gate that applies them, with a FakeClock: what one
// flooding caller costs the others.
#include "broker/service/api_call_gate.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "broker/service/token_bucket.h"
#include "broker/service/worker_pool.h"
#include "broker/store/fake/fake_store.h"
#include "common/clock.h"

namespace certbridge::broker {
namespace {

TEST(TokenBucketTest, AllowsTheBurstThenTheRateAndSaysWhenToRetry) {
  FakeClock clock;
  TokenBucket bucket(/*rate=*/10, /*burst=*/3, clock.Now());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(bucket.TryTake(clock.Now()), absl::ZeroDuration());
  EXPECT_EQ(bucket.TryTake(clock.Now()), absl::Milliseconds(100));
  clock.Advance(absl::Milliseconds(100));
  EXPECT_EQ(bucket.TryTake(clock.Now()), absl::ZeroDuration());
  clock.Advance(absl::Seconds(60));  // refills to the burst, not beyond
  for (int i = 0; i < 3; ++i) EXPECT_EQ(bucket.TryTake(clock.Now()), absl::ZeroDuration());
  EXPECT_GT(bucket.TryTake(clock.Now()), absl::ZeroDuration());
}

// Before fair queues, one caller's backlog ran before any later caller's call (FIFO).
TEST(WorkerPoolTest, FairQueuesTakeTurnsAndInternalWorkGoesFirst) {
  WorkerPool pool(1);
  absl::Notification release, blocked;
  pool.Post([&] {
    blocked.Notify();
    release.WaitForNotification();
  });
  blocked.WaitForNotification();
  absl::Mutex mu;
  std::vector<std::string> order;
  auto record = [&](std::string what) {
    return [&mu, &order, what] {
      absl::MutexLock lock(&mu);
      order.push_back(what);
    };
  };
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(pool.Post("flood", record("flood"), 100));
  ASSERT_TRUE(pool.Post("quiet", record("quiet"), 100));
  pool.Post(record("internal"));
  release.Notify();
  pool.Shutdown();
  EXPECT_EQ(order, (std::vector<std::string>{"internal", "flood", "quiet", "flood", "flood",
                                             "flood", "flood"}));
}

TEST(WorkerPoolTest, AFullQueueRefusesOnlyItsOwnKey) {
  WorkerPool pool(1);
  absl::Notification release, blocked;
  pool.Post([&] {
    blocked.Notify();
    release.WaitForNotification();
  });
  blocked.WaitForNotification();
  EXPECT_TRUE(pool.Post("flood", [] {}, 2));
  EXPECT_TRUE(pool.Post("flood", [] {}, 2));
  EXPECT_FALSE(pool.Post("flood", [] {}, 2));
  EXPECT_TRUE(pool.Post("quiet", [] {}, 2));
  release.Notify();
}

TEST(ApiCallGateTest, QueueKeyIsTheKeyIdReadWithoutTheDatabase) {
  EXPECT_EQ(ApiCallGate::QueueKeyOf("Bearer cbk.abc123.secret"), "key:abc123");
  EXPECT_EQ(ApiCallGate::QueueKeyOf("Bearer operator-key-of-32-characters-or-more"), "other");
  EXPECT_EQ(ApiCallGate::QueueKeyOf("Bearer cbk." + std::string(1000, 'a') + ".s"), "other");
  EXPECT_EQ(ApiCallGate::QueueKeyOf(""), "other");
}

class ApiCallGateRateTest : public ::testing::Test {
 protected:
  ApiCallGateRateTest() {
    EXPECT_TRUE(store_.CreateTenant({"t-1", "Tenant one", clock_.Now()}).ok());
    for (NewApiKey* key : {&key_a_, &key_b_}) {
      *key = GenerateApiKey();
      ApiKeyRecord record;
      record.key_id = key->key_id;
      record.tenant_id = "t-1";
      record.secret_hash = key->secret_hash;
      record.scopes = {"certificates"};
      EXPECT_TRUE(store_.CreateApiKey(record).ok());
    }
  }

  FakeClock clock_;
  FakeStore store_;
  WorkerPool pool_{1};
  ApiKeyAuthenticator auth_{&store_, "", &clock_};
  NewApiKey key_a_, key_b_;
};

TEST_F(ApiCallGateRateTest, KeyAndTenantRatesAreEnforcedWithARetryDelay) {
  ApiCallLimits limits;
  limits.key_calls_per_second = 1;
  limits.key_burst = 2;
  limits.tenant_calls_per_second = 1;
  limits.tenant_burst = 3;
  ApiCallGate gate(&auth_, &pool_, &clock_, limits);
  const std::string a = "Bearer " + key_a_.full_key, b = "Bearer " + key_b_.full_key;
  EXPECT_TRUE(gate.Admit(a).ok());
  EXPECT_TRUE(gate.Admit(a).ok());
  absl::Status key_limit = gate.Admit(a).status();
  EXPECT_EQ(key_limit.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(key_limit.message().find("retry after 1000 ms"), std::string::npos) << key_limit;
  // Key b has its own bucket, but the tenant's (burst 3) has one token left.
  EXPECT_TRUE(gate.Admit(b).ok());
  absl::Status tenant_limit = gate.Admit(b).status();
  EXPECT_EQ(tenant_limit.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(tenant_limit.message().find("the tenant is over its limit"), std::string::npos)
      << tenant_limit;
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(gate.Admit(b).ok());
  // A bad key is still UNAUTHENTICATED, not counted against anyone.
  EXPECT_EQ(gate.Admit("Bearer cbk.nope.nope").status().code(), absl::StatusCode::kUnauthenticated);
}

// A call the tenant's limit refuses used to spend the key's token too: the key then ran
// dry and its caller was told the wrong limit, with the wrong delay.
TEST_F(ApiCallGateRateTest, TenantRefusalDoesNotSpendTheKeysToken) {
  ApiCallLimits limits;
  limits.key_calls_per_second = 1;
  limits.key_burst = 2;
  limits.tenant_calls_per_second = 1;
  limits.tenant_burst = 1;
  ApiCallGate gate(&auth_, &pool_, &clock_, limits);
  const std::string a = "Bearer " + key_a_.full_key;
  EXPECT_TRUE(gate.Admit(a).ok());
  for (int i = 0; i < 3; ++i) {
    absl::Status refused = gate.Admit(a).status();
    EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_NE(refused.message().find("the tenant is over its limit"), std::string::npos)
        << "call " << i << ": " << refused;
  }
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(gate.Admit(a).ok());
}

}  // namespace
}  // namespace certbridge::broker
