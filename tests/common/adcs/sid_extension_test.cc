#include "common/pki/sid_extension.h"

#include "absl/strings/escaping.h"
#include "common/adcs/sid.h"
#include "gtest/gtest.h"

namespace certbridge::pki {
namespace {

TEST(SidExtensionTest, EncodesTheKb5014754Structure) {
  auto der = EncodeSidExtension("S-1-5-21-3623811015-3361044348-30300820-1013");
  ASSERT_TRUE(der.ok()) << der.status();
  // Computed by hand from MS's example layout (30 3d a0 3b 06 0a 2b06...).
  EXPECT_EQ(absl::BytesToHexString(*der),
            "303ea03c060a2b060104018237190201a02e042c532d312d352d32312d333632333831313031352d"
            "333336313034343334382d33303330303832302d31303133");
}

TEST(SidExtensionTest, RoundTripsIncludingLongFormLengths) {
  // 15 sub-authorities, the most a SID has: over 127 bytes, so DER long-form lengths.
  std::string long_sid = "S-1-5-21";
  for (int i = 0; i < 14; ++i) long_sid += "-4294967295";
  ASSERT_GT(long_sid.size(), 127u);
  for (const std::string& sid : {std::string("S-1-5-18"), long_sid}) {
    auto der = EncodeSidExtension(sid);
    ASSERT_TRUE(der.ok()) << der.status();
    auto back = DecodeSidExtension(*der);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, sid);
  }
}

TEST(SidExtensionTest, RejectsWhatIsNotASid) {
  for (const char* bad : {"", "S-1", "S-1-5", "X-1-5-21", "S-2-5-21", "S-1-5-21-abc", "S-1-5--1"}) {
    EXPECT_FALSE(adcs::IsValidSid(bad)) << bad;
    EXPECT_EQ(EncodeSidExtension(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(adcs::IsValidSid("S-1-5-21-1-2-3-500"));
}

TEST(SidExtensionTest, DecodeRejectsOtherStructures) {
  EXPECT_EQ(DecodeSidExtension("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeSidExtension(std::string("\x30\x03\x02\x01\x05", 5)).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto der = EncodeSidExtension("S-1-5-18");
  EXPECT_EQ(DecodeSidExtension(der->substr(0, der->size() - 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace certbridge::pki
