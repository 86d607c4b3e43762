// PostgresFleetStatistics against a real PostgreSQL: every figure from a database set up
// through PostgresStore, and the liveness cut-off moving a connector from connected to
// disconnected.
#include "broker/store/postgres/postgres_fleet_statistics.h"

#include <memory>
#include <string>

#include "broker/store/postgres/migrations.h"
#include "broker/store/postgres/postgres_store.h"
#include "gtest/gtest.h"
#include "tests/broker/store/postgres_environment.h"

namespace certbridge::broker {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

class PostgresFleetStatisticsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(TestPostgres(), nullptr);
    absl::StatusOr<std::string> dsn = TestPostgres()->CreateDatabase();
    ASSERT_TRUE(dsn.ok()) << dsn.status();
    dsn_ = *dsn;
    ASSERT_TRUE(MigrateDatabase(dsn_).ok());
    PostgresStoreOptions options;
    options.dsn = dsn_;
    options.pool_size = 2;
    absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Create(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ASSERT_TRUE(store_->CreateTenant({"t1", "Tenant One", kT0}).ok());
  }

  // An ACTIVE connector whose certificate expires at `expiry`, assigned to `ca_id`.
  void ActiveConnector(const std::string& id, const std::string& ca_id, absl::Time expiry) {
    ASSERT_TRUE(store_
                    ->CreateEnrollmentToken({"token-" + id, "t1", "for " + id, "admin", kT0,
                                             kT0 + absl::Hours(1)})
                    .ok());
    ConnectorRecord c;
    c.connector_id = id;
    c.host = id + ".corp.example";
    c.os = "Windows Server 2022";
    c.agent_version = "1.0.0";
    c.ca_identity = "CORP\\" + id + "$";
    c.csr_pem = "csr";
    c.registration_code_hash = "code-" + id;
    c.registration_code_expire_time = kT0 + absl::Hours(1);
    c.poll_secret_hash = "poll-" + id;
    c.create_time = kT0;
    ASSERT_TRUE(store_->RegisterConnector("token-" + id, kT0, c).ok());
    ASSERT_TRUE(store_->ApproveConnector("t1", id, kT0, "chain", "01", expiry).ok());
    ASSERT_TRUE(store_->AssignCertificateAuthority("t1", ca_id, id).ok());
  }

  void Ca(const std::string& id) {
    ASSERT_TRUE(store_
                    ->CreateCertificateAuthority(
                        {id, "t1", id + ".corp.example", "Issuing " + id, id, {}, kT0})
                    .ok());
  }

  void Request(const std::string& name, const std::string& ca_id, absl::Time created) {
    CertificateRequestRecord r;
    r.name = name;
    r.tenant_id = "t1";
    r.request_id = "rid-" + name;
    r.ca_id = ca_id;
    r.template_name = "WebServer";
    r.params_fingerprint = "fp-" + name;
    r.csr_pem = "csr";
    r.create_time = created;
    r.update_time = created;
    r.queue_deadline = kT0 + absl::Hours(1);
    JobRecord job;
    job.ca_id = ca_id;
    job.kind = JobKind::kSubmit;
    job.create_time = created;
    ASSERT_TRUE(store_->CreateCertificateRequest(r, job).ok());
  }

  std::string dsn_;
  std::unique_ptr<PostgresStore> store_;
};

