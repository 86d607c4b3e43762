// JobExecutor: runs the broker's jobs (SUBMIT, RETRIEVE, REVOKE) against the CA on a
// bounded pool of workers, journalling each one so that a restart never submits twice
// (docs/architecture.md §4.3–4.7 and §5.3).
//
// Per job, on a worker:
//   1. journal "started" (job_journal.h) — before the CA is called; then the agent's own
//      policy (agent_policy.h): a job the customer did not allow is refused before any CA
//      call, answered with error_code POLICY_* and the remedy as the hint, and logged
//      (job.refused). A key-generation SUBMIT pins the tenant's delivery certificate the
//      first time (trust on first use) and is refused when a later one differs;
//   2. SUBMIT adds `CertbridgeRequestId:<request_name>` to the request attributes. A
//      SUBMIT sent before (attempt > 1) or found "started" after a restart first asks the
//      CA for a request with that attribute (CaBackend::FindRequestByAttribute) and reports
//      it instead of submitting again. Key-generation mode generates the key, keeps it
//      encrypted (pending_key_store.h) before Submit, and answers ISSUED with a PKCS#12
//      under a random password plus that password enveloped to the delivery certificate;
//      when the CA takes the request under submission the key waits for the RETRIEVE;
//   3. journal the JobResult, then hand it to the result sink (the session sends it).
//      An issued certificate's serial is recorded in AgentPolicyState first, so that
//      this agent may revoke it later: on disk before the result is sent, either synced
//      in the issued-serial log or, when the journal was opened with
//      IssuedSerialJournalOptions, carried by the journal's FINISHED record (one
//      fdatasync for both) until the issued-serial log is synced before a journal rewrite.
// The broker's JobAck (Acknowledge) removes the journal entry.
//
// Results: the CA answered (even a denial) → ca_answered with its disposition, HRESULT and
// message, plus a "Did you mean template ..." hint for 0x80094800. The call failed →
// error_code is the absl code name ("UNAVAILABLE", "FAILED_PRECONDITION" when no CA
// backend is configured, ...) and error_message. Logs carry job id, request, kind and
// disposition; never keys, passwords or CSRs.
//
// Threads: Dispatch, Acknowledge and PrepareHello may be called from any thread; the sink
// is called on worker threads (and from Dispatch, for a job already finished), one call at
// a time, and must not call SetResultSink. The destructor waits for jobs being run (CA calls have
// deadlines) and drops queued ones, which are neither journaled nor answered: the broker
// sends them again when their lease expires.
#ifndef CERTBRIDGE_AGENT_JOBS_JOB_EXECUTOR_H_
#define CERTBRIDGE_AGENT_JOBS_JOB_EXECUTOR_H_

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/ca/ca_backend.h"
#include "agent/jobs/agent_policy.h"
#include "agent/jobs/agent_policy_state.h"
#include "agent/jobs/ca_backend_source.h"
#include "agent/jobs/job_journal.h"
#include "agent/jobs/pending_key_store.h"
#include "agent/platform/event_log.h"
#include "certbridge/v1/agent.pb.h"

namespace certbridge::agent {

// The request attribute that carries certbridge's request name to the CA.
inline constexpr char kRequestIdAttribute[] = "CertbridgeRequestId";

// The journal options that let a FINISHED record keep its certificate's serial durable
// for `policy_state` (docs/architecture.md §5.3): Open appends to it the serial of every
// issued certificate the log still holds, and every rewrite of the journal (which drops
// removed jobs' records) first syncs the issued-serial log. `policy_state` must outlive
// the journal.
JobJournalOptions IssuedSerialJournalOptions(AgentPolicyState& policy_state);

struct JobExecutorOptions {
  // All required, not owned, must outlive the executor.
  JobJournal* journal = nullptr;
  PendingKeyStore* keys = nullptr;
  CaBackendSource* backends = nullptr;
  AgentPolicyState* policy_state = nullptr;
  // The customer's policy. Default: any CA and template, revoke only what was issued here.
  AgentPolicy policy = AgentPolicy();
  // Workers; also the credit window sent in Hello. Default 4, at least 1.
  int max_concurrent_jobs = 4;
  // Deadlines of the CA calls.
  absl::Duration submit_timeout = absl::Seconds(60);
  absl::Duration call_timeout = absl::Seconds(30);
  // The lookup made before Hello for a job the agent died in: short, so that an unreachable
  // CA does not hold up the connection (the job is then run, lookup first, on a worker).
  absl::Duration recovery_lookup_timeout = absl::Seconds(10);
  // Failed jobs and an unreachable CA are reported here (agent/events/admin_events.h); not
  // owned; nullptr: not reported.
  EventLog* event_log = nullptr;
};

class JobExecutor {
 public:
  using ResultSink = std::function<void(const certbridge::v1::JobResult&)>;

