#include "common/adcs/error_catalog.h"

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "gtest/gtest.h"

namespace certbridge::adcs {
namespace {

TEST(ErrorCatalogTest, UnsupportedTemplateHasNameCodeAndRemedy) {
  const CatalogEntry* e = FindByHresult(0x80094800);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->symbol, "CERTSRV_E_UNSUPPORTED_CERT_TYPE");
  EXPECT_EQ(e->code, "CA_TEMPLATE_NOT_SUPPORTED");
  EXPECT_EQ(e->windows_message, "The requested certificate template is not supported by this CA.");
  EXPECT_NE(e->remedy.find("display name"), absl::string_view::npos);
}

TEST(ErrorCatalogTest, RealNumbersFromAdcsFacts) {
  EXPECT_EQ(FindByHresult(0x800706BA)->code, "CA_UNREACHABLE");
  EXPECT_NE(FindByHresult(0x800706BA)->remedy.find("135"), absl::string_view::npos);
  EXPECT_EQ(FindByHresult(0x80094011)->symbol, "CERTSRV_E_ENROLL_DENIED");
  EXPECT_EQ(FindByHresult(0x80094012)->symbol, "CERTSRV_E_TEMPLATE_DENIED");
  EXPECT_EQ(FindByHresult(0x80094811)->symbol, "CERTSRV_E_KEY_LENGTH");
  EXPECT_EQ(FindByHresult(0x80094801)->symbol, "CERTSRV_E_NO_CERT_TYPE");
  EXPECT_EQ(FindByHresult(0x80094001)->symbol, "CERTSRV_E_BAD_REQUESTSUBJECT");
  EXPECT_EQ(FindByHresult(0x80094003)->symbol, "CERTSRV_E_BAD_REQUESTSTATUS");
  EXPECT_EQ(FindByHresult(0x80094004)->symbol, "CERTSRV_E_PROPERTY_EMPTY");
  EXPECT_EQ(FindByHresult(0x12345678), nullptr);
  EXPECT_EQ(FindDisposition(5)->name, "UNDER_SUBMISSION");
  EXPECT_EQ(FindDisposition(3)->symbol, "CR_DISP_ISSUED");
  EXPECT_EQ(FindDisposition(2)->code, "CA_DENIED");
  EXPECT_EQ(FindDisposition(1)->code, "CA_ERROR");
  EXPECT_EQ(FindDisposition(99), nullptr);
}

TEST(ErrorCatalogTest, CodesAreUniqueAndEveryEntryHasARemedy) {
  std::set<absl::string_view> codes;
  std::set<uint32_t> numbers;
  for (const CatalogEntry& e : AllEntries()) {
    EXPECT_TRUE(codes.insert(e.code).second) << e.code;
    EXPECT_TRUE(numbers.insert(e.hresult).second) << e.symbol;
    EXPECT_FALSE(e.remedy.empty()) << e.symbol;
    EXPECT_EQ(FindByCode(e.code), &e);
  }
  for (const DispositionEntry& d : AllDispositions()) {
    EXPECT_TRUE(codes.insert(d.code).second) << d.code;
  }
}

TEST(ErrorCatalogTest, CodeForPrefersHresultOverDisposition) {
  EXPECT_EQ(CodeFor(2, 0x80094012), "CA_TEMPLATE_ENROLL_DENIED");
  EXPECT_EQ(CodeFor(5, 0), "CA_PENDING_APPROVAL");
  EXPECT_EQ(CodeFor(2, 0x11111111), "CA_DENIED");
  EXPECT_EQ(CodeFor(77, 0), "CA_UNKNOWN_ERROR");
}

TEST(ErrorCatalogTest, FormatsAndParsesHresults) {
  EXPECT_EQ(FormatHresult(0x80094800), "0x80094800");
  EXPECT_EQ(FormatHresult(0), "0x00000000");
  EXPECT_EQ(ParseHresult("0x80094800"), 0x80094800u);
  EXPECT_EQ(ParseHresult("80094800"), 0x80094800u);
  EXPECT_EQ(ParseHresult("-2146875392"), 0x80094800u);
  EXPECT_EQ(ParseHresult("zz"), std::nullopt);
  EXPECT_EQ(ParseHresult(""), std::nullopt);
  EXPECT_EQ(ParseHresult("0x1234567890"), std::nullopt);
}

TEST(ErrorCatalogTest, DescribeNamesCodeNumberSymbolAndRemedy) {
  const std::string d = Describe(0x80094811);
  EXPECT_EQ(d.rfind("CA_KEY_TOO_SHORT (0x80094811 CERTSRV_E_KEY_LENGTH): ", 0), 0u) << d;
  EXPECT_NE(d.find("Remedy: "), std::string::npos);
  EXPECT_NE(Describe(0x8000FFFF).find("not in the certbridge catalog"), std::string::npos);
}

const std::vector<TemplateName> kPublished = {
    {"WebServer", "Web Server"},
    {"CertbridgeDevice", "Certbridge Device"},
    {"User", "User"},
};

TEST(SuggestTemplateTest, DisplayNameSuggestsItsCn) {
  EXPECT_EQ(SuggestTemplate("Web Server", kPublished), "WebServer");
  EXPECT_EQ(SuggestTemplate("certbridge device", kPublished), "CertbridgeDevice");
}

TEST(SuggestTemplateTest, TypoSuggestsNearestCn) {
  EXPECT_EQ(SuggestTemplate("WebSevrer", kPublished), "WebServer");
  EXPECT_EQ(SuggestTemplate("CertbridgeDevic", kPublished), "CertbridgeDevice");
}

TEST(SuggestTemplateTest, NothingForAPublishedCnOrAFarName) {
  EXPECT_EQ(SuggestTemplate("webserver", kPublished), std::nullopt);
  EXPECT_EQ(SuggestTemplate("SmartcardLogonForKiosks", kPublished), std::nullopt);
  EXPECT_EQ(SuggestTemplate("Web Server", {}), std::nullopt);
}

TEST(SuggestTemplateTest, EditDistanceIgnoresCase) {
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3);
  EXPECT_EQ(EditDistance("ABC", "abc"), 0);
  EXPECT_EQ(EditDistance("", "abc"), 3);
}

}  // namespace
}  // namespace certbridge::adcs

namespace certbridge::adcs {
namespace {

// docs/adcs-error-catalog.md mirrors the table; keep them in step.
TEST(ErrorCatalogDocTest, DocListsEveryHresultWithItsCode) {
  const char* source = std::getenv("CERTBRIDGE_SOURCE_DIR");
  ASSERT_NE(source, nullptr);
  std::ifstream f(std::string(source) + "/docs/adcs-error-catalog.md");
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string doc = ss.str();
  ASSERT_FALSE(doc.empty());
  for (const CatalogEntry& e : AllEntries()) {
    const std::string row = "| `" + FormatHresult(e.hresult) + "` | " + std::string(e.symbol) +
                            " | " + std::string(e.windows_message) + " | `" + std::string(e.code) +
                            "` |";
    EXPECT_NE(doc.find(row), std::string::npos) << "missing or stale row: " << row;
  }
}

}  // namespace
}  // namespace certbridge::adcs
