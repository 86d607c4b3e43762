// JobJournal: what the agent has started and finished, on disk, so that a job survives an
// agent restart without being done twice (docs/architecture.md §5.3).
//
//   DIR/                0700 (state_dir/journal)
//     jobs.log          0600  an append-only log of records, each
//                             [u32 length][u64 FNV-1a of the body][body = type byte, payload]
//                             (little-endian), of three types:
//                               STARTED  a Job (serialized certbridge.v1.Job), written and
//                                        on disk BEFORE the CA is called
//                               FINISHED its JobResult once it came back, on disk before
//                                        RecordFinished returns (so before it is sent)
//                               REMOVED  a job id the broker acknowledged (not synced)
//
// Durability and cost: RecordStarted and RecordFinished return once their record is on
// disk. Records of jobs running at the same time share one fdatasync (group commit: whoever
// finds a sync under way waits for it, and the next sync covers every record appended
// meanwhile), so a window of N jobs costs at most N, usually fewer, syncs per step, against
// four fsyncs per job and a file created and deleted per step when each entry was a file of
// its own. Remove is not synced: a removal lost in a crash makes the agent send the result
// again in its next Hello, which the broker acknowledges as a duplicate. The log is
// rewritten (atomically, live entries only) when it has grown past 256 KiB and to more than
// four times what is live, and at Open. A crash in the middle of an append leaves a record
// that does not check; Open drops it and whatever follows (nothing can: a failed append
// makes the next record rewrite the log first).
//
// What others keep in FINISHED records (JobJournalOptions): a record of a removed job stays
// in the log until the next rewrite, and every rewrite first calls before_rewrite; Open
// hands every FINISHED record the log holds, removed or not, to on_replayed_result before
// it rewrites the log. The executor keeps an issued certificate's serial durable this way
// until the issued-serial log is synced (IssuedSerialJournalOptions in job_executor.h).
//
// Entries written by an older agent as files of their own (<job_id>.job, <job_id>.result)
// are taken into the log by Open, which then deletes them.
//
// The journal holds no secrets: CSRs and delivery certificates are public, and results
// carry only the PKCS#12 and its password enveloped to the tenant. Keys generated for
// pending requests are kept apart, encrypted (pending_key_store.h).
//
// Errors: INTERNAL for I/O (message names the file and errno text); DATA_LOSS for an
// entry that does not parse. Thread-safe (one process per state dir; the state dir lock
// ensures it). Reads (Get, List) are answered from memory.
#ifndef CERTBRIDGE_AGENT_JOBS_JOB_JOURNAL_H_
#define CERTBRIDGE_AGENT_JOBS_JOB_JOURNAL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/jobs/record_log.h"
#include "agent/platform/durable_files.h"
#include "certbridge/v1/agent.pb.h"

namespace certbridge::agent {

struct JournalEntry {
  certbridge::v1::Job job;
  std::optional<certbridge::v1::JobResult> result;  // nullopt: started, not finished
};

struct JobJournalOptions {
  // Called by Open, with the journal's lock held, for every job with a FINISHED record in
  // the log (`entry` as that record left it, also when the job was removed later); an
  // error fails Open. Default: nothing.
  std::function<absl::Status(const JournalEntry& entry)> on_replayed_result;
  // Called, with the journal's lock held, before every rewrite of the log (at Open, on
  // compaction, after a failed append), which drops the records of removed jobs; an error
  // fails the rewrite and leaves the log as it was. Default: nothing.
  std::function<absl::Status()> before_rewrite;
};

class JobJournal {
 public:
  // Creates DIR (0700) if needed. FAILED_PRECONDITION if DIR is readable by others.
  static absl::StatusOr<std::unique_ptr<JobJournal>> Open(std::string dir,
                                                          JobJournalOptions options = {});

  // Whether Open was given a before_rewrite (someone keeps facts in FINISHED records).
  bool keeps_results_for_others() const { return options_.before_rewrite != nullptr; }

  const std::string& dir() const { return dir_; }
  // The log file, DIR/jobs.log.
  std::string LogPath() const;

  // Records `job` as started (replaces an older record of the same job id and drops its
  // result). Returns once the record is on disk. REQUIRES: job.job_id() > 0.
  absl::Status RecordStarted(const certbridge::v1::Job& job);
  // Records the result of a started job; returns once it is on disk. FAILED_PRECONDITION
  // when the job was not started.
  absl::Status RecordFinished(const certbridge::v1::JobResult& result);
  // Forgets the job (after JobAck). OK when there is no such entry. Not synced (above).
  absl::Status Remove(int64_t job_id);
  // nullopt when there is no entry for the job.
  absl::StatusOr<std::optional<JournalEntry>> Get(int64_t job_id) const;
  // Every entry, by job id.
  absl::StatusOr<std::vector<JournalEntry>> List() const;

 private:
  enum class RecordType : uint8_t { kStarted = 1, kFinished = 2, kRemoved = 3 };

  JobJournal(std::string dir, JobJournalOptions options)
      : dir_(std::move(dir)), options_(std::move(options)) {}
  // Reads the log and any per-file entries of an older agent, then rewrites the log.
  absl::Status Load();
  // Applies a record to entries_ (replay and live writes alike).
  absl::Status ApplyLocked(RecordType type, const std::string& payload)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends and applies a record; returns its sequence number for SyncThrough.
  absl::StatusOr<uint64_t> AppendLocked(RecordType type, const std::string& payload)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns once every record up to `seq` is on disk (one sync for all waiting records).
  absl::Status SyncThroughLocked(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces the log by the live entries (atomic write) and reopens it for appending.
  absl::Status RewriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeCompactLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  const JobJournalOptions options_;
  mutable absl::Mutex mu_;
  std::map<int64_t, JournalEntry> entries_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<AppendOnlyFile> log_ ABSL_GUARDED_BY(mu_);
  uint64_t log_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  record_log::GroupCommit commit_ ABSL_GUARDED_BY(mu_);
  // An append or sync failed: the log may end in a partial record, so it is rewritten
  // before anything else is appended.
  bool needs_rewrite_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_JOBS_JOB_JOURNAL_H_
