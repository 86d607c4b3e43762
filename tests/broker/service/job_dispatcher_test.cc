// JobDispatcher: which slot claims, and when (issue 9), against FakeStore.
//
// The pool has one thread, so tasks run one at a time in the order posted. Idle() runs
// marker tasks on it until one sees no claim started since the previous one: then no claim
// is queued or running, and a test can assert that a claim did NOT happen. (A claim whose
// slot is gone returns before asking the store; a test of that waits for its effect.)
#include "broker/service/job_dispatcher.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "broker/store/fake/fake_store.h"
#include "common/adcs/error_catalog.h"
#include "gtest/gtest.h"

namespace certbridge::broker {
namespace {

constexpr absl::Duration kDeadline = absl::Seconds(10);

// FakeStore that counts claims and can hold one at its start or after the store's claim
// (a gate), so that a test makes things happen during a claim.
class GatedStore final : public FakeStore {
 public:
  enum class Hold { kNone, kBeforeClaim, kAfterClaim };

  absl::StatusOr<std::vector<JobRecord>> ClaimJobs(const ClaimParams& params) override {
    {
      absl::MutexLock lock(&mu_);
      ++claims_;
      if (hold_ == Hold::kBeforeClaim) WaitWhileHeldLocked();
    }
    absl::StatusOr<std::vector<JobRecord>> jobs = FakeStore::ClaimJobs(params);
    absl::MutexLock lock(&mu_);
    if (jobs.ok()) sizes_.push_back(static_cast<int>(jobs->size()));
    if (hold_ == Hold::kAfterClaim) WaitWhileHeldLocked();
    return jobs;
  }

  void HoldClaims(Hold hold) {
    absl::MutexLock lock(&mu_);
    hold_ = hold;
  }
  void ReleaseClaims() {
    absl::MutexLock lock(&mu_);
    hold_ = Hold::kNone;
  }
  // A claim is waiting at the gate.
  bool WaitForHeldClaim() {
    absl::MutexLock lock(&mu_);
    auto held = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return held_ > 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&held), kDeadline);
  }
  int claims() const {
    absl::MutexLock lock(&mu_);
    return claims_;
  }
  // The job counts of the claims that returned, in order.
  std::vector<int> sizes() const {
    absl::MutexLock lock(&mu_);
    return sizes_;
  }
  void ForgetClaims() {
    absl::MutexLock lock(&mu_);
    claims_ = 0;
    sizes_.clear();
  }

 private:
  void WaitWhileHeldLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++held_;
    auto open = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return hold_ == Hold::kNone; };
    mu_.AwaitWithTimeout(absl::Condition(&open), kDeadline);
    --held_;
  }

  mutable absl::Mutex mu_;
  Hold hold_ ABSL_GUARDED_BY(mu_) = Hold::kNone;
  int held_ ABSL_GUARDED_BY(mu_) = 0;
  int claims_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int> sizes_ ABSL_GUARDED_BY(mu_);
};

class RecordingSink final : public JobSink {
 public:
  void SendJob(v1::Job job) override {
    absl::MutexLock lock(&mu_);
    jobs_.push_back(std::move(job));
  }
  std::vector<v1::Job> jobs() const {
    absl::MutexLock lock(&mu_);
    return jobs_;
  }
  size_t count() const {
    absl::MutexLock lock(&mu_);
    return jobs_.size();
  }
  bool WaitForCount(size_t n) {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return jobs_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kDeadline);
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<v1::Job> jobs_ ABSL_GUARDED_BY(mu_);
};

// What ChangeFanout does with a store's notifications.
class WakeDispatcher final : public ChangeListener {
 public:
  explicit WakeDispatcher(JobDispatcher* dispatcher) : dispatcher_(dispatcher) {}
  void OnJobsReady(const std::string& tenant_id, const std::string& ca_id) override {
    dispatcher_->JobsReady(tenant_id, ca_id);
  }
  void OnRequestChanged(const std::string&, const std::string&, int64_t,
                        std::optional<RequestState>) override {}