TEST_F(PostgresFleetStatisticsTest, CountsTheBacklogAndWhatNobodyCanTake) {
  Ca("ca1");  // served by c1, connected
  Ca("ca2");  // c2 is assigned but not connected
  Ca("ca3");  // nobody assigned
  ActiveConnector("c1", "ca1", kT0 + absl::Hours(24));
  ActiveConnector("c2", "ca2", kT0 + absl::Hours(10));
  ASSERT_TRUE(store_->UpsertSession({"c1", "t1", "replica-1", kT0, kT0}).ok());

  Request("served", "ca1", kT0);
  Request("waits-for-c2", "ca2", kT0);
  Request("nobody", "ca3", kT0);
  Request("pending", "ca1", kT0 - absl::Hours(2));
  // c1 takes both ca1 jobs; "pending" then waits for an officer.
  ClaimParams claim;
  claim.tenant_id = "t1";
  claim.connector_id = "c1";
  claim.ca_identity = "CORP\\c1$";
  claim.ca_ids = {"ca1"};
  claim.limit = 10;
  claim.per_ca_limit = 10;
  claim.now = kT0 + absl::Seconds(1);
  claim.lease_until = kT0 + absl::Minutes(5);
  absl::StatusOr<std::vector<JobRecord>> claimed = store_->ClaimJobs(claim);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 2u);
  absl::StatusOr<CertificateRequestRecord> pending = store_->GetCertificateRequest("t1", "pending");
  ASSERT_TRUE(pending.ok());
  pending->state = RequestState::kPendingApproval;
  ASSERT_TRUE(store_
                  ->UpdateCertificateRequest("t1", "pending", {RequestState::kDispatched},
                                             *pending, /*fail_open_jobs=*/true)
                  .ok());

  absl::StatusOr<std::unique_ptr<PostgresFleetStatistics>> fleet =
      PostgresFleetStatistics::Create(dsn_, absl::Seconds(5));
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  absl::StatusOr<FleetStatistics> s = (*fleet)->Read(kT0 - absl::Seconds(90));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->requests_queued, 2);
  EXPECT_EQ(s->requests_dispatched, 1);
  EXPECT_EQ(s->requests_pending_approval, 1);
  EXPECT_EQ(s->jobs_ready, 2);
  EXPECT_EQ(s->jobs_leased, 1);
  EXPECT_EQ(s->oldest_pending_approval, kT0 - absl::Hours(2));
  EXPECT_EQ(s->unserved_cas_with_ready_jobs, 2);  // ca2 and ca3
  EXPECT_EQ(s->earliest_certificate_expiry_connected, kT0 + absl::Hours(24));
  EXPECT_EQ(s->earliest_certificate_expiry_disconnected, kT0 + absl::Hours(10));

  // Later, c1's heartbeat is too old: it counts as disconnected. ca1 has no READY job, so
  // the unserved count stays.
  s = (*fleet)->Read(kT0 + absl::Minutes(5));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->unserved_cas_with_ready_jobs, 2);
  EXPECT_EQ(s->earliest_certificate_expiry_connected, std::nullopt);
  EXPECT_EQ(s->earliest_certificate_expiry_disconnected, kT0 + absl::Hours(10));

  // A DISABLED connector serves nothing: connecting c2 alone clears ca2 only while ACTIVE.
  ASSERT_TRUE(store_->UpsertSession({"c2", "t1", "replica-1", kT0, kT0}).ok());
  s = (*fleet)->Read(kT0 - absl::Seconds(90));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->unserved_cas_with_ready_jobs, 1);  // ca3
  ASSERT_TRUE(store_
                  ->TransitionConnector("t1", "c2", {ConnectorState::kActive},
                                        ConnectorState::kDisabled)
                  .ok());
  s = (*fleet)->Read(kT0 - absl::Seconds(90));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->unserved_cas_with_ready_jobs, 2);
}

TEST_F(PostgresFleetStatisticsTest, EmptyDatabaseHasNoTimes) {
  absl::StatusOr<std::unique_ptr<PostgresFleetStatistics>> fleet =
      PostgresFleetStatistics::Create(dsn_, absl::Seconds(5));
  ASSERT_TRUE(fleet.ok());
  absl::StatusOr<FleetStatistics> s = (*fleet)->Read(kT0);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->jobs_ready, 0);
  EXPECT_EQ(s->oldest_pending_approval, std::nullopt);
  EXPECT_EQ(s->earliest_certificate_expiry_connected, std::nullopt);
  EXPECT_EQ(s->earliest_certificate_expiry_disconnected, std::nullopt);
}

TEST_F(PostgresFleetStatisticsTest, UnreachableDatabaseIsUnavailable) {
  EXPECT_EQ(PostgresFleetStatistics::Create("", absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  absl::StatusOr<std::unique_ptr<PostgresFleetStatistics>> fleet =
      PostgresFleetStatistics::Create("postgresql://nobody@127.0.0.1:1/none", absl::Seconds(2));
  ASSERT_TRUE(fleet.ok());
  EXPECT_EQ((*fleet)->Read(kT0).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace certbridge::broker
