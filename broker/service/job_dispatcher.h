// Hands READY jobs to connected agents (docs/architecture.md §5.1).
//
// Each live agent stream registers an AgentSlot: its connector, CA identity, assigned CAs
// and credit window. The dispatcher claims jobs from the store only when there may be work
// (issue 9: an empty claim is a transaction, a lock wait and CPU for nothing):
//   - a wake-up for a CA (JobsReady) makes ONE slot serving it claim, the one with the most
//     free credit (round robin among equals); the next slot claims only if that claim filled
//     its whole limit (there may be more);
//   - a wake-up that finds every serving slot's window full (or a claim for the CA running)
//     is remembered for the CA, and claimed by the first slot with free credit;
//   - a result frees credit; its slot then claims only for a wake-up remembered for one of
//     its CAs (one that came while windows were full, or after a claim that filled its
//     limit). READY jobs the per-CA limit held back have no wake-up pending: the store
//     reports their CA ready when a job leaves LEASED (CompleteJob);
//   - the sweep (JobsStillReady) and a new stream make every slot serving the CA claim
//     once: a job may be bound to one CA identity or connector, which a wake-up cannot say.
// Claims go through the store (FOR UPDATE SKIP LOCKED), so several replicas share the work
// without talking to each other. Claims run on the worker pool, one at a time per slot and
// per CA on this replica; a wake-up during a claim for its CA makes a slot claim afterwards,
// so none is lost. A failed claim drops its wake-ups: the sweep wakes the CA again.
//
// Thread-safety: all methods are thread-safe and non-blocking.
#ifndef CERTBRIDGE_BROKER_SERVICE_JOB_DISPATCHER_H_
#define CERTBRIDGE_BROKER_SERVICE_JOB_DISPATCHER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/metrics/broker_metrics.h"
#include "broker/service/job_outcome.h"
#include "broker/service/worker_pool.h"
#include "broker/store/certificate_store.h"
#include "broker/store/store.h"
#include "certbridge/v1/agent.pb.h"
#include "common/clock.h"

namespace certbridge::broker {

// Where a slot's jobs go: the agent's stream. Must stay valid until RemoveAgent returns.
class JobSink {
 public:
  virtual ~JobSink() = default;
  // Non-blocking.
  virtual void SendJob(v1::Job job) = 0;
};

struct AgentSlotInfo {
  std::string tenant_id;
  std::string connector_id;
  std::string ca_identity;
  std::vector<std::string> ca_ids;
  int window = 4;
};

struct JobDispatcherOptions {
  // How long an agent holds a job before it returns to READY (agent vanished).
  absl::Duration lease = absl::Minutes(2);
  // At most this many jobs in flight per CA across all agents and replicas: protects the
  // customer's CA (real AD CS issues roughly 20-100 requests/s).
  int per_ca_limit = 32;
  JobOutcomeOptions outcome;
  // Not owned; must outlive the dispatcher. nullptr: nothing is recorded.
  BrokerMetrics* metrics = nullptr;
};

class JobDispatcher {
 public:
  // Nothing is owned; all must outlive this.
  JobDispatcher(Store* store, CertificateStore* requests, WorkerPool* pool, const Clock* clock,
                JobDispatcherOptions options);

  // Registers a stream and claims work for it. Returns the slot id.
  int64_t AddAgent(const AgentSlotInfo& info, JobSink* sink);
  void UpdateAgentCas(int64_t slot_id, std::vector<std::string> ca_ids);
  // After this returns, the sink is never called again. The slot's leased jobs stay
  // leased until the agent reports them (reconnect) or the lease expires.
  void RemoveAgent(int64_t slot_id);

  // There may be new READY jobs for this CA (a notification, a new request): one slot
  // serving it claims (see above). An empty ca_id: every CA of the tenant's slots.
  void JobsReady(const std::string& tenant_id, const std::string& ca_id);
  // The sweep found READY jobs of this CA unclaimed: every slot serving it on this replica
  // claims once (as its credit allows), since some may be claimable only by one of them.
  void JobsStillReady(const std::string& tenant_id, const std::string& ca_id);

  // Records an agent's result for a job (blocking: call on the pool). Frees the slot's
  // credit if the job was one it had been sent. Duplicate reports are ignored (OK).
  absl::Status HandleResult(int64_t slot_id, const v1::JobResult& result);

  // Re-sends the jobs leased to this connector (after a reconnect).
  void ResendLeased(int64_t slot_id);

  // The agent of this slot is alive (its heartbeat): its leased jobs keep their lease for
  // another lease period, so a CA call slower than one lease is not dispatched twice.
  // Blocking (store): call on the pool.
  absl::Status ExtendLeases(int64_t slot_id);

  size_t AgentCount() const;

 private:
  struct Slot {
    AgentSlotInfo info;
    JobSink* sink = nullptr;
    int in_flight = 0;
    bool claiming = false;
    uint64_t last_chosen = 0;  // round robin among slots with equal free credit
    std::map<int64_t, bool> sent;  // job ids sent on this stream and not yet answered
  };
  using CaKey = std::pair<std::string, std::string>;  // tenant, CA
  // The wake-ups of one CA that no claim has served yet. An entry exists only while it
  // holds one, or a claim for the CA runs, and only for CAs a slot here serves.
  struct CaWake {
    bool claiming = false;      // a claim covering this CA runs on this replica
    bool any_slot = false;      // one slot serving the CA is to claim
    std::set<int64_t> slots;    // each of these slots is to claim once
  };

  static bool Serves(const Slot& slot, const CaKey& ca);
  // Claims for `ca` if it has a wake-up, no claim for it runs and a slot can take it.
  // Erases the entry when nothing is left to do.
  void ScheduleLocked(const CaKey& ca) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleSlotCasLocked(const Slot& slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts a claim by `slot` for every CA of it with a wake-up it may serve and no claim.
  void StartClaimLocked(int64_t slot_id, Slot& slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Claim(int64_t slot_id, const std::string& tenant_id, const std::vector<std::string>& ca_ids);
  // After a claim for `ca_ids`: `more` if it filled its limit (another slot claims next).
  void EndClaimLocked(const std::string& tenant_id, const std::vector<std::string>& ca_ids,
                      bool more) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `known`: the job's request as the claim wrote it, or nullptr to read it.
  absl::StatusOr<v1::Job> BuildJob(const JobRecord& job,
                                   const CertificateRequestRecord* known = nullptr);
  // After a result was recorded: the CA outcome, the request's new state and, when the
  // CA's first answer ended it, how long it took.
  void RecordOutcomeMetrics(JobKind kind, const v1::JobResult& result, RequestState decided_on,
                            absl::Time dispatched_at, absl::Time received,
                            const CertificateRequestRecord& stored);

  Store* store_;
  CertificateStore* requests_;
  WorkerPool* pool_;
  const Clock* clock_;
  JobDispatcherOptions options_;
  NoBrokerMetrics no_metrics_;
  BrokerMetrics* metrics_;  // options_.metrics or &no_metrics_

  mutable absl::Mutex mu_;
  int64_t next_slot_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<int64_t, Slot> slots_ ABSL_GUARDED_BY(mu_);
  std::map<CaKey, CaWake> cas_ ABSL_GUARDED_BY(mu_);
  uint64_t choices_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_JOB_DISPATCHER_H_
