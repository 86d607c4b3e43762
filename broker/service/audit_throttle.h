// AuditThrottle: thins out an audit event that can repeat without bound for one key, so a
// misbehaving client cannot fill the audit log (docs/security.md, "One live stream per
// connector"). The first event of a key is written; after that at most one per `interval`,
// and the one written carries how many were left out since the previous one.
//
//   AuditThrottle throttle(absl::Minutes(1));
//   if (std::optional<int64_t> left_out = throttle.Admit(connector_id, clock->Now())) {
//     ... write the row, mentioning *left_out when it is > 0 ...
//   }
//
// Events left out after the last row written are counted into the next row of that key;
// if none comes, they are only in the log (callers log every event). Memory is bounded:
// at most `max_keys` keys are tracked; when full, keys quiet for an interval are forgotten,
// and if none is, the event is admitted untracked (more rows, never a lost first one).
// In-memory, per process: N broker replicas write at most N rows per key per interval.
//
// Thread-safe.
#ifndef CERTBRIDGE_BROKER_SERVICE_AUDIT_THROTTLE_H_
#define CERTBRIDGE_BROKER_SERVICE_AUDIT_THROTTLE_H_

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace certbridge::broker {

class AuditThrottle {
 public:
  explicit AuditThrottle(absl::Duration interval, size_t max_keys = 10000)
      : interval_(interval), max_keys_(max_keys) {}

  // nullopt: leave this event out (it is counted). Otherwise write it; the value is how
  // many events of `key` were left out since the last one written.
  std::optional<int64_t> Admit(const std::string& key, absl::Time now) {
    absl::MutexLock lock(&mu_);
    auto it = keys_.find(key);
    if (it != keys_.end()) {
      if (now - it->second.last_written < interval_) {
        ++it->second.left_out;
        return std::nullopt;
      }
      const int64_t left_out = it->second.left_out;
      it->second = {now, 0};
      return left_out;
    }
    if (keys_.size() >= max_keys_) ForgetQuietKeysLocked(now);
    if (keys_.size() < max_keys_) keys_.emplace(key, KeyState{now, 0});
    return 0;
  }

 private:
  struct KeyState {
    absl::Time last_written;
    int64_t left_out = 0;
  };

  void ForgetQuietKeysLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto it = keys_.begin(); it != keys_.end();) {
      it = now - it->second.last_written >= interval_ ? keys_.erase(it) : std::next(it);
    }
  }

  const absl::Duration interval_;
  const size_t max_keys_;
  absl::Mutex mu_;
  std::unordered_map<std::string, KeyState> keys_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_AUDIT_THROTTLE_H_
