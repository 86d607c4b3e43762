#include "common/adcs/request_attributes.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certbridge::adcs {
namespace {

using ::testing::ElementsAre;

TEST(RequestAttributesTest, NamesIgnoreCaseSpacesAndHyphens) {
  RequestAttributes a = ParseRequestAttributes(
      "certificate-template: WebServer\r\nSAN:upn=a@corp.example&dns=h.corp.example");
  EXPECT_EQ(a.CertificateTemplate(), "WebServer");
  EXPECT_EQ(a.Get("CERTIFICATE TEMPLATE"), "WebServer");
  EXPECT_EQ(a.Get("san"), "upn=a@corp.example&dns=h.corp.example");
  EXPECT_EQ(a.Get("missing"), std::nullopt);
}

TEST(RequestAttributesTest, SplitsAtFirstColonAndIgnoresJunkLines) {
  RequestAttributes a =
      ParseRequestAttributes("no colon here\n:empty name\nSAN:url=tag:microsoft.com,2022-09-14:sid:S-1-5-21-1\n\n");
  ASSERT_EQ(a.entries.size(), 1u);
  EXPECT_EQ(a.entries[0].first, "san");
  EXPECT_EQ(a.entries[0].second, "url=tag:microsoft.com,2022-09-14:sid:S-1-5-21-1");
}

TEST(RequestAttributesTest, LastValueWins) {
  EXPECT_EQ(ParseRequestAttributes("CertificateTemplate:A\nCertificateTemplate:B").CertificateTemplate(),
            "B");
}

TEST(RequestAttributesTest, EmptyStringHasNoTemplate) {
  EXPECT_EQ(ParseRequestAttributes("").CertificateTemplate(), std::nullopt);
}

TEST(SanAttributeTest, ParsesEntries) {
  auto sans = ParseSanAttribute("UPN=a@corp.example&dns=h.corp.example&url=tag:microsoft.com,2022-09-14:sid:S-1-5-21-7");
  ASSERT_TRUE(sans.ok()) << sans.status();
  EXPECT_THAT(*sans, ElementsAre(SanAttributeEntry{"upn", "a@corp.example"},
                                 SanAttributeEntry{"dns", "h.corp.example"},
                                 SanAttributeEntry{"url", "tag:microsoft.com,2022-09-14:sid:S-1-5-21-7"}));
}

TEST(SanAttributeTest, RejectsEntryWithoutValue) {
  EXPECT_EQ(ParseSanAttribute("upn").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSanAttribute("dns=").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FormatRequestAttributesTest, RoundTrips) {
  auto s = FormatRequestAttributes("WebServer", {{"upn", "a@b"}, {"dns", "h.example"}});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "CertificateTemplate:WebServer\nSAN:upn=a@b&dns=h.example");
  RequestAttributes a = ParseRequestAttributes(*s);
  EXPECT_EQ(a.CertificateTemplate(), "WebServer");
  EXPECT_EQ(*ParseSanAttribute(*a.Get("SAN")), (std::vector<SanAttributeEntry>{{"upn", "a@b"}, {"dns", "h.example"}}));
}

TEST(FormatRequestAttributesTest, RefusesUnescapableValues) {
  EXPECT_EQ(FormatRequestAttributes("Web\nServer", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FormatRequestAttributes("WebServer", {{"dns", "a&b"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FormatRequestAttributesTest, RefusesEveryControlCharacter) {
  for (const std::string& bad :
       {std::string("a\nCertificateTemplate:DomainController"), std::string("a\r"),
        std::string("a\0b", 3), std::string("a\tb"), std::string("a\x7f")}) {
    EXPECT_EQ(FormatRequestAttributes("WebServer", {{"upn", bad}}).status().code(),
              absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(FormatRequestAttributes("Web\rServer", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FormatRequestAttributes("WebServer", {{"dns", ""}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace certbridge::adcs
