#include "agent/client/agent_session.h"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "agent/client/state_dir.h"
#include "agent/ca/fake_ca_backend.h"
#include "agent/jobs/job_executor.h"
#include "common/adcs/error_catalog.h"
#include "common/clock.h"
#include "common/pki/pki.h"
#include "gtest/gtest.h"
#include "tests/agent/support/platform_test_support.h"
#include "tests/agent/client/fake_agent_service.h"

namespace certbridge::agent {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::certbridge::v1;
using testing::FakeAgentService;
using testing::FakeBroker;
using testing::Observed;
using testing::TestPki;

constexpr absl::Duration kWait = absl::Seconds(20);

std::string LeafSerial(const std::string& chain_pem) {
  auto chain = pki::SplitPemChain(chain_pem);
  if (!chain.ok()) return "";
  auto leaf = pki::ParseCertificate(chain->front());
  return leaf.ok() ? leaf->serial_hex : "";
}

// Runs a session on its own thread; Stop() and the result are checked by the test.
class RunningSession {
 public:
  RunningSession(AgentSessionOptions options, const Clock& clock)
      : session_(std::move(options), clock) {
    thread_ = std::thread([this] {
      status_ = session_.Run();
      done_.Notify();
    });
  }
  ~RunningSession() {
    session_.Stop();
    thread_.join();
  }
  AgentSession& session() { return session_; }
  // The status of Run(), or nullopt if it did not return within `timeout`.
  std::optional<absl::Status> WaitForExit(absl::Duration timeout) {
    if (!done_.WaitForNotificationWithTimeout(timeout)) return std::nullopt;
    return status_;
  }

 private:
  AgentSession session_;
  absl::Notification done_;
  absl::Status status_;
  std::thread thread_;
};

class AgentSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestPki>> pki = TestPki::Create();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = std::move(*pki);
    service_ = std::make_unique<FakeAgentService>(*pki_);
    broker_ = FakeBroker::Start(*service_, *pki_);
    ASSERT_NE(broker_, nullptr);
    root_ = test_support::MakeTempDir("agent-session-");
    ASSERT_FALSE(root_.empty());
    state_dir_ = root_ + "/state";
  }
  void TearDown() override {
    broker_.reset();
    fs::remove_all(root_);
  }

  // Registers the agent in state_dir_ with a certificate valid [now+from, now+to].
  void WriteRegistration(absl::Duration from, absl::Duration to) {
    absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    ASSERT_TRUE(key.ok());
    absl::StatusOr<std::string> csr = pki::CreateCsrPem(*key, {.subject = "CN=adcs01", .sans = {}});
    ASSERT_TRUE(csr.ok());
    absl::Time now = absl::Now();
    absl::StatusOr<std::string> chain = pki_->IssueAgentChain(*csr, now + from, now + to);
    ASSERT_TRUE(chain.ok()) << chain.status();
    initial_serial_ = LeafSerial(*chain);
    absl::Status saved = StateDir(state_dir_).Save(
        {.broker_address = broker_->address(),
         .tenant_id = "t-1",
         .connector_id = "c-1",
         .host = "adcs01",
         .ca_identity = "CORP\\ADCS01$",
         .proxy = ""},
        {.key_pem = key->ToPem(), .chain_pem = *chain, .broker_ca_pem = pki_->broker_ca_pem()},
        false);
    ASSERT_TRUE(saved.ok()) << saved;
  }

  AgentSessionOptions Options() const {
    AgentSessionOptions o;
    o.state_dir = state_dir_;
    o.backoff = {.base = absl::Milliseconds(20), .max = absl::Milliseconds(200),
                 .reset_after = absl::Seconds(60)};
    return o;
  }

  // Stops the session and checks that Run returned OK within 2 s.
  void ExpectPromptStop(RunningSession& running) {
    absl::Time start = absl::Now();
    running.session().Stop();
    std::optional<absl::Status> status = running.WaitForExit(absl::Seconds(2));
    ASSERT_TRUE(status.has_value()) << "Run() did not return within 2 s of Stop()";
    EXPECT_TRUE(status->ok()) << *status;
    EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  }

  std::unique_ptr<TestPki> pki_;
  std::unique_ptr<FakeAgentService> service_;
  std::unique_ptr<FakeBroker> broker_;
  std::string root_;
  std::string state_dir_;
  std::string initial_serial_;
  RealClock clock_;
};

