// OpaqueIdCodec: ids that read back only in their scope and with their key.
#include "common/pki/opaque_ids.h"

#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace certbridge::pki {
namespace {

TEST(OpaqueIdCodecTest, RoundTripsInItsScopeAndIsStable) {
  auto codec = OpaqueIdCodec::Create("replica secret");
  ASSERT_TRUE(codec.ok()) << codec.status();
  for (uint64_t n : {uint64_t{1}, uint64_t{2}, uint64_t{123456789}, ~uint64_t{0}}) {
    const std::string id = codec->Encode("t-1/audit", n);
    EXPECT_EQ(id.size(), 22u);
    EXPECT_EQ(id, codec->Encode("t-1/audit", n));
    auto back = codec->Decode("t-1/audit", id);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, n);
  }
}

// Consecutive numbers must not look consecutive: that is what the global sequence leaked.
TEST(OpaqueIdCodecTest, ConsecutiveNumbersShareNoVisiblePattern) {
  auto codec = OpaqueIdCodec::Create("replica secret");
  ASSERT_TRUE(codec.ok());
  std::set<std::string> prefixes;
  for (uint64_t n = 1; n <= 100; ++n) prefixes.insert(codec->Encode("t-1/audit", n).substr(0, 4));
  EXPECT_GT(prefixes.size(), 95u);
}

TEST(OpaqueIdCodecTest, AnotherScopeOrKeyOrGarbageIsRefused) {
  auto codec = OpaqueIdCodec::Create("replica secret");
  auto other_key = OpaqueIdCodec::Create("another secret");
  ASSERT_TRUE(codec.ok() && other_key.ok());
  const std::string id = codec->Encode("t-1/requests", 42);
  EXPECT_EQ(codec->Decode("t-2/requests", id).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(codec->Decode("t-1/audit", id).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(other_key->Decode("t-1/requests", id).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (const std::string& bad : std::vector<std::string>{"", "42", "!!!!!!!!!!!!!!!!!!!!!!",
                                                         std::string(100000, 'A')}) {
    EXPECT_EQ(codec->Decode("t-1/requests", bad).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(OpaqueIdCodec::Create("").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace certbridge::pki
