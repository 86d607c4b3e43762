#include "tools/certbridgectl/table.h"

#include "gtest/gtest.h"

namespace certbridge::ctl {
namespace {

TEST(TableTest, AlignsColumnsWithoutTrailingSpaces) {
  Table table({"ID", "STATE", "HOST"});
  table.AddRow({"c-1", "ACTIVE", "adcs01.corp.example.com"});
  table.AddRow({"connector-22", "PENDING", "b"});
  EXPECT_EQ(table.Render(),
            "ID             STATE     HOST\n"
            "c-1            ACTIVE    adcs01.corp.example.com\n"
            "connector-22   PENDING   b\n");
}

TEST(TableTest, EmptyCellsPrintAsDash) {
  Table table({"A", "B", "C"});
  table.AddRow({"", "x", ""});
  EXPECT_EQ(table.Render(),
            "A   B   C\n"
            "-   x   -\n");
}

TEST(TableTest, MissingCellsAreEmpty) {
  Table table({"A", "B"});
  table.AddRow({"only"});
  EXPECT_EQ(table.Render(),
            "A      B\n"
            "only   -\n");
}

TEST(TableTest, CountsUtf8CodePoints) {
  Table table({"NAME", "X"});
  table.AddRow({"Zürich CA", "1"});
  table.AddRow({"Bern CA", "2"});
  EXPECT_EQ(table.Render(),
            "NAME        X\n"
            "Zürich CA   1\n"
            "Bern CA     2\n");
  EXPECT_EQ(DisplayWidth("Zürich"), 6u);
}

TEST(TableTest, RenderFieldsAlignsValues) {
  EXPECT_EQ(RenderFields({{"ID", "c-1"}, {"Agent version", "1.2.3"}, {"Host", ""}}),
            "ID:            c-1\n"
            "Agent version: 1.2.3\n"
            "Host:          -\n");
}

TEST(TimeFormatTest, Rfc3339InUtcWithWholeSeconds) {
  EXPECT_EQ(FormatRfc3339(absl::FromUnixSeconds(1'800'000'000) + absl::Milliseconds(900)),
            "2027-01-15T08:00:00Z");
  EXPECT_EQ(FormatRfc3339(absl::UnixEpoch()), "1970-01-01T00:00:00Z");
}

TEST(TimeFormatTest, AgeUsesTheLargestFittingUnit) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  EXPECT_EQ(FormatAge(now, now), "0s ago");
  EXPECT_EQ(FormatAge(now - absl::Seconds(12), now), "12s ago");
  EXPECT_EQ(FormatAge(now - absl::Seconds(59.9), now), "59s ago");
  EXPECT_EQ(FormatAge(now - absl::Seconds(60), now), "1m ago");
  EXPECT_EQ(FormatAge(now - absl::Minutes(59) - absl::Seconds(59), now), "59m ago");
  EXPECT_EQ(FormatAge(now - absl::Hours(3), now), "3h ago");
  EXPECT_EQ(FormatAge(now - absl::Hours(47), now), "47h ago");
  EXPECT_EQ(FormatAge(now - absl::Hours(48), now), "2d ago");
  EXPECT_EQ(FormatAge(now - absl::Hours(24 * 400), now), "400d ago");
  EXPECT_EQ(FormatAge(now + absl::Minutes(5), now), "in 5m");
  EXPECT_EQ(FormatAge(now + absl::Hours(24), now), "in 24h");
}

}  // namespace
}  // namespace certbridge::ctl