TEST_F(AgentSessionTest, SendsHelloWithItsIdentityThenHeartbeats) {
  WriteRegistration(-absl::Minutes(5), absl::Hours(72));
  RunningSession running(Options(), clock_);
  ASSERT_TRUE(service_->WaitFor([](const Observed& o) { return o.heartbeats >= 2; }, kWait));
  Observed seen = service_->observed();
  ASSERT_GE(seen.hellos.size(), 1u);
  EXPECT_EQ(seen.hellos[0].host(), "adcs01");
  EXPECT_EQ(seen.hellos[0].ca_identity(), "CORP\\ADCS01$");
  EXPECT_FALSE(seen.hellos[0].agent_version().empty());
  EXPECT_FALSE(seen.hellos[0].os().empty());
  EXPECT_EQ(seen.connections, 1);
  EXPECT_EQ(seen.client_serials[0], initial_serial_);
  EXPECT_TRUE(seen.renewal_csrs.empty());
  ExpectPromptStop(running);
}

TEST_F(AgentSessionTest, RenewsOverTheOpenStreamAndNextConnectionUsesTheNewCertificate) {
  // Three hours old, one hour left: past two thirds of its life.
  WriteRegistration(-absl::Hours(3), absl::Hours(1));
  std::string old_key = *ReadWholeFile(state_dir_ + "/agent.key");
  service_->DrainAfterRenewal();
  RunningSession running(Options(), clock_);

  ASSERT_TRUE(service_->WaitFor([](const Observed& o) { return o.connections >= 2 &&
                                                               o.hellos.size() >= 2; },
                                kWait));
  Observed seen = service_->observed();
  ASSERT_EQ(seen.renewal_csrs.size(), 1u);
  EXPECT_EQ(seen.renewals_answered, 1);
  // The CSR carries the new public key, never the private key.
  EXPECT_EQ(seen.renewal_csrs[0].find("PRIVATE KEY"), std::string::npos);

  absl::StatusOr<AgentCredentials> creds = StateDir(state_dir_).LoadCredentials();
  ASSERT_TRUE(creds.ok()) << creds.status();
  EXPECT_NE(creds->key_pem, old_key);
  absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::FromPem(creds->key_pem);
  ASSERT_TRUE(key.ok());
  std::string new_serial = LeafSerial(creds->chain_pem);
  EXPECT_TRUE(pki::KeyMatchesCertificate(*key, pki::SplitPemChain(creds->chain_pem)->front()));
  EXPECT_NE(new_serial, initial_serial_);
  EXPECT_TRUE(test_support::HasAccess(state_dir_ + "/agent.key", FileAccess::kOwnerOnly));

  EXPECT_EQ(seen.client_serials[0], initial_serial_);
  EXPECT_EQ(seen.client_serials[1], new_serial);
  // The renewed certificate is not due, so the second stream does not renew again.
  ASSERT_TRUE(service_->WaitFor([](const Observed& o) { return o.heartbeats >= 1; }, kWait));
  EXPECT_EQ(service_->observed().renewal_csrs.size(), 1u);
  ExpectPromptStop(running);
}

TEST_F(AgentSessionTest, RenewalWithCertificateForAnotherKeyIsRejectedAndFilesKept) {
  WriteRegistration(-absl::Hours(3), absl::Hours(1));
  std::string old_key = *ReadWholeFile(state_dir_ + "/agent.key");
  std::string old_chain = *ReadWholeFile(state_dir_ + "/agent-chain.pem");
  service_->AnswerRenewalsWithWrongKey();
  RunningSession running(Options(), clock_);
  ASSERT_TRUE(service_->WaitFor([](const Observed& o) { return o.renewals_answered >= 1; },
                                kWait));
  // A heartbeat after the answer shows the reader has handled it.
  int beats = service_->observed().heartbeats;
  ASSERT_TRUE(service_->WaitFor([&](const Observed& o) { return o.heartbeats > beats; }, kWait));
  EXPECT_EQ(*ReadWholeFile(state_dir_ + "/agent.key"), old_key);
  EXPECT_EQ(*ReadWholeFile(state_dir_ + "/agent-chain.pem"), old_chain);
  EXPECT_EQ(service_->observed().connections, 1);
  ExpectPromptStop(running);
}

