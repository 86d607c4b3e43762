// Reconnect delays for the agent's stream: exponential backoff with "full jitter"
// (delay = uniform(0, min(max, base * 2^attempt))), so that thousands of agents cut off by
// one broker restart do not come back in lock-step.
//
//   ReconnectBackoff backoff(options, UniformRandom());
//   ... stream ends after `uptime` ...
//   backoff.StreamEnded(uptime);          // resets if the stream stayed up long enough
//   Sleep(backoff.NextDelay());
//
// Not thread-safe: one owner (the session's run loop).
#ifndef CERTBRIDGE_AGENT_CLIENT_BACKOFF_H_
#define CERTBRIDGE_AGENT_CLIENT_BACKOFF_H_

#include <functional>

#include "absl/time/time.h"

namespace certbridge::agent {

// Returns a value in [0, 1). Injected so tests can pin the jitter.
using Uniform01 = std::function<double()>;

// A Uniform01 backed by absl::BitGen (seeded from the OS). Not thread-safe.
Uniform01 DefaultUniform01();

class ReconnectBackoff {
 public:
  struct Options {
    // Ceiling of the first delay.
    absl::Duration base = absl::Seconds(1);
    // Largest delay ever returned.
    absl::Duration max = absl::Seconds(60);
    // A stream that stayed up at least this long counts as healthy: the next failure starts
    // again from `base`.
    absl::Duration reset_after = absl::Seconds(60);
  };

  // REQUIRES: base > 0, max >= base, uniform01 returns values in [0, 1).
  ReconnectBackoff(Options options, Uniform01 uniform01);

  // The delay before the next attempt after a failure: uniform in [0, ceiling], then the
  // ceiling doubles (up to `max`).
  absl::Duration NextDelay();

  // The delay when the broker refused us for a reason only a person can fix (connector
  // disabled or pending): uniform in [max/2, max]. Does not change the attempt count.
  absl::Duration CappedDelay();

  // Records that a stream ended after being up for `uptime`; resets when uptime >= reset_after.
  void StreamEnded(absl::Duration uptime);

  void Reset() { attempt_ = 0; }

  // The current ceiling, min(max, base * 2^attempt).
  absl::Duration Ceiling() const;
  int attempt() const { return attempt_; }

 private:
  Options options_;
  Uniform01 uniform01_;
  int attempt_ = 0;
};

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_CLIENT_BACKOFF_H_
