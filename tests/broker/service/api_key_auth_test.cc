// ApiKeyAuthenticator against the FakeStore: what a made-up or oversized key costs.
#include "broker/service/api_key_auth.h"

#include <string>
#include <vector>

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
  // One lookup, and one write of the key's first use.
  EXPECT_EQ(store_.call_count() - before, 2);
  clock_.Advance(absl::Seconds(6));
  EXPECT_TRUE(auth_.Authenticate(absl::StrCat("Bearer ", key_.full_key)).ok());
  EXPECT_EQ(store_.call_count() - before, 3);
}

TEST_F(ApiKeyAuthTest, LastUseIsWrittenOncePerGranularity) {
  const absl::Time first_use = clock_.Now();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(auth_.Authenticate(absl::StrCat("Bearer ", key_.full_key)).ok());
    clock_.Advance(absl::Seconds(1));
  }
  auto stored = store_.LookupApiKey(key_.key_id);
  ASSERT_TRUE(stored.ok());
  ASSERT_TRUE(stored->last_use_time.has_value());
  EXPECT_EQ(*stored->last_use_time, first_use);

  clock_.Advance(absl::Minutes(2));
  ASSERT_TRUE(auth_.Authenticate(absl::StrCat("Bearer ", key_.full_key)).ok());
  stored = store_.LookupApiKey(key_.key_id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*stored->last_use_time, clock_.Now());
}

TEST_F(ApiKeyAuthTest, RevokedKeyIsRefusedWithinTheCacheLifetimeAndSaysWhy) {
  ASSERT_TRUE(auth_.Authenticate(absl::StrCat("Bearer ", key_.full_key)).ok());
  ASSERT_TRUE(store_.RevokeApiKey("t-1", key_.key_id, clock_.Now()).ok());
  clock_.Advance(absl::Seconds(6));  // past known_key_ttl
  absl::Status status = auth_.Authenticate(absl::StrCat("Bearer ", key_.full_key)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(status.message().find("was revoked"), absl::string_view::npos) << status;
  // Without the secret, nothing is said about the key.
  status = auth_.Authenticate(absl::StrCat("Bearer cbk.", key_.key_id, ".wrong")).status();
  EXPECT_EQ(status.message(), "unknown or revoked API key");
}

TEST_F(ApiKeyAuthTest, ExpiredKeyIsRefused) {
  NewApiKey expiring = GenerateApiKey();
  ApiKeyRecord record;
  record.key_id = expiring.key_id;
  record.tenant_id = "t-1";
  record.secret_hash = expiring.secret_hash;
  record.scopes = {"certificates"};
  record.create_time = clock_.Now();
  record.expire_time = clock_.Now() + absl::Hours(1);
  ASSERT_TRUE(store_.CreateApiKey(record).ok());
  EXPECT_TRUE(auth_.Authenticate(absl::StrCat("Bearer ", expiring.full_key)).ok());
  clock_.Advance(absl::Hours(1));
  absl::Status status = auth_.Authenticate(absl::StrCat("Bearer ", expiring.full_key)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(status.message().find("expired at"), absl::string_view::npos) << status;
}

TEST_F(ApiKeyAuthTest, OperatorKeysRotateWithoutARestart) {
  const std::string old_key(40, 'o');
  const std::string new_key(40, 'n');
  ApiKeyAuthenticator auth(&store_, old_key, &clock_);
  EXPECT_TRUE(auth.Authenticate("Bearer " + old_key).ok());
  EXPECT_EQ(auth.Authenticate("Bearer " + new_key).status().code(),
            absl::StatusCode::kUnauthenticated);

  auth.ReplaceOperatorKeys({old_key, new_key});  // during the rotation, both work
  auto caller = auth.Authenticate("Bearer " + new_key);
  ASSERT_TRUE(caller.ok());
  EXPECT_TRUE(caller->is_operator);
  EXPECT_TRUE(auth.Authenticate("Bearer " + old_key).ok());

  auth.ReplaceOperatorKeys({new_key});
  EXPECT_EQ(auth.Authenticate("Bearer " + old_key).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(auth.Authenticate("Bearer " + new_key).ok());
}

TEST(ParseOperatorKeysTest, OneKeyPerLineWithCommentsAndBlankLines) {
  auto keys = ParseOperatorKeys("# rotated 2026-12\n" + std::string(32, 'a') + "\n\n  " +
                                std::string(33, 'b') + "  \n");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(*keys, (std::vector<std::string>{std::string(32, 'a'), std::string(33, 'b')}));
}

TEST(ParseOperatorKeysTest, ShortKeyOrNoKeyIsRefusedWithoutEchoingIt) {
  auto keys = ParseOperatorKeys(std::string(32, 'a') + "\nshort-secret\n");
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(keys.status().message().find("line 2"), absl::string_view::npos);
  EXPECT_EQ(keys.status().message().find("short-secret"), absl::string_view::npos);
  EXPECT_EQ(ParseOperatorKeys("# nothing\n\n").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace certbridge::broker