TEST_F(AgentSessionTest, ReconnectsAfterTheStreamFails) {
  WriteRegistration(-absl::Minutes(5), absl::Hours(72));
  service_->EndStreamsAfterHello(2, grpc::Status(grpc::StatusCode::UNAVAILABLE, "replica gone"));
  RunningSession running(Options(), clock_);
  ASSERT_TRUE(service_->WaitFor([](const Observed& o) { return o.hellos.size() >= 3; }, kWait));
  ASSERT_TRUE(service_->WaitFor([](const Observed& o) { return o.heartbeats >= 1; }, kWait));
  EXPECT_EQ(service_->observed().connections, 3);
  ExpectPromptStop(running);
}

TEST_F(AgentSessionTest, DrainClosesTheStreamAndReconnects) {
  WriteRegistration(-absl::Minutes(5), absl::Hours(72));
  service_->DrainAfterHello(1, 100);
  AgentSessionOptions options = Options();
  // A failure would wait up to 10 s; the drain's own 100 ms must be what is used.
  options.backoff = {.base = absl::Seconds(10), .max = absl::Seconds(10),
                     .reset_after = absl::Seconds(60)};
  RunningSession running(options, clock_);
  absl::Time start = absl::Now();
  ASSERT_TRUE(service_->WaitFor([](const Observed& o) { return o.hellos.size() >= 2; }, kWait));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(service_->observed().connections, 2);
  ExpectPromptStop(running);
}

TEST_F(AgentSessionTest, DisabledConnectorKeepsRetryingAtTheCappedDelay) {
  WriteRegistration(-absl::Minutes(5), absl::Hours(72));
  service_->RefuseConnects(
      grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "connector c-1 is disabled"));
  RunningSession running(Options(), clock_);
  ASSERT_TRUE(service_->WaitFor([](const Observed& o) { return o.connections >= 3; }, kWait));
  EXPECT_FALSE(running.WaitForExit(absl::ZeroDuration()).has_value());
  ExpectPromptStop(running);
}

TEST_F(AgentSessionTest, StopDuringBackoffReturnsPromptly) {
  WriteRegistration(-absl::Minutes(5), absl::Hours(72));
  service_->RefuseConnects(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
  AgentSessionOptions options = Options();
  options.backoff = {.base = absl::Seconds(30), .max = absl::Seconds(60),
                     .reset_after = absl::Seconds(60)};
  RunningSession running(options, clock_);
  ASSERT_TRUE(service_->WaitFor([](const Observed& o) { return o.connections >= 1; }, kWait));
  ExpectPromptStop(running);
}

TEST_F(AgentSessionTest, StopBeforeRunReturnsAtOnce) {
  WriteRegistration(-absl::Minutes(5), absl::Hours(72));
  AgentSession session(Options(), clock_);
  session.Stop();
  EXPECT_TRUE(session.Run().ok());
  EXPECT_EQ(service_->observed().connections, 0);
}

TEST_F(AgentSessionTest, ExpiredCertificateStopsWithReRegisterMessageWithoutConnecting) {
  WriteRegistration(-absl::Minutes(5), absl::Hours(1));
  FakeClock later(absl::Now() + absl::Hours(2));
  AgentSession session(Options(), later);
  absl::Status s = session.Run();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  EXPECT_NE(s.message().find("expired on"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("register --force --token"), absl::string_view::npos) << s;
  EXPECT_EQ(service_->observed().connections, 0);
}

TEST_F(AgentSessionTest, BrokerSayingCertificateExpiredStopsTheAgent) {
  WriteRegistration(-absl::Minutes(5), absl::Hours(72));
  service_->RefuseConnects(
      grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "agent certificate expired"));
  RunningSession running(Options(), clock_);
  std::optional<absl::Status> s = running.WaitForExit(kWait);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->code(), absl::StatusCode::kUnauthenticated) << *s;
  EXPECT_NE(s->message().find("re-register"), absl::string_view::npos) << *s;
}

