// RecordPublishingCertificateStore (broker/store/record_publishing_certificate_store.h) over
// the FakeStore: the record each successful request write returns reaches the listener's
// OnRequestRecord, exactly as returned; failed writes and other methods publish nothing; the
// inner store's notifications still reach the same listener; nullptr stops both.
#include "broker/store/record_publishing_certificate_store.h"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "broker/store/fake/fake_store.h"

namespace certbridge::broker {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

// Records what it is told.
class RecordingListener final : public ChangeListener {
 public:
  void OnJobsReady(const std::string&, const std::string&) override {}
  void OnRequestChanged(const std::string&, const std::string& name, int64_t,
                        std::optional<RequestState>) override {
    changed.push_back(name);
  }
  void OnRequestRecord(const CertificateRequestRecord& record) override {
    records.push_back(record);
  }
  std::vector<std::string> changed;
  std::vector<CertificateRequestRecord> records;
};

class RecordPublishingCertificateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(inner_.CreateTenant({"t1", "Tenant One", kT0}).ok());
    store_.SetChangeListener(&listener_);
  }

  // Creates request `name` with a READY SUBMIT job; returns the job.
  JobRecord Create(const std::string& name) {
    CertificateRequestRecord r;
    r.name = name;
    r.tenant_id = "t1";
    r.request_id = "rid-" + name;
    r.ca_id = "ca1";
    r.template_name = "WebServer";
    r.params_fingerprint = "fp-" + name;
    r.csr_pem = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
    r.create_time = kT0;
    r.update_time = kT0;
    r.queue_deadline = kT0 + absl::Hours(1);
    JobRecord job;
    job.ca_id = "ca1";
    job.kind = JobKind::kSubmit;
    job.create_time = kT0;
    EXPECT_TRUE(store_.CreateCertificateRequest(r, job).ok());
    ClaimParams claim;
    claim.tenant_id = "t1";
    claim.connector_id = "c1";
    claim.ca_identity = "CORP\\svc";
    claim.ca_ids = {"ca1"};
    claim.limit = 1;
    claim.per_ca_limit = 1;
    claim.now = kT0 + absl::Seconds(1);
    claim.lease_until = kT0 + absl::Minutes(5);
    absl::StatusOr<std::vector<JobRecord>> claimed = store_.ClaimJobs(claim);
    EXPECT_TRUE(claimed.ok() && claimed->size() == 1u);
    return claimed.ok() && !claimed->empty() ? (*claimed)[0] : JobRecord{};
  }

  // The completion of `job` (request r1) that issues the certificate.
  JobCompletion Issue(const JobRecord& job) {
    JobCompletion done;
    done.job_id = job.job_id;
    done.tenant_id = "t1";
    done.now = kT0 + absl::Seconds(2);
    done.request = *inner_.GetCertificateRequest("t1", "r1");
    done.request.state = RequestState::kIssued;
    done.request.serial_hex = "0a1b";
    return done;
  }

  FakeStore inner_;
  RecordPublishingCertificateStore store_{&inner_};
  RecordingListener listener_;
};

TEST_F(RecordPublishingCertificateStoreTest, CompleteJobPublishesTheRecordItReturns) {
  const JobRecord job = Create("r1");
  // Creation and claim publish nothing (their callers hold the record, or it settles no one),
  // but the inner store's notifications reach the listener.
  EXPECT_TRUE(listener_.records.empty());
  EXPECT_EQ(listener_.changed, (std::vector<std::string>{"r1", "r1"}));

  const JobCompletion done = Issue(job);
  absl::StatusOr<CertificateRequestRecord> stored = store_.CompleteJob(done);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(listener_.records.size(), 1u);
  EXPECT_EQ(listener_.records[0].tenant_id, "t1");
  EXPECT_EQ(listener_.records[0].name, "r1");
  EXPECT_EQ(listener_.records[0].state, RequestState::kIssued);
  EXPECT_EQ(listener_.records[0].serial_hex, "0a1b");
  EXPECT_EQ(listener_.records[0].change_seq, stored->change_seq);
  EXPECT_EQ(listener_.records[0].change_seq, inner_.GetCertificateRequest("t1", "r1")->change_seq);

  // A duplicate report fails (FAILED_PRECONDITION) and publishes nothing.
  EXPECT_EQ(store_.CompleteJob(done).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(listener_.records.size(), 1u);
}

TEST_F(RecordPublishingCertificateStoreTest, RequestUpdatesPublishTheirRecordsAndFailuresNothing) {
  Create("r1");
  CertificateRequestRecord cancel;
  cancel.state = RequestState::kCancelled;
  cancel.update_time = kT0 + absl::Seconds(3);
  // Not in one of `from`: FAILED_PRECONDITION, nothing published.
  EXPECT_EQ(store_
                .UpdateCertificateRequest("t1", "r1", {RequestState::kQueued}, cancel,
                                          /*fail_open_jobs=*/true)
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(listener_.records.empty());
  // Another tenant's request is NOT_FOUND: nothing published.
  EXPECT_EQ(store_
                .UpdateCertificateRequest("t2", "r1", {RequestState::kDispatched}, cancel, true)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(listener_.records.empty());

  absl::StatusOr<CertificateRequestRecord> cancelled =
      store_.UpdateCertificateRequest("t1", "r1", {RequestState::kDispatched}, cancel, true);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  ASSERT_EQ(listener_.records.size(), 1u);
  EXPECT_EQ(listener_.records[0].state, RequestState::kCancelled);
  EXPECT_EQ(listener_.records[0].change_seq, cancelled->change_seq);

  JobRecord revoke;
  revoke.ca_id = "ca1";
  revoke.kind = JobKind::kRevoke;
  revoke.create_time = kT0;
  CertificateRequestRecord update = *cancelled;
  update.error_code = "SOMETHING";
  absl::StatusOr<CertificateRequestRecord> updated = store_.UpdateRequestAndAddJob(
      "t1", "r1", {RequestState::kCancelled}, update, revoke);
  ASSERT_TRUE(updated.ok()) << updated.status();
  ASSERT_EQ(listener_.records.size(), 2u);
  EXPECT_EQ(listener_.records[1].error_code, "SOMETHING");
  EXPECT_EQ(listener_.records[1].change_seq, updated->change_seq);
  EXPECT_GT(listener_.records[1].change_seq, listener_.records[0].change_seq);
}

TEST_F(RecordPublishingCertificateStoreTest, NoListenerStopsRecordsAndNotifications) {
  const JobRecord job = Create("r1");
  store_.SetChangeListener(nullptr);
  const size_t changed = listener_.changed.size();
  ASSERT_TRUE(store_.CompleteJob(Issue(job)).ok());
  EXPECT_TRUE(listener_.records.empty());
  EXPECT_EQ(listener_.changed.size(), changed);
}

}  // namespace
}  // namespace certbridge::broker
