#include "agent/client/backoff.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/random/random.h"

namespace certbridge::agent {

Uniform01 DefaultUniform01() {
  auto gen = std::make_shared<absl::BitGen>();
  return [gen] { return absl::Uniform(*gen, 0.0, 1.0); };
}

ReconnectBackoff::ReconnectBackoff(Options options, Uniform01 uniform01)
    : options_(options), uniform01_(std::move(uniform01)) {
  if (options_.base <= absl::ZeroDuration()) options_.base = absl::Milliseconds(1);
  if (options_.max < options_.base) options_.max = options_.base;
}

absl::Duration ReconnectBackoff::Ceiling() const {
  absl::Duration ceiling = options_.base;
  // Doubling stops at max, so this never overflows however many attempts there were.
  for (int i = 0; i < attempt_ && ceiling < options_.max; ++i) ceiling *= 2;
  return std::min(ceiling, options_.max);
}

absl::Duration ReconnectBackoff::NextDelay() {
  absl::Duration ceiling = Ceiling();
  if (ceiling < options_.max) ++attempt_;
  double r = std::clamp(uniform01_(), 0.0, 1.0);
  return absl::Nanoseconds(static_cast<int64_t>(absl::ToDoubleNanoseconds(ceiling) * r));
}

absl::Duration ReconnectBackoff::CappedDelay() {
  double r = std::clamp(uniform01_(), 0.0, 1.0);
  absl::Duration half = options_.max / 2;
  return half + absl::Nanoseconds(static_cast<int64_t>(absl::ToDoubleNanoseconds(half) * r));
}

void ReconnectBackoff::StreamEnded(absl::Duration uptime) {
  if (uptime >= options_.reset_after) attempt_ = 0;
}

}  // namespace certbridge::agent
