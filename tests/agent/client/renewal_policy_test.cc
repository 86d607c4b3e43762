#include "agent/client/renewal_policy.h"

#include "gtest/gtest.h"

namespace certbridge::agent {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

TEST(RenewalPolicyTest, DueAfterTwoThirdsOfLifetime) {
  absl::Time not_after = kStart + absl::Hours(72);
  EXPECT_FALSE(RenewalDue(kStart, not_after, kStart, 2.0 / 3));
  EXPECT_FALSE(RenewalDue(kStart, not_after, kStart + absl::Hours(47), 2.0 / 3));
  EXPECT_TRUE(RenewalDue(kStart, not_after, kStart + absl::Hours(48), 2.0 / 3));
  EXPECT_TRUE(RenewalDue(kStart, not_after, not_after + absl::Hours(1), 2.0 / 3));
}

TEST(RenewalPolicyTest, DefaultFractionRenewsJustAfterTwoThirds) {
  absl::Time not_after = kStart + absl::Hours(3);
  absl::Time at = RenewalTime(kStart, not_after, kDefaultRenewFraction);
  EXPECT_GE(at, kStart + absl::Hours(2));
  EXPECT_LT(at, kStart + absl::Hours(2) + absl::Seconds(1));
}

TEST(RenewalPolicyTest, FractionIsClamped) {
  absl::Time not_after = kStart + absl::Hours(10);
  EXPECT_EQ(RenewalTime(kStart, not_after, -1), kStart);
  EXPECT_EQ(RenewalTime(kStart, not_after, 5), not_after);
}

TEST(RenewalPolicyTest, EmptyOrInvertedLifetimeIsDueAtOnce) {
  EXPECT_TRUE(RenewalDue(kStart, kStart, kStart, 2.0 / 3));
  EXPECT_TRUE(RenewalDue(kStart, kStart - absl::Hours(1), kStart, 2.0 / 3));
}

}  // namespace
}  // namespace certbridge::agent