  // INVALID_ARGUMENT when a required option is missing. Starts the workers.
  static absl::StatusOr<std::unique_ptr<JobExecutor>> Create(JobExecutorOptions options);
  JobExecutor(const JobExecutor&) = delete;
  JobExecutor& operator=(const JobExecutor&) = delete;
  ~JobExecutor();

  int max_concurrent_jobs() const { return options_.max_concurrent_jobs; }

  // Where finished results go (replaces the previous sink; nullptr: nowhere — they stay
  // in the journal for the next Hello). Waits for a call into the old sink to return.
  void SetResultSink(ResultSink sink);

  // Called before each Hello. Resolves journal entries of jobs the agent died in (not
  // running now): a SUBMIT the CA already logged becomes a result; others are queued to
  // run again (a SUBMIT looks the request up first). Returns every finished result not yet
  // acknowledged, for Hello.journal_results. Blocks for at most the CA lookups.
  std::vector<certbridge::v1::JobResult> PrepareHello();

  // Takes a job from the broker. Returns at once. A job that is running is ignored (its
  // result will come); one whose result is journaled is answered from the journal.
  void Dispatch(certbridge::v1::Job job);

  // The broker recorded the job's result: forget it.
  void Acknowledge(int64_t job_id);

  // Runs one job to its result on the calling thread (journal and all). For the workers,
  // and for tests that want no threads.
  certbridge::v1::JobResult Execute(const certbridge::v1::Job& job, bool lookup_first);

 private:
  struct QueuedJob {
    certbridge::v1::Job job;
    bool lookup_first = false;
  };

  explicit JobExecutor(JobExecutorOptions options);
  void WorkerLoop();
  void Finish(const certbridge::v1::JobResult& result);
  // Queues a job unless it is running. REQUIRES mu_.
  bool EnqueueLocked(certbridge::v1::Job job, bool lookup_first) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  certbridge::v1::JobResult RunSubmit(const certbridge::v1::Job& job, CaBackend& ca,
                                      bool lookup_first);
  certbridge::v1::JobResult RunRetrieve(const certbridge::v1::Job& job, CaBackend& ca);
  certbridge::v1::JobResult RunRevoke(const certbridge::v1::Job& job, CaBackend& ca);
  // The agent's policy for `job`: nullopt when it may run, else the result that refuses it
  // (a POLICY_* refusal, or an error when the policy state cannot be read).
  std::optional<certbridge::v1::JobResult> CheckPolicy(const certbridge::v1::Job& job);
  // Records the serial of a certificate `result` carries and journals the result; both
  // are on disk when it returns OK (a journal error is returned, after the serial has
  // been synced on its own).
  absl::Status JournalResult(const certbridge::v1::Job& job,
                             const certbridge::v1::JobResult& result);
  // Fills `result` from a CA answer; builds the PKCS#12 for key-generation requests.
  void AnswerFromCa(const certbridge::v1::Job& job, CaBackend& ca, const CaResult& answer,
                    const PendingKey* key, certbridge::v1::JobResult& result);

  const JobExecutorOptions options_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<QueuedJob> queue_ ABSL_GUARDED_BY(mu_);
  // Job ids queued or being run.
  std::set<int64_t> active_ ABSL_GUARDED_BY(mu_);
  // Held while the sink runs, so that SetResultSink(nullptr) returns only once no call
  // into the old sink is in progress (its owner may be destroyed right after).
  absl::Mutex sink_mu_ ABSL_ACQUIRED_AFTER(mu_);
  ResultSink sink_ ABSL_GUARDED_BY(sink_mu_);
  std::vector<std::thread> workers_;
};

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_JOBS_JOB_EXECUTOR_H_
