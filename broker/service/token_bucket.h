// A token bucket: `rate` tokens per second, holding at most `burst`. Time is passed in,
// so tests drive it with a FakeClock and never sleep.
//
//   TokenBucket bucket(/*rate=*/100, /*burst=*/200, clock->Now());
//   if (absl::Duration wait = bucket.TryTake(clock->Now()); wait > absl::ZeroDuration()) {
//     // refuse; a token is available again after `wait`
//   }
//
// Not thread-safe: callers hold their own lock.
#ifndef CERTBRIDGE_BROKER_SERVICE_TOKEN_BUCKET_H_
#define CERTBRIDGE_BROKER_SERVICE_TOKEN_BUCKET_H_

#include <algorithm>

#include "absl/time/time.h"

namespace certbridge::broker {

class TokenBucket {
 public:
  // REQUIRES: rate > 0, burst >= 1. Starts full.
  TokenBucket(double rate, double burst, absl::Time now)
      : rate_(rate), burst_(burst), tokens_(burst), last_(now) {}

  // Takes one token and returns zero, or takes none and returns how long until one is
  // there.
  absl::Duration TryTake(absl::Time now) {
    if (now > last_) {
      tokens_ = std::min(burst_, tokens_ + absl::ToDoubleSeconds(now - last_) * rate_);
      last_ = now;
    }
    if (tokens_ >= 1) {
      tokens_ -= 1;
      return absl::ZeroDuration();
    }
    return absl::Seconds((1 - tokens_) / rate_);
  }

  // Puts back a token taken by TryTake, when the call it admitted was refused by another
  // limit after all (so that limit, not this one, is what the caller is charged for).
  void GiveBack() { tokens_ = std::min(burst_, tokens_ + 1); }

 private:
  const double rate_;
  const double burst_;
  double tokens_;
  absl::Time last_;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_TOKEN_BUCKET_H_