 private:
  JobDispatcher* dispatcher_;
};

class JobDispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.CreateTenant({"t1", "Tenant One", clock_.Now()}).ok());
    CertificateAuthorityRecord ca;
    ca.ca_id = "ca1";
    ca.tenant_id = "t1";
    ca.host = "adcs01.corp.example";
    ca.ca_name = "Corp Issuing CA";
    ca.create_time = clock_.Now();
    ASSERT_TRUE(store_.CreateCertificateAuthority(ca).ok());
    store_.SetChangeListener(&wake_);
  }
  void TearDown() override {
    store_.ReleaseClaims();
    pool_.Shutdown();
    store_.SetChangeListener(nullptr);
  }

  static AgentSlotInfo Agent(const std::string& connector, const std::string& identity,
                             int window) {
    AgentSlotInfo info;
    info.tenant_id = "t1";
    info.connector_id = connector;
    info.ca_identity = identity;
    info.ca_ids = {"ca1"};
    info.window = window;
    return info;
  }

  // A QUEUED request with a SUBMIT job on ca1; the store wakes the dispatcher.
  void Create(const std::string& name, const std::string& required_identity = "") {
    CertificateRequestRecord r;
    r.name = name;
    r.tenant_id = "t1";
    r.request_id = name;
    r.ca_id = "ca1";
    r.template_name = "WebServer";
    r.csr_pem = "-----BEGIN CERTIFICATE REQUEST-----";
    r.create_time = clock_.Now();
    r.update_time = clock_.Now();
    r.queue_deadline = clock_.Now() + absl::Hours(1);
    JobRecord job;
    job.ca_id = "ca1";
    job.kind = JobKind::kSubmit;
    job.required_identity = required_identity;
    job.create_time = clock_.Now();
    absl::StatusOr<CreateRequestResult> created = store_.CreateCertificateRequest(r, job);
    ASSERT_TRUE(created.ok()) << created.status();
  }

  // How many claims had started when a marker task ran on the pool (-1: it did not run
  // before the deadline). Read on the pool's one thread, so no claim runs meanwhile.
  int ClaimsSeenOnPool() {
    absl::Notification ran;
    int seen = -1;
    pool_.Post([&] {
      seen = store_.claims();
      ran.Notify();
    });
    if (!ran.WaitForNotificationWithDeadline(absl::Now() + kDeadline)) return -1;
    return seen;
  }
  // Until no claim is queued or running: two markers in a row saw the same count, so no
  // claim ran between them, and only a claim posts another (see the file comment).
  bool Idle() {
    int previous = ClaimsSeenOnPool();
    for (int i = 0; i < 100 && previous >= 0; ++i) {
      const int seen = ClaimsSeenOnPool();
      if (seen == previous) return true;
      previous = seen;
    }
    return false;
  }

  // The CA denied the job: a terminal answer, freeing the slot's credit.
  absl::Status Deny(int64_t slot_id, const v1::Job& job) {
    v1::JobResult result;
    result.set_job_id(job.job_id());
    result.set_ca_answered(true);
    result.set_disposition(adcs::kDispositionDenied);
    result.set_disposition_message("Denied by Policy Module");
    return dispatcher_.HandleResult(slot_id, result);
  }

  std::map<std::string, int> SentPerRequest(const std::vector<const RecordingSink*>& sinks) {
    std::map<std::string, int> sent;
    for (const RecordingSink* sink : sinks) {
      for (const v1::Job& job : sink->jobs()) ++sent[job.request_name()];
    }
    return sent;
  }

  FakeClock clock_;
  GatedStore store_;
  WorkerPool pool_{1};
  JobDispatcher dispatcher_{&store_, &store_, &pool_, &clock_, JobDispatcherOptions()};
  WakeDispatcher wake_{&dispatcher_};
  RecordingSink sink_a_;
  RecordingSink sink_b_;
};

