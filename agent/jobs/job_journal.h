// JobJournal: what the agent has started and finished, on disk, so that a job survives an
// agent restart without being done twice (docs/architecture.md §5.3).
//
//   DIR/                0700 (state_dir/journal)
//     <job_id>.job      0600  the Job (serialized certbridge.v1.Job), written BEFORE the CA
//                             is called: "started"
//     <job_id>.result   0600  its JobResult once it came back: "finished"
//
// Both files are written atomically (temporary file, fsync, rename, fsync of DIR), so a
// crash leaves either the old or the new state of an entry. An entry is removed when the
// broker acknowledges the result (JobAck). A ".job" without ".result" after a restart is
// a job the agent died in: for a SUBMIT the CA may or may not have logged it.
//
// The journal holds no secrets: CSRs and delivery certificates are public, and results
// carry only the PKCS#12 and its password enveloped to the tenant. Keys generated for
// pending requests are kept apart, encrypted (pending_key_store.h).
//
// Errors: INTERNAL for I/O (message names the file and errno text); DATA_LOSS for a file
// that does not parse. Thread-safe (one process per state dir; the state dir lock ensures it).
#ifndef CERTBRIDGE_AGENT_JOBS_JOB_JOURNAL_H_
#define CERTBRIDGE_AGENT_JOBS_JOB_JOURNAL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "certbridge/v1/agent.pb.h"

namespace certbridge::agent {

struct JournalEntry {
  certbridge::v1::Job job;
  std::optional<certbridge::v1::JobResult> result;  // nullopt: started, not finished
};

class JobJournal {
 public:
  // Creates DIR (0700) if needed. FAILED_PRECONDITION if DIR is readable by others.
  static absl::StatusOr<std::unique_ptr<JobJournal>> Open(std::string dir);

  const std::string& dir() const { return dir_; }

  // Records `job` as started (replaces an older record of the same job id and drops its
  // result). REQUIRES: job.job_id() > 0.
  absl::Status RecordStarted(const certbridge::v1::Job& job);
  // Records the result of a started job. FAILED_PRECONDITION when the job was not started.
  absl::Status RecordFinished(const certbridge::v1::JobResult& result);
  // Forgets the job (after JobAck). OK when there is no such entry.
  absl::Status Remove(int64_t job_id);
  // nullopt when there is no entry for the job.
  absl::StatusOr<std::optional<JournalEntry>> Get(int64_t job_id) const;
  // Every entry, by job id.
  absl::StatusOr<std::vector<JournalEntry>> List() const;

 private:
  explicit JobJournal(std::string dir) : dir_(std::move(dir)) {}
  std::string JobPath(int64_t job_id) const;
  std::string ResultPath(int64_t job_id) const;
  absl::StatusOr<std::optional<JournalEntry>> GetLocked(int64_t job_id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  mutable absl::Mutex mu_;
};

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_JOBS_JOB_JOURNAL_H_
