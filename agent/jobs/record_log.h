// The record framing of the agent's append-only logs (the job journal, jobs.log; the
// issued-serial log, issued.log): one home for the format and for the torn-tail rule.
//
//   record = [u32 body length][u64 FNV-1a of the body][body = type byte, payload]
//            (little-endian)
//
// Writers append records to an AppendOnlyFile and wait for them with GroupCommit.
//
// A crash in the middle of an append leaves a last record that does not check (too short,
// a length over the log's bound, or a checksum that does not match). ParseRecords stops at
// the first such record: it and whatever follows are the tail a writer drops (and rewrites
// the log without) before it appends again.
#ifndef CERTBRIDGE_AGENT_JOBS_RECORD_LOG_H_
#define CERTBRIDGE_AGENT_JOBS_RECORD_LOG_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "agent/platform/durable_files.h"

namespace certbridge::agent::record_log {

// [u32 body length][u64 FNV-1a of the body].
inline constexpr size_t kHeaderBytes = 12;

// Little-endian fixed-width integers (`bytes` of 1..8).
void PutLittleEndian(std::string& out, uint64_t v, int bytes);
// REQUIRES: in.size() >= bytes.
uint64_t GetLittleEndian(absl::string_view in, int bytes);

// One framed record: header, type byte, payload. REQUIRES: 1 + payload.size() fits the
// reader's max_body_bytes (writers check it first, or the record reads back as a torn tail).
std::string Frame(uint8_t type, absl::string_view payload);

struct Record {
  uint8_t type;
  absl::string_view payload;  // points into the parsed log
  size_t end;                 // offset just past this record in the log
};

// The records of `log` from its start up to the first that does not check (body of 0
// bytes or over `max_body_bytes`, cut short, or checksum mismatch). Records past
// `valid_bytes` (== the last record's end, or 0) are the torn tail.
struct ParsedLog {
  std::vector<Record> records;
  size_t valid_bytes = 0;
};
ParsedLog ParseRecords(absl::string_view log, uint32_t max_body_bytes);

// Group commit over one AppendOnlyFile, under the owner's mutex `mu` (every call holds it):
// records appended while a sync is under way wait for it and are then covered by the next
// sync, begun by whichever of them gets there first, so N records appended at the same time
// cost one or two syncs, not N.
class GroupCommit {
 public:
  // After a successful append: the record's sequence number, for SyncThrough.
  uint64_t Appended() { return ++appended_; }
  // The sequence number of the last record appended (0: none), for SyncThrough.
  uint64_t LastAppended() const { return appended_; }
  // Everything appended so far is on disk (the file was just rewritten durably).
  void AllSynced() { synced_ = appended_; }
  // Waits (releasing `mu`) until no sync is under way: before the file is closed or replaced.
  void AwaitNoSync(absl::Mutex& mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Returns once every record up to `seq` is on disk: `file` is synced with `mu` released.
  // A failed sync sets `needs_rewrite` (the file may end in a partial record); when it is
  // set, `rewrite` (called with `mu` held and no sync under way) replaces the sync: it must
  // make everything appended durable, or fail.
  absl::Status SyncThrough(absl::Mutex& mu, uint64_t seq,
                           const std::unique_ptr<AppendOnlyFile>& file, bool& needs_rewrite,
                           absl::FunctionRef<absl::Status()> rewrite)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

 private:
  // Records appended / known to be on disk; a sync is under way. Guarded by the owner's mu.
  uint64_t appended_ = 0;
  uint64_t synced_ = 0;
  bool syncing_ = false;
};

}  // namespace certbridge::agent::record_log

#endif  // CERTBRIDGE_AGENT_JOBS_RECORD_LOG_H_
