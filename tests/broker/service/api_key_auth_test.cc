// ApiKeyAuthenticator against the FakeStore: what a made-up or oversized key costs.
#include "broker/service/api_key_auth.h"

#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "broker/store/fake/fake_store.h"
#include "common/clock.h"

namespace certbridge::broker {
namespace {

class ApiKeyAuthTest : public ::testing::Test {
 protected:
  ApiKeyAuthTest() : auth_(&store_, "", &clock_) {
    EXPECT_TRUE(store_.CreateTenant({"t-1", "Tenant one", clock_.Now()}).ok());
    key_ = GenerateApiKey();
    ApiKeyRecord record;
    record.key_id = key_.key_id;
    record.tenant_id = "t-1";
    record.secret_hash = key_.secret_hash;
    record.scopes = {"certificates"};
    record.create_time = clock_.Now();
    EXPECT_TRUE(store_.CreateApiKey(record).ok());
  }

  FakeClock clock_;
  FakeStore store_;
  ApiKeyAuthenticator auth_;
  NewApiKey key_;
};

// Before the negative cache, every call with a made-up key id cost a database lookup.
TEST_F(ApiKeyAuthTest, UnknownKeyIdIsLookedUpOnceWhileCached) {
  const int64_t before = store_.call_count();
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(auth_.Authenticate("Bearer cbk.madeup.secret").status().code(),
              absl::StatusCode::kUnauthenticated);
  }
  EXPECT_EQ(store_.call_count() - before, 1);

  clock_.Advance(absl::Seconds(31));
  EXPECT_EQ(auth_.Authenticate("Bearer cbk.madeup.secret").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(store_.call_count() - before, 2);
}

TEST_F(ApiKeyAuthTest, RealKeyStillWorksAndWrongSecretIsNotCachedAsUnknown) {
  EXPECT_EQ(auth_.Authenticate(absl::StrCat("Bearer cbk.", key_.key_id, ".wrong")).status().code(),
            absl::StatusCode::kUnauthenticated);
  auto caller = auth_.Authenticate(absl::StrCat("Bearer ", key_.full_key));
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->tenant_id, "t-1");
}

TEST_F(ApiKeyAuthTest, CacheStaysBoundedUnderAFloodOfMadeUpKeys) {
  ApiKeyAuthenticator small(&store_, "", &clock_, {absl::Seconds(30), 100});
  for (int i = 0; i < 10000; ++i) {
    EXPECT_EQ(small.Authenticate(absl::StrCat("Bearer cbk.k", i, ".s")).status().code(),
              absl::StatusCode::kUnauthenticated);
  }
  auto caller = small.Authenticate(absl::StrCat("Bearer ", key_.full_key));
  EXPECT_TRUE(caller.ok()) << caller.status();
}

TEST_F(ApiKeyAuthTest, OversizedHeaderIsRefusedWithoutALookup) {
  const int64_t before = store_.call_count();
  EXPECT_EQ(auth_.Authenticate("Bearer cbk." + std::string(100000, 'a') + ".s").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(store_.call_count(), before);
}

TEST_F(ApiKeyAuthTest, KnownKeyIsReadOnceWhileCachedAndItsSecretStillChecked) {
  const int64_t before = store_.call_count();
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(auth_.Authenticate(absl::StrCat("Bearer ", key_.full_key)).ok());
    EXPECT_EQ(auth_.Authenticate(absl::StrCat("Bearer cbk.", key_.key_id, ".wrong")).status().code(),
              absl::StatusCode::kUnauthenticated);
  }
  EXPECT_EQ(store_.call_count() - before, 1);
  clock_.Advance(absl::Seconds(6));
  EXPECT_TRUE(auth_.Authenticate(absl::StrCat("Bearer ", key_.full_key)).ok());
  EXPECT_EQ(store_.call_count() - before, 2);
}

}  // namespace
}  // namespace certbridge::broker