TEST_F(JobDispatcherTest, AWakeUpClaimsForOneSlotAndAResultClaimsNothing) {
  const int64_t a = dispatcher_.AddAgent(Agent("c-a", "CORP\\ADCS01$", 4), &sink_a_);
  const int64_t b = dispatcher_.AddAgent(Agent("c-b", "CORP\\ADCS02$", 4), &sink_b_);
  ASSERT_TRUE(Idle());
  EXPECT_EQ(store_.claims(), 2);  // a new stream claims once
  store_.ForgetClaims();

  Create("req-1");
  ASSERT_TRUE(Idle());
  EXPECT_EQ(store_.sizes(), std::vector<int>{1});
  ASSERT_EQ(sink_a_.count() + sink_b_.count(), 1u);

  const bool on_a = sink_a_.count() == 1;
  ASSERT_TRUE(Deny(on_a ? a : b, (on_a ? sink_a_ : sink_b_).jobs()[0]).ok());
  ASSERT_TRUE(Idle());
  EXPECT_EQ(store_.claims(), 1);  // nothing was waiting: no claim after the result
  EXPECT_EQ(store_.GetCertificateRequest("t1", "req-1")->state, RequestState::kDenied);

  // The next wake-up goes to the other slot (round robin among equal credit).
  Create("req-2");
  ASSERT_TRUE(Idle());
  EXPECT_EQ(store_.claims(), 2);
  EXPECT_EQ((on_a ? sink_b_ : sink_a_).count(), 1u);
}

TEST_F(JobDispatcherTest, TheNextSlotClaimsOnlyAfterAClaimThatFilledItsLimit) {
  dispatcher_.AddAgent(Agent("c-a", "CORP\\ADCS01$", 2), &sink_a_);
  dispatcher_.AddAgent(Agent("c-b", "CORP\\ADCS02$", 2), &sink_b_);
  ASSERT_TRUE(Idle());
  store_.SetChangeListener(nullptr);  // the jobs arrive unannounced ...
  Create("req-1");
  Create("req-2");
  Create("req-3");
  store_.SetChangeListener(&wake_);
  store_.ForgetClaims();
  dispatcher_.JobsReady("t1", "ca1");  // ... and one wake-up stands for all three
  ASSERT_TRUE(Idle());
  EXPECT_EQ(store_.sizes(), (std::vector<int>{2, 1}));
  EXPECT_EQ(sink_a_.count() + sink_b_.count(), 3u);
  EXPECT_EQ(SentPerRequest({&sink_a_, &sink_b_}),
            (std::map<std::string, int>{{"req-1", 1}, {"req-2", 1}, {"req-3", 1}}));
}

TEST_F(JobDispatcherTest, AWakeUpDuringAClaimClaimsAgainAfterIt) {
  dispatcher_.AddAgent(Agent("c-a", "CORP\\ADCS01$", 4), &sink_a_);
  ASSERT_TRUE(Idle());
  store_.HoldClaims(GatedStore::Hold::kAfterClaim);
  Create("req-1");  // claimed, and the claim is held before it returns
  ASSERT_TRUE(store_.WaitForHeldClaim());
  Create("req-2");  // committed after that claim looked
  store_.ReleaseClaims();
  ASSERT_TRUE(Idle());
  EXPECT_EQ(SentPerRequest({&sink_a_}),
            (std::map<std::string, int>{{"req-1", 1}, {"req-2", 1}}));
}

