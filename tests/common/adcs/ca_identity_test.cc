#include "common/adcs/ca_identity.h"

#include <gtest/gtest.h>

namespace certbridge::adcs {
namespace {

TEST(CaIdentityTest, CaseAndSurroundingSpaceDoNotMatter) {
  EXPECT_EQ(NormalizeCaIdentity("corp\\adcs01$"), "CORP\\ADCS01$");
  EXPECT_EQ(NormalizeCaIdentity(" CORP\\Svc-CertBridge \n"), "CORP\\SVC-CERTBRIDGE");
  EXPECT_TRUE(SameCaIdentity("Corp\\Adcs01$", "CORP\\ADCS01$"));
}

TEST(CaIdentityTest, DifferentAccountsStayDifferent) {
  EXPECT_FALSE(SameCaIdentity("CORP\\ADCS01$", "CORP\\ADCS02$"));
  EXPECT_FALSE(SameCaIdentity("CORP\\ADCS01$", "OTHER\\ADCS01$"));
  EXPECT_FALSE(SameCaIdentity("CORP\\ADCS01$", ""));
  // Inner spaces are part of the name.
  EXPECT_FALSE(SameCaIdentity("CORP\\svc a", "CORP\\svca"));
}

TEST(CaIdentityTest, NonAsciiLettersAreKeptAsTheyAre) {
  EXPECT_EQ(NormalizeCaIdentity("corp\\m\xc3\xbcller"), "CORP\\M\xc3\xbcLLER");
}

}  // namespace
}  // namespace certbridge::adcs
