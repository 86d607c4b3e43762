// Durable state of adcs-emulator in its state directory:
//   state.pb      EmulatorState, replaced atomically (temp file + fsync + rename + dir fsync)
//   requests.log  LogRecords appended since state.pb was written, each as a 4-byte
//                 little-endian length and the serialized record, made durable by
//                 fdatasync: per append (Append), or shared by every record appended
//                 before it (AppendDeferred + SyncThrough: group commit).
// Open() folds the log into a new state.pb and starts an empty log, so start-up cost is
// one rewrite and each change costs one small append (not a rewrite of every request).
// A torn record at the end of the log (a crash mid-append) is dropped.
//
// Thread-safety: Append and AppendDeferred must be serialized by the owner; SyncThrough may
// be called from any thread at any time, also while another thread appends. That lets the
// emulator issue under its lock and wait for the disk outside it, so concurrent Submits
// share one fdatasync instead of queueing one each behind the lock.
#ifndef CERTBRIDGE_AGENT_EMULATOR_STATE_STORE_H_
#define CERTBRIDGE_AGENT_EMULATOR_STATE_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
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

  // Appends one record without waiting for the disk and returns its position; it is
  // durable once SyncThrough(position) returned OK. A process that dies in between keeps
  // the record (it is in the page cache); only an OS crash can lose it, and then the
  // caller has not answered yet. INTERNAL on I/O errors.
  absl::StatusOr<uint64_t> AppendDeferred(const adcsemu::v1::LogRecord& record);
  // Returns once every record up to `position` is on disk: a caller that finds an
  // fdatasync under way waits for it and, if it did not cover `position`, runs the next
  // one for everybody waiting. A no-op with sync off. INTERNAL when fdatasync fails (then
  // every later call fails too: the log's state on disk is unknown).
  absl::Status SyncThrough(uint64_t position);

 private:
  StateStore(int log_fd, bool sync, adcsemu::v1::EmulatorState loaded)
      : log_fd_(log_fd), sync_(sync), loaded_(std::move(loaded)) {}
  absl::Status WriteRecord(const adcsemu::v1::LogRecord& record);

  int log_fd_;
  bool sync_;
  adcsemu::v1::EmulatorState loaded_;
  std::atomic<uint64_t> appended_{0};  // records written to the log
  absl::Mutex sync_mu_;
  uint64_t synced_ ABSL_GUARDED_BY(sync_mu_) = 0;     // records known durable
  bool syncing_ ABSL_GUARDED_BY(sync_mu_) = false;    // an fdatasync is under way
  absl::Status sync_error_ ABSL_GUARDED_BY(sync_mu_);
};

}  // namespace certbridge::emulator

#endif  // CERTBRIDGE_AGENT_EMULATOR_STATE_STORE_H_
