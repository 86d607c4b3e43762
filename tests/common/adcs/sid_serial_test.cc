#include "common/adcs/serial_number.h"
#include "common/adcs/sid.h"

#include <string>

#include "gtest/gtest.h"

namespace certbridge::adcs {
namespace {

TEST(SidTest, AcceptsWindowsSids) {
  EXPECT_TRUE(IsValidSid("S-1-5-18"));
  EXPECT_TRUE(IsValidSid("S-1-5-21-3623811015-3361044348-30300820-1013"));
  std::string longest = "S-1-281474976710655";
  for (int i = 0; i < 15; ++i) longest += "-4294967295";
  EXPECT_EQ(longest.size(), kMaxSidLength);
  EXPECT_TRUE(IsValidSid(longest));
}

TEST(SidTest, RefusesWhatIsNotASid) {
  for (const char* bad : {"", "S-1", "S-1-5", "S-1-5-", "s-1-5-18", "S-1-5-18-", "S-1--5-18",
                          "S-1-5-4294967296", "S-1-281474976710656-1", "S-1-5-18 ", " S-1-5-18",
                          "S-1-5-+18", "S-1-5-0x12"}) {
    EXPECT_FALSE(IsValidSid(bad)) << bad;
  }
  std::string sixteen = "S-1-5";
  for (int i = 0; i < 16; ++i) sixteen += "-1";
  EXPECT_FALSE(IsValidSid(sixteen));
}

TEST(SidTest, HugeInputIsRefusedInLinearTime) {
  // The std::regex this replaced recursed per character and overflowed the stack here.
  EXPECT_FALSE(IsValidSid("S-1-5-21" + std::string(1 << 20, '1')));
  EXPECT_FALSE(IsValidSid("S-1-5" + std::string(1 << 20, '-')));
}

TEST(SerialNumberTest, NormalizesTheCommonSpellings) {
  EXPECT_EQ(*NormalizeSerialNumber("0a1b2c"), "A1B2C");
  EXPECT_EQ(*NormalizeSerialNumber("0A:1B:2C"), "A1B2C");
  EXPECT_EQ(*NormalizeSerialNumber(" 0a 1b 2c "), "A1B2C");
  EXPECT_EQ(*NormalizeSerialNumber("00"), "0");
  EXPECT_EQ(*NormalizeSerialNumber(std::string(40, 'f')), std::string(40, 'F'));
}

TEST(SerialNumberTest, RefusesWhatIsNotASerial) {
  for (const std::string& bad : {std::string(""), std::string(":"), std::string("xyz"),
                                 std::string("0a-1b"), std::string(41, 'f'),
                                 std::string(kMaxSerialNumberText + 1, '0')}) {
    EXPECT_EQ(NormalizeSerialNumber(bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

}  // namespace
}  // namespace certbridge::adcs