TEST_F(AgentSessionTest, SecondAgentOnTheSameStateDirIsRefused) {
  WriteRegistration(-absl::Minutes(5), absl::Hours(72));
  RunningSession running(Options(), clock_);
  ASSERT_TRUE(service_->WaitFor([](const Observed& o) { return o.hellos.size() >= 1; }, kWait));
  AgentSession second(Options(), clock_);
  absl::Status s = second.Run();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("already running"), absl::string_view::npos) << s;
  EXPECT_EQ(service_->observed().connections, 1);
  ExpectPromptStop(running);
}

TEST_F(AgentSessionTest, MissingRegistrationIsNotFound) {
  AgentSession session(Options(), clock_);
  EXPECT_EQ(session.Run().code(), absl::StatusCode::kNotFound);
}

// Jobs over the stream, run by a JobExecutor against FakeCaBackend.
class AgentSessionJobsTest : public AgentSessionTest {
 protected:
  void SetUp() override {
    AgentSessionTest::SetUp();
    WriteRegistration(-absl::Minutes(5), absl::Hours(72));
    auto ca = FakeCaBackend::Create("adcs01\\Fake CA", {CaTemplate{"WebServer", "", "", 0, 0, 0}});
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *std::move(ca);
    source_ = std::make_unique<Source>(ca_.get());
    auto journal = JobJournal::Open(state_dir_ + "/journal");
    ASSERT_TRUE(journal.ok()) << journal.status();
    journal_ = *std::move(journal);
    auto keys = PendingKeyStore::Open(state_dir_ + "/pending-keys");
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = *std::move(keys);
    auto policy_state = AgentPolicyState::Open(state_dir_ + "/policy");
    ASSERT_TRUE(policy_state.ok()) << policy_state.status();
    policy_state_ = *std::move(policy_state);
    auto executor = JobExecutor::Create({.journal = journal_.get(), .keys = keys_.get(),
                                         .backends = source_.get(),
                                         .policy_state = policy_state_.get(),
                                         .max_concurrent_jobs = 3});
    ASSERT_TRUE(executor.ok()) << executor.status();
    executor_ = *std::move(executor);
  }
  void TearDown() override {
    executor_.reset();
    // The journal and the policy state keep their logs open, and Windows deletes no open
    // file (under Wine, remove_all of the state dir hangs on one).
    journal_.reset();
    policy_state_.reset();
    AgentSessionTest::TearDown();
  }
  AgentSessionOptions JobOptions() const {
    AgentSessionOptions o = Options();
    o.jobs = executor_.get();
    return o;
  }
  v1::Job Job(int64_t id) const {
    auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    v1::Job job;
    job.set_job_id(id);
    job.set_kind(v1::Job::KIND_SUBMIT);
    job.set_request_name("tenants/t-1/certificateRequests/r-" + std::to_string(id));
    job.set_ca_config("adcs01\\Fake CA");
    job.set_attributes("CertificateTemplate:WebServer");
    job.set_csr_pem(*pki::CreateCsrPem(*key, {.subject = "CN=device", .sans = {}}));
    job.set_attempt(1);
    return job;
  }
  size_t JournalSize() const {
    auto entries = journal_->List();
    return entries.ok() ? entries->size() : 999;
  }
  bool WaitForJournalSize(size_t n) const {
    const absl::Time deadline = absl::Now() + kWait;
    while (absl::Now() < deadline) {
      if (JournalSize() == n) return true;
      absl::SleepFor(absl::Milliseconds(10));  // polling a condition with a deadline
    }
    return false;
  }

  class Source final : public CaBackendSource {
   public:
    explicit Source(CaBackend* ca) : ca_(ca) {}
    absl::StatusOr<CaBackend*> ForConfig(const std::string&) override { return ca_; }

   private:
    CaBackend* ca_;
  };

  std::unique_ptr<FakeCaBackend> ca_;
  std::unique_ptr<Source> source_;
  std::unique_ptr<JobJournal> journal_;
  std::unique_ptr<PendingKeyStore> keys_;
  std::unique_ptr<AgentPolicyState> policy_state_;
  std::unique_ptr<JobExecutor> executor_;
};

