// CertificateAuthorityCache on its own: expiry by the injected clock, forgetting, and the
// generation rule that keeps a read overlapping a change out of the cache. No PostgreSQL.
#include "broker/store/postgres/certificate_authority_cache.h"

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "common/clock.h"

namespace certbridge::broker {
namespace {

CertificateAuthorityRecord Ca(const std::string& tenant_id, const std::string& ca_id,
                              const std::string& host) {
  CertificateAuthorityRecord ca;
  ca.tenant_id = tenant_id;
  ca.ca_id = ca_id;
  ca.host = host;
  ca.ca_name = "Issuing CA";
  return ca;
}

class CertificateAuthorityCacheTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  CertificateAuthorityCache cache_{&clock_, absl::Seconds(2)};
};

TEST_F(CertificateAuthorityCacheTest, AnswersUntilTheTtlHasPassed) {
  cache_.Insert(cache_.Generation(), Ca("t1", "ca1", "pki1"));
  clock_.Advance(absl::Seconds(2) - absl::Milliseconds(1));
  std::optional<CertificateAuthorityRecord> hit = cache_.Find("t1", "ca1");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->host, "pki1");
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_FALSE(cache_.Find("t1", "ca1").has_value());
}

TEST_F(CertificateAuthorityCacheTest, KeysByTenantAndId) {
  cache_.Insert(cache_.Generation(), Ca("t1", "ca1", "pki1"));
  EXPECT_FALSE(cache_.Find("t2", "ca1").has_value());
  EXPECT_FALSE(cache_.Find("t1", "ca2").has_value());
}

TEST_F(CertificateAuthorityCacheTest, ForgetDropsOneRecord) {
  cache_.Insert(cache_.Generation(), Ca("t1", "ca1", "pki1"));
  cache_.Insert(cache_.Generation(), Ca("t1", "ca2", "pki2"));
  cache_.Forget("t1", "ca1");
  EXPECT_FALSE(cache_.Find("t1", "ca1").has_value());
  EXPECT_TRUE(cache_.Find("t1", "ca2").has_value());
}

TEST_F(CertificateAuthorityCacheTest, ForgetTenantDropsOnlyThatTenant) {
  cache_.Insert(cache_.Generation(), Ca("t1", "ca1", "pki1"));
  cache_.Insert(cache_.Generation(), Ca("t1", "ca2", "pki2"));
  cache_.Insert(cache_.Generation(), Ca("t10", "ca1", "pki3"));
  cache_.Insert(cache_.Generation(), Ca("t0", "ca1", "pki4"));
  cache_.ForgetTenant("t1");
  EXPECT_FALSE(cache_.Find("t1", "ca1").has_value());
  EXPECT_FALSE(cache_.Find("t1", "ca2").has_value());
  EXPECT_TRUE(cache_.Find("t10", "ca1").has_value());
  EXPECT_TRUE(cache_.Find("t0", "ca1").has_value());
  cache_.ForgetAll();
  EXPECT_FALSE(cache_.Find("t10", "ca1").has_value());
}

// A read that began before a change and ends after it may hold the old record: it must
// not be cached over the change.
TEST_F(CertificateAuthorityCacheTest, ARecordReadAcrossAChangeIsNotKept) {
  const uint64_t before_read = cache_.Generation();
  cache_.Forget("t1", "ca1");  // e.g. the CA was deleted while the read ran
  cache_.Insert(before_read, Ca("t1", "ca1", "old"));
  EXPECT_FALSE(cache_.Find("t1", "ca1").has_value());
  cache_.Insert(cache_.Generation(), Ca("t1", "ca1", "new"));
  ASSERT_TRUE(cache_.Find("t1", "ca1").has_value());
  EXPECT_EQ(cache_.Find("t1", "ca1")->host, "new");
}

TEST(CertificateAuthorityCacheZeroTtlTest, KeepsNothing) {
  FakeClock clock;
  CertificateAuthorityCache cache(&clock, absl::ZeroDuration());
  cache.Insert(cache.Generation(), Ca("t1", "ca1", "pki1"));
  EXPECT_FALSE(cache.Find("t1", "ca1").has_value());
}

TEST(CertificateAuthorityCacheBoundTest, StartsOverWhenFull) {
  FakeClock clock;
  CertificateAuthorityCache cache(&clock, absl::Seconds(2));
  for (size_t i = 0; i < CertificateAuthorityCache::kMaxEntries; ++i) {
    cache.Insert(cache.Generation(), Ca("t1", "ca" + std::to_string(i), "pki"));
  }
  EXPECT_TRUE(cache.Find("t1", "ca0").has_value());
  cache.Insert(cache.Generation(), Ca("t1", "one-more", "pki"));
  EXPECT_FALSE(cache.Find("t1", "ca0").has_value());
  EXPECT_TRUE(cache.Find("t1", "one-more").has_value());
}

}  // namespace
}  // namespace certbridge::broker
