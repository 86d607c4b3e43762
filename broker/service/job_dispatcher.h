// Hands READY jobs to connected agents (docs/architecture.md §5.1).
//
// Each live agent stream registers an AgentSlot: its connector, CA identity, assigned CAs
// and credit window. The dispatcher claims jobs from the store for a slot whenever there
// may be work for it (a wake-up for one of its CAs, a finished job freeing credit, the
// stream opening) and sends them through the slot's JobSink. Claims go through the store
// (FOR UPDATE SKIP LOCKED), so several replicas share the work without talking to each
// other. Claims run on the worker pool, one at a time per slot; a wake-up that arrives
// during a claim makes the slot claim again afterwards, so none is lost.
//
// Thread-safety: all methods are thread-safe and non-blocking.
#ifndef CERTBRIDGE_BROKER_SERVICE_JOB_DISPATCHER_H_
#define CERTBRIDGE_BROKER_SERVICE_JOB_DISPATCHER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
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

  // There may be READY jobs for this CA (notification, sweep, new request).
  void JobsReady(const std::string& tenant_id, const std::string& ca_id);

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
    bool claim_again = false;
    std::map<int64_t, bool> sent;  // job ids sent on this stream and not yet answered
  };

  void MaybeClaimLocked(int64_t slot_id, Slot& slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Claim(int64_t slot_id);
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
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_JOB_DISPATCHER_H_