TEST_F(JobDispatcherTest, AWakeUpWhileWindowsAreFullIsClaimedAfterAResult) {
  const int64_t a = dispatcher_.AddAgent(Agent("c-a", "CORP\\ADCS01$", 1), &sink_a_);
  ASSERT_TRUE(Idle());
  Create("req-1");
  ASSERT_TRUE(Idle());
  ASSERT_EQ(sink_a_.count(), 1u);
  store_.ForgetClaims();
  Create("req-2");  // the window is full: remembered, not claimed
  ASSERT_TRUE(Idle());
  EXPECT_EQ(store_.claims(), 0);
  // Unheard, the store's own report of the CA (CompleteJob) cannot stand in for the memory.
  store_.SetChangeListener(nullptr);
  ASSERT_TRUE(Deny(a, sink_a_.jobs()[0]).ok());
  store_.SetChangeListener(&wake_);
  ASSERT_TRUE(Idle());
  EXPECT_EQ(store_.sizes(), std::vector<int>{1});
  EXPECT_EQ(SentPerRequest({&sink_a_}),
            (std::map<std::string, int>{{"req-1", 1}, {"req-2", 1}}));
}

TEST_F(JobDispatcherTest, AResultArrivingDuringAClaimLosesNothing) {
  const int64_t a = dispatcher_.AddAgent(Agent("c-a", "CORP\\ADCS01$", 1), &sink_a_);
  ASSERT_TRUE(Idle());
  Create("req-1");
  ASSERT_TRUE(Idle());
  ASSERT_EQ(sink_a_.count(), 1u);
  Create("req-2");  // remembered: the window is full
  Create("req-3");
  ASSERT_TRUE(Idle());
  // The result frees the credit; its claim is held at the gate while a second result (a
  // duplicate) and a new request arrive.
  store_.HoldClaims(GatedStore::Hold::kBeforeClaim);
  ASSERT_TRUE(Deny(a, sink_a_.jobs()[0]).ok());
  ASSERT_TRUE(store_.WaitForHeldClaim());
  ASSERT_TRUE(Deny(a, sink_a_.jobs()[0]).ok());  // duplicate: ignored
  Create("req-4");
  store_.ReleaseClaims();
  ASSERT_TRUE(Idle());
  ASSERT_EQ(sink_a_.count(), 2u);
  for (int i = 1; i < 4; ++i) {
    const std::vector<v1::Job> sent = sink_a_.jobs();
    ASSERT_TRUE(Deny(a, sent.back()).ok());
    ASSERT_TRUE(Idle());
  }
  EXPECT_EQ(SentPerRequest({&sink_a_}),
            (std::map<std::string, int>{{"req-1", 1}, {"req-2", 1}, {"req-3", 1}, {"req-4", 1}}));
}

TEST_F(JobDispatcherTest, JobsTheCaLimitHeldBackAreClaimedWhenALeaseEnds) {
  // Re-created with a per-CA limit of one job in flight (across every agent).
  JobDispatcherOptions options;
  options.per_ca_limit = 1;
  JobDispatcher limited(&store_, &store_, &pool_, &clock_, options);
  WakeDispatcher wake(&limited);
  store_.SetChangeListener(&wake);
  const int64_t a = limited.AddAgent(Agent("c-a", "CORP\\ADCS01$", 4), &sink_a_);
  const int64_t b = limited.AddAgent(Agent("c-b", "CORP\\ADCS02$", 4), &sink_b_);
  ASSERT_TRUE(Idle());
  Create("req-1");
  Create("req-2");  // its wake-up finds the CA at its limit
  ASSERT_TRUE(Idle());
  ASSERT_EQ(sink_a_.count() + sink_b_.count(), 1u);
  store_.ForgetClaims();

  // Only the completion can say that req-2 is claimable now: no other notification comes.
  const bool on_a = sink_a_.count() == 1;
  v1::JobResult result;
  result.set_job_id((on_a ? sink_a_ : sink_b_).jobs()[0].job_id());
  result.set_ca_answered(true);
  result.set_disposition(adcs::kDispositionDenied);
  ASSERT_TRUE(limited.HandleResult(on_a ? a : b, result).ok());
  ASSERT_TRUE(Idle());
  EXPECT_EQ(store_.sizes(), std::vector<int>{1});
  EXPECT_EQ(SentPerRequest({&sink_a_, &sink_b_}),
            (std::map<std::string, int>{{"req-1", 1}, {"req-2", 1}}));
  store_.SetChangeListener(nullptr);
  pool_.Shutdown();  // before `limited` goes
  limited.RemoveAgent(a);
  limited.RemoveAgent(b);
}

