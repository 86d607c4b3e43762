#include "agent/client/backoff.h"

#include <vector>

#include "gtest/gtest.h"

namespace certbridge::agent {
namespace {

Uniform01 Fixed(double r) {
  return [r] { return r; };
}

ReconnectBackoff::Options Opts() {
  return {.base = absl::Seconds(1), .max = absl::Seconds(60), .reset_after = absl::Seconds(60)};
}

TEST(ReconnectBackoffTest, CeilingDoublesFromBaseUpToMax) {
  ReconnectBackoff backoff(Opts(), Fixed(0.999999));
  std::vector<int64_t> seconds;
  for (int i = 0; i < 9; ++i) seconds.push_back(absl::ToInt64Seconds(backoff.NextDelay()));
  // Just under the ceiling each time: 1, 2, 4, ... capped at 60.
  EXPECT_EQ(seconds, (std::vector<int64_t>{0, 1, 3, 7, 15, 31, 59, 59, 59}));
  EXPECT_EQ(backoff.Ceiling(), absl::Seconds(60));
}

TEST(ReconnectBackoffTest, FullJitterSpansZeroToCeiling) {
  ReconnectBackoff low(Opts(), Fixed(0.0));
  EXPECT_EQ(low.NextDelay(), absl::ZeroDuration());
  ReconnectBackoff half(Opts(), Fixed(0.5));
  EXPECT_EQ(half.NextDelay(), absl::Milliseconds(500));
  EXPECT_EQ(half.NextDelay(), absl::Seconds(1));
  EXPECT_EQ(half.NextDelay(), absl::Seconds(2));
}

TEST(ReconnectBackoffTest, DelaysStayWithinBoundsWithRealRandomness) {
  ReconnectBackoff backoff(Opts(), DefaultUniform01());
  for (int i = 0; i < 200; ++i) {
    absl::Duration ceiling = backoff.Ceiling();
    absl::Duration d = backoff.NextDelay();
    EXPECT_GE(d, absl::ZeroDuration());
    EXPECT_LE(d, ceiling);
    EXPECT_LE(d, absl::Seconds(60));
  }
}

TEST(ReconnectBackoffTest, LongStreamResetsAttempts) {
  ReconnectBackoff backoff(Opts(), Fixed(0.5));
  for (int i = 0; i < 5; ++i) backoff.NextDelay();
  EXPECT_EQ(backoff.Ceiling(), absl::Seconds(32));
  backoff.StreamEnded(absl::Seconds(59));
  EXPECT_EQ(backoff.Ceiling(), absl::Seconds(32));
  backoff.StreamEnded(absl::Seconds(60));
  EXPECT_EQ(backoff.attempt(), 0);
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(500));
}

TEST(ReconnectBackoffTest, CappedDelayIsBetweenHalfAndFullMaxAndKeepsAttempts) {
  ReconnectBackoff backoff(Opts(), Fixed(0.0));
  EXPECT_EQ(backoff.CappedDelay(), absl::Seconds(30));
  ReconnectBackoff high(Opts(), Fixed(0.999999));
  absl::Duration d = high.CappedDelay();
  EXPECT_GT(d, absl::Seconds(59));
  EXPECT_LE(d, absl::Seconds(60));
  EXPECT_EQ(high.attempt(), 0);
}

TEST(ReconnectBackoffTest, MaxBelowBaseIsRaisedToBase) {
  ReconnectBackoff backoff({.base = absl::Seconds(5), .max = absl::Seconds(1),
                            .reset_after = absl::Seconds(60)},
                           Fixed(0.999999));
  EXPECT_LE(backoff.NextDelay(), absl::Seconds(5));
  EXPECT_EQ(backoff.Ceiling(), absl::Seconds(5));
}

}  // namespace
}  // namespace certbridge::agent
