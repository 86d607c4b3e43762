// PostgresStore when the server ends its connections (a restart, a failover, an
// administrator): the pool and the listener come back by themselves, and nothing a
// listener should have heard while it was away is lost. Found by the chaos suite
// (tests/integration/chaos_test.cc), which restarts PostgreSQL under load.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "broker/store/certificate_store.h"
#include "broker/store/postgres/migrations.h"
#include "broker/store/postgres/postgres_store.h"
#include "tests/broker/store/postgres_environment.h"

namespace certbridge::broker {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

class Recorder : public ChangeListener {
 public:
  void OnJobsReady(const std::string&, const std::string&) override {}
  void OnRequestChanged(const std::string& tenant_id, const std::string& request_name,
                        int64_t change_seq, std::optional<RequestState>) override {
    absl::MutexLock lock(&mu_);
    changed_.push_back({tenant_id, request_name, change_seq});
  }
  // A change of `name` (or of some requests of the tenant: empty name) with change_seq at
  // least `min_seq`, within `timeout`.
  bool HeardChange(const std::string& tenant_id, const std::string& name, int64_t min_seq,
                   absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto heard = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return std::any_of(changed_.begin(), changed_.end(), [&](const Changed& c) {
        return c.tenant_id == tenant_id && (c.name == name || c.name.empty()) &&
               c.change_seq >= min_seq;
      });
    };
    return mu_.AwaitWithTimeout(absl::Condition(&heard), timeout);
  }

 private:
  struct Changed {
    std::string tenant_id;
    std::string name;
    int64_t change_seq;
  };
  absl::Mutex mu_;
  std::vector<Changed> changed_ ABSL_GUARDED_BY(mu_);
};

class PostgresReconnectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(TestPostgres(), nullptr);
    absl::StatusOr<std::string> dsn = TestPostgres()->CreateDatabase();
    ASSERT_TRUE(dsn.ok()) << dsn.status();
    dsn_ = *dsn;
    database_ = dsn_.substr(dsn_.rfind('/') + 1);
    ASSERT_TRUE(MigrateDatabase(dsn_).ok());
    PostgresStoreOptions options;
    options.dsn = dsn_;
    options.pool_size = 2;
    absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Create(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ASSERT_TRUE(store_->CreateTenant({"t1", "", kT0}).ok());
  }
  void TearDown() override {
    if (store_ != nullptr) store_->SetChangeListener(nullptr);
    // Connections back on, whatever the test did.
    (void)Admin(absl::StrCat("ALTER DATABASE ", database_, " ALLOW_CONNECTIONS true"));
  }

  // SQL on the server's own database, as an administrator would run it.
  absl::Status Admin(const std::string& sql) {
    return testing::PostgresServer::Execute(TestPostgres()->dsn(), sql);
  }
  // Ends every session of the test database but the caller's (pg_terminate_backend, as a
  // server restart or a failover would) and waits until they are gone.
  void EndSessions(const std::string& which) {
    ASSERT_TRUE(Admin(absl::StrCat("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE datname = '", database_, "' ", which))
                    .ok());
    // pg_terminate_backend only signals: poll until the sessions have left.
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    for (;;) {
      absl::Status none = Admin(absl::StrCat(
          "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = '", database_,
          "' ", which, ") THEN RAISE EXCEPTION 'still there'; END IF; END $$"));
      if (none.ok()) return;
      ASSERT_LT(absl::Now(), deadline) << "sessions outlived pg_terminate_backend";
    }
  }

  CertificateRequestRecord NewRequest(const std::string& name, const std::string& ca_id) {
    CertificateRequestRecord r;
    r.name = name;
    r.tenant_id = "t1";
    r.request_id = "rid-" + name;
    r.ca_id = ca_id;
    r.template_name = "WebServer";
    r.params_fingerprint = "fp-" + name;
    r.csr_pem = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
    r.create_time = kT0;
    r.update_time = kT0;
    r.queue_deadline = kT0 + absl::Hours(1);
    return r;
  }
  JobRecord SubmitJob(const std::string& ca_id) {
    JobRecord j;
    j.ca_id = ca_id;
    j.kind = JobKind::kSubmit;
    j.create_time = kT0;
    return j;
  }

  std::string dsn_;
  std::string database_;
  std::unique_ptr<PostgresStore> store_;
};

// Before: a pooled connection the server had ended was handed out as healthy (libpq only
// notices on the next use), so the first call after a database restart failed with
// UNAVAILABLE on every pooled connection in turn.
TEST_F(PostgresReconnectTest, PooledConnectionsTheServerEndedAreReplacedBeforeUse) {
  ASSERT_TRUE(store_->GetTenant("t1").ok());  // the pool holds an open connection
  ASSERT_NO_FATAL_FAILURE(EndSessions(""));
  absl::StatusOr<Tenant> tenant = store_->GetTenant("t1");
  EXPECT_TRUE(tenant.ok()) << tenant.status();
}

// Before: what was committed while the listener's connection was down never reached the
// listener (the request waits and Watch streams of that replica stayed asleep until some
// later change of the same tenant). Now the listener, once LISTEN is back, reports every
// tenant whose requests changed meanwhile (READY jobs are the dispatcher sweep's).
TEST_F(PostgresReconnectTest, ListenerCatchesUpOnChangesCommittedWhileItWasAway) {
  Recorder listener;
  store_->SetChangeListener(&listener);
  ASSERT_TRUE(store_->GetTenant("t1").ok());  // a pooled connection stays open below
  // No new connection may reach the database, then the listener's is ended: the write
  // below (through the pool's open connection) commits while nobody LISTENs.
  ASSERT_TRUE(Admin(absl::StrCat("ALTER DATABASE ", database_, " ALLOW_CONNECTIONS false")).ok());
  ASSERT_NO_FATAL_FAILURE(EndSessions("AND query LIKE 'LISTEN%'"));
  absl::StatusOr<CreateRequestResult> created =
      store_->CreateCertificateRequest(NewRequest("while-away", "ca-away"), SubmitJob("ca-away"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_FALSE(listener.HeardChange("t1", "while-away", created->request.change_seq,
                                    absl::Milliseconds(200)));  // nobody listened

  ASSERT_TRUE(Admin(absl::StrCat("ALTER DATABASE ", database_, " ALLOW_CONNECTIONS true")).ok());
  EXPECT_TRUE(listener.HeardChange("t1", "while-away", created->request.change_seq,
                                   absl::Seconds(10)));
}

}  // namespace
}  // namespace certbridge::broker