TEST_F(AgentSessionJobsTest, JobComesBackAsResultAndJobAckClearsTheJournal) {
  service_->SendJobsAfterHello({Job(11), Job(12)});
  RunningSession running(JobOptions(), clock_);
  ASSERT_TRUE(service_->WaitFor([](const Observed& o) { return o.job_results.size() >= 2; }, kWait));
  Observed o = service_->observed();
  EXPECT_EQ(o.hellos.at(0).max_concurrent_jobs(), 3);
  EXPECT_EQ(o.hellos.at(0).journal_results_size(), 0);
  for (const v1::JobResult& r : o.job_results) {
    EXPECT_TRUE(r.ca_answered()) << r.error_message();
    EXPECT_EQ(r.disposition(), adcs::kDispositionIssued);
    EXPECT_TRUE(r.job_id() == 11 || r.job_id() == 12) << r.job_id();
  }
  EXPECT_TRUE(WaitForJournalSize(0)) << JournalSize() << " entries left after JobAck";
  EXPECT_EQ(ca_->submit_count(), 2);
  ExpectPromptStop(running);
}

TEST_F(AgentSessionJobsTest, UnacknowledgedResultGoesInTheNextHello) {
  service_->SetAckResults(false);
  service_->SendJobsAfterHello({Job(21)});
  {
    RunningSession running(JobOptions(), clock_);
    ASSERT_TRUE(
        service_->WaitFor([](const Observed& o) { return o.job_results.size() >= 1; }, kWait));
    ExpectPromptStop(running);
  }
  EXPECT_EQ(JournalSize(), 1u);
  service_->SetAckResults(true);
  RunningSession restarted(JobOptions(), clock_);
  ASSERT_TRUE(service_->WaitFor([](const Observed& o) { return o.hellos.size() >= 2; }, kWait));
  const v1::Hello hello = service_->observed().hellos.at(1);
  ASSERT_EQ(hello.journal_results_size(), 1);
  EXPECT_EQ(hello.journal_results(0).job_id(), 21);
  EXPECT_EQ(hello.journal_results(0).disposition(), adcs::kDispositionIssued);
  EXPECT_EQ(ca_->submit_count(), 1);
  ExpectPromptStop(restarted);
}

// A journal larger than the broker's 1 MiB message limit used to make every Hello fail, so
// the connector could never connect again. Hello now carries a bounded part; the rest
// follows as JobResult messages.
TEST_F(AgentSessionJobsTest, JournalLargerThanTheBrokersMessageLimitStillGetsThrough) {
  constexpr int kResults = 300;
  const std::string chain(8 * 1024, 'c');  // ~2.4 MiB of results in all
  for (int i = 1; i <= kResults; ++i) {
    v1::Job job = Job(1000 + i);
    ASSERT_TRUE(journal_->RecordStarted(job).ok());
    v1::JobResult result;
    result.set_job_id(job.job_id());
    result.set_ca_answered(true);
    result.set_disposition(adcs::kDispositionIssued);
    result.set_chain_pem(chain);
    ASSERT_TRUE(journal_->RecordFinished(result).ok());
  }
  RunningSession running(JobOptions(), clock_);
  ASSERT_TRUE(service_->WaitFor(
      [](const Observed& o) {
        return !o.hellos.empty() &&
               o.hellos[0].journal_results_size() + static_cast<int>(o.job_results.size()) >=
                   kResults;
      },
      kWait));
  const Observed o = service_->observed();
  EXPECT_LT(o.hellos.at(0).ByteSizeLong(), size_t{1} << 20);
  EXPECT_GT(o.hellos.at(0).journal_results_size(), 0);
  EXPECT_GT(o.job_results.size(), 0u);
  std::set<int64_t> delivered;
  for (const auto& r : o.hellos[0].journal_results()) delivered.insert(r.job_id());
  for (const auto& r : o.job_results) delivered.insert(r.job_id());
  EXPECT_EQ(delivered.size(), static_cast<size_t>(kResults));
  EXPECT_TRUE(WaitForJournalSize(0)) << JournalSize() << " entries left after JobAck";
  EXPECT_EQ(ca_->submit_count(), 0);
  ExpectPromptStop(running);
}

}  // namespace
}  // namespace certbridge::agent
