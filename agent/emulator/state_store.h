// Durable state of adcs-emulator in its state directory:
//   state.pb      EmulatorState, replaced atomically (temp file + fsync + rename + dir fsync)
//   requests.log  LogRecords appended since state.pb was written, each as a 4-byte
//                 little-endian length and the serialized record, fsynced per append.
// Open() folds the log into a new state.pb and starts an empty log, so start-up cost is
// one rewrite and each change costs one small append (not a rewrite of every request).
// A torn record at the end of the log (a crash mid-append) is dropped.
//
// Not thread-safe: the owner serializes calls.
#ifndef CERTBRIDGE_AGENT_EMULATOR_STATE_STORE_H_
#define CERTBRIDGE_AGENT_EMULATOR_STATE_STORE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "adcsemu/v1/emulator.pb.h"

namespace certbridge::emulator {

// Writes `contents` to `path` via a temp file in the same directory, fsync, rename, and
// fsync of the directory. INTERNAL with the path and errno text on failure.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 int mode = 0644);
// NOT_FOUND when absent; INTERNAL on read errors.
absl::StatusOr<std::string> ReadFile(const std::string& path);

class StateStore {
 public:
  // Creates `dir` if missing. `sync` = fsync each append (turn off only for benchmarks).
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(const std::string& dir, bool sync);
  ~StateStore();

  // The state as loaded by Open (requests sorted by id).
  const adcsemu::v1::EmulatorState& loaded() const { return loaded_; }

  // Appends one record durably. INTERNAL on I/O errors.
  absl::Status Append(const adcsemu::v1::LogRecord& record);

 private:
  StateStore(int log_fd, bool sync, adcsemu::v1::EmulatorState loaded)
      : log_fd_(log_fd), sync_(sync), loaded_(std::move(loaded)) {}
  int log_fd_;
  bool sync_;
  adcsemu::v1::EmulatorState loaded_;
};

}  // namespace certbridge::emulator

#endif  // CERTBRIDGE_AGENT_EMULATOR_STATE_STORE_H_