TEST_F(JobDispatcherTest, TheSweepMakesEverySlotClaimForJobsBoundToOneIdentity) {
  dispatcher_.AddAgent(Agent("c-a", "CORP\\ADCS01$", 4), &sink_a_);
  dispatcher_.AddAgent(Agent("c-b", "CORP\\ADCS02$", 2), &sink_b_);
  ASSERT_TRUE(Idle());
  store_.ForgetClaims();
  // Only ADCS02$ may take it; the wake-up goes to the slot with the most credit.
  Create("pinned", "CORP\\ADCS02$");
  ASSERT_TRUE(Idle());
  EXPECT_EQ(store_.sizes(), std::vector<int>{0});
  EXPECT_EQ(sink_b_.count(), 0u);

  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ready =
      store_.ListCasWithReadyJobs(clock_.Now());
  ASSERT_TRUE(ready.ok()) << ready.status();
  ASSERT_EQ(*ready, (std::vector<std::pair<std::string, std::string>>{{"t1", "ca1"}}));
  dispatcher_.JobsStillReady("t1", "ca1");  // what the sweeper does with them
  ASSERT_TRUE(Idle());
  EXPECT_EQ(store_.sizes(), (std::vector<int>{0, 0, 1}));
  EXPECT_EQ(sink_a_.count(), 0u);
  ASSERT_EQ(sink_b_.count(), 1u);
  EXPECT_EQ(sink_b_.jobs()[0].request_name(), "pinned");
}

TEST_F(JobDispatcherTest, ANewStreamClaimsWhatWaitedForIt) {
  Create("req-1");  // no stream yet: the wake-up has nowhere to go
  ASSERT_TRUE(Idle());
  EXPECT_EQ(store_.claims(), 0);
  dispatcher_.AddAgent(Agent("c-a", "CORP\\ADCS01$", 4), &sink_a_);
  ASSERT_TRUE(Idle());
  EXPECT_EQ(store_.sizes(), std::vector<int>{1});
  EXPECT_EQ(SentPerRequest({&sink_a_}), (std::map<std::string, int>{{"req-1", 1}}));
}

TEST_F(JobDispatcherTest, AStreamThatEndsBeforeItsClaimRunsPassesTheWakeUpOn) {
  const int64_t a = dispatcher_.AddAgent(Agent("c-a", "CORP\\ADCS01$", 4), &sink_a_);
  dispatcher_.AddAgent(Agent("c-b", "CORP\\ADCS02$", 2), &sink_b_);
  ASSERT_TRUE(Idle());
  // Hold the pool's only thread so that the claim for req-1 is queued, not running.
  absl::Notification release;
  absl::Notification blocked;
  pool_.Post([&] {
    blocked.Notify();
    release.WaitForNotificationWithDeadline(absl::Now() + kDeadline);
  });
  ASSERT_TRUE(blocked.WaitForNotificationWithDeadline(absl::Now() + kDeadline));
  Create("req-1");  // slot a (most credit) is chosen
  dispatcher_.RemoveAgent(a);
  release.Notify();
  // Its claim finds the slot gone without asking the store, so Idle() cannot tell it ran.
  ASSERT_TRUE(sink_b_.WaitForCount(1));
  ASSERT_TRUE(Idle());
  EXPECT_EQ(sink_a_.count(), 0u);
  EXPECT_EQ(SentPerRequest({&sink_b_}), (std::map<std::string, int>{{"req-1", 1}}));
}

}  // namespace
}  // namespace certbridge::broker
