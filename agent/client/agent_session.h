// `certbridge-agent run`: the agent's one long-lived stream to the broker
// (AgentService.Connect over mTLS, docs/architecture.md §4.2), kept open for as long as
// the process runs.
//
// Per stream: Hello first; the broker answers AgentConfig (assigned CAs, heartbeat
// interval); a Heartbeat every interval (30 s until the config says otherwise). When
// `renew_fraction` of the certificate's lifetime has passed, a new key is generated and its
// CSR sent as RenewalRequest; the RenewedCertificate that comes back must match that key,
// and then agent.key and agent-chain.pem are replaced as a pair (state_dir.h). The stream
// carries on with the old certificate; the next connection uses the new one. Drain closes
// the stream and reconnects after the broker's delay.
//
// Between streams: exponential backoff with full jitter (backoff.h); PERMISSION_DENIED and
// FAILED_PRECONDITION (connector disabled or still pending) retry at the capped delay, since
// only an admin can fix them. A certificate that expired while the agent was offline cannot
// be renewed: Run returns UNAUTHENTICATED with a message that tells the person to
// re-register.
//
// Jobs (when `jobs` is set): Hello carries the executor's max_concurrent_jobs and the
// journaled results not yet acknowledged (JobExecutor::PrepareHello, run before every
// connect). Each Job goes to the executor; each JobResult it produces is queued and written
// by the writer; a JobAck removes the job from the journal. A result finished while no
// stream is open stays in the journal and goes out in the next Hello.
//
// Threads: Run() owns the loop and writes to the stream; a reader thread per stream handles
// broker messages (including the renewal's file writes). Stop() may be called from any
// thread (e.g. the one that waits for SIGTERM) and makes Run return within milliseconds.
//
//   AgentSession session(options, RealClock());
//   std::thread signals([&] { WaitForSignal(); session.Stop(); });
//   absl::Status s = session.Run();
#ifndef CERTBRIDGE_AGENT_CLIENT_AGENT_SESSION_H_
#define CERTBRIDGE_AGENT_CLIENT_AGENT_SESSION_H_

#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/client_context.h>
#include <grpcpp/support/sync_stream.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/client/backoff.h"
#include "agent/client/renewal_policy.h"
#include "agent/client/state_dir.h"
#include "agent/jobs/job_executor.h"
#include "certbridge/v1/agent.pb.h"
#include "common/clock.h"
#include "common/pki/pki.h"

namespace certbridge::agent {

struct AgentSessionOptions {
  // Written by `certbridge-agent register`; see state_dir.h.
  std::string state_dir;
  // Renew once this fraction of the certificate's lifetime has passed.
  double renew_fraction = kDefaultRenewFraction;
  // Reconnect delays (defaults: base 1 s, cap 60 s, reset after 60 s up).
  ReconnectBackoff::Options backoff;
  // Used until the broker's AgentConfig sets heartbeat_interval_seconds.
  absl::Duration default_heartbeat_interval = absl::Seconds(30);
  // A renewal the broker has not answered is tried again, with a fresh key, after this.
  absl::Duration renewal_retry_interval = absl::Minutes(10);
  // After a Drain the agent half-closes the stream and waits this long for the broker to
  // end it before cancelling.
  absl::Duration drain_close_timeout = absl::Seconds(5);
  // Outbound HTTP proxy, "http://HOST:PORT" (broker_channel.h); empty: the one saved by
  // `register` in agent.conf, if any.
  std::string proxy;
  // Connected (1100), disconnected (1101) and renewed (1200) are reported here
  // (agent/events/admin_events.h); not owned; nullptr: not reported.
  EventLog* event_log = nullptr;
  // Runs the broker's jobs; not owned, must outlive the session. nullptr: Jobs are
  // answered with FAILED_PRECONDITION.
  JobExecutor* jobs = nullptr;
};

class AgentSession {
 public:
  // `clock` decides certificate expiry and renewal; it must outlive the session.
  AgentSession(AgentSessionOptions options, const Clock& clock,
               Uniform01 uniform01 = DefaultUniform01());
  AgentSession(const AgentSession&) = delete;
  AgentSession& operator=(const AgentSession&) = delete;
  ~AgentSession();

  // Blocks. Returns:
  //   OK                   after Stop()
  //   UNAUTHENTICATED      the agent certificate has expired (checked before every connect,
  //                        or the broker said so); the message tells the person to re-register
  //   NOT_FOUND            no registration in the state dir
  //   FAILED_PRECONDITION  the state dir or its certificate is damaged, or another agent
  //                        runs on the same state dir
  // Call at most once.
  absl::Status Run();

  // Cancels the current stream or wait and makes Run() return OK. Thread-safe, idempotent,
  // may be called before Run() (which then returns at once). Not async-signal-safe: call it
  // from a thread, not from a signal handler.
  void Stop();

 private:
  using Stream = grpc::ClientReaderWriter<certbridge::v1::AgentMessage,
                                          certbridge::v1::BrokerMessage>;

  // What one stream's two threads share.
  struct StreamState {
    bool reader_done = false;
    bool config_changed = false;
    bool configured = false;
    bool drain_requested = false;
    absl::Duration drain_delay;
    absl::Duration heartbeat_interval;
    absl::Time cert_not_before;
    absl::Time cert_not_after;
    // The key whose CSR is with the broker; the files on disk keep the old key until the
    // matching chain arrives.
    std::optional<pki::PrivateKey> pending_key;
    absl::Time next_renewal_attempt = absl::InfinitePast();
  };

  struct StreamOutcome {
    bool stopped = false;
    bool drained = false;
    absl::Duration reconnect_after;
    grpc::Status status;
    absl::Duration uptime;
    bool connected = false;  // the broker sent its config: the stream was up
  };

  StreamOutcome RunStream(const AgentRegistration& registration,
                          const AgentCredentials& credentials, const pki::CertificateInfo& leaf);
  void WriteLoop(Stream& stream);
  void ReadLoop(Stream& stream);
  void HandleConfig(const certbridge::v1::AgentConfig& config);
  void HandleJob(const certbridge::v1::Job& job);
  // Queues a result for the writer (any thread).
  void QueueResult(const certbridge::v1::JobResult& result);
  void HandleRenewedCertificate(const certbridge::v1::RenewedCertificate& renewed);
  // The CSR to send now, if a renewal is due and none is outstanding.
  std::optional<std::string> StartRenewalIfDue();
  absl::Time NextWriterWakeup(absl::Time last_heartbeat) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // False if Stop() was called before `d` passed.
  bool SleepUnlessStopped(absl::Duration d);
  absl::Status ExpiredError(absl::Time not_after) const;

  const AgentSessionOptions options_;
  const Clock& clock_;
  Uniform01 uniform01_;
  StateDir dir_;
  // Set once at the start of Run(); read by both threads afterwards.
  AgentRegistration registration_;
  // options_.proxy, else registration_.proxy; set by Run() with registration_.
  std::string proxy_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  StreamState stream_ ABSL_GUARDED_BY(mu_);
  // Job results waiting for the writer. Cleared before each Hello, which carries every
  // result still in the journal.
  std::deque<certbridge::v1::JobResult> outbox_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_CLIENT_AGENT_SESSION_H_
