// The CertificateStore contract, run against FakeStore and PostgresStore alike.
#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/store/certificate_store.h"
#include "broker/store/fake/fake_store.h"
#include "broker/store/postgres/migrations.h"
#include "broker/store/postgres/pg_connection.h"
#include "broker/store/postgres/postgres_store.h"
#include "broker/store/store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/store/postgres_environment.h"

namespace certbridge::broker {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

// Both interfaces of one store object.
struct Backend {
  std::unique_ptr<Store> owner;
  CertificateStore* certs = nullptr;
  std::string dsn;  // postgres only
};

template <typename T>
Backend Wrap(std::unique_ptr<T> store, std::string dsn) {
  Backend b;
  b.certs = store.get();
  b.owner = std::move(store);
  b.dsn = std::move(dsn);
  return b;
}

absl::StatusOr<std::unique_ptr<PostgresStore>> OpenPostgres(const std::string& dsn) {
  PostgresStoreOptions options;
  options.dsn = dsn;
  options.pool_size = 4;
  return PostgresStore::Create(options);
}

absl::StatusOr<Backend> MakeFake() { return Wrap(std::make_unique<FakeStore>(), ""); }

absl::StatusOr<Backend> MakePostgres() {
  if (TestPostgres() == nullptr) return absl::FailedPreconditionError("no PostgreSQL server");
  absl::StatusOr<std::string> dsn = TestPostgres()->CreateDatabase();
  if (!dsn.ok()) return dsn.status();
  absl::Status migrated = MigrateDatabase(*dsn);
  if (!migrated.ok()) return migrated;
  absl::StatusOr<std::unique_ptr<PostgresStore>> store = OpenPostgres(*dsn);
  if (!store.ok()) return store.status();
  return Wrap(std::move(store).value(), *dsn);
}

struct BackendKind {
  std::string name;
  std::function<absl::StatusOr<Backend>()> make;
};

void PrintTo(const BackendKind& kind, std::ostream* os) { *os << kind.name; }

// Records listener calls; Wait* poll with a deadline instead of sleeping.
class RecordingListener : public ChangeListener {
 public:
  struct Changed {
    std::string tenant_id;
    std::string name;
    int64_t change_seq;
    std::optional<RequestState> state = std::nullopt;
  };

  void OnJobsReady(const std::string& tenant_id, const std::string& ca_id) override {
    absl::MutexLock lock(&mu_);
    ready_.emplace_back(tenant_id, ca_id);
  }
  void OnRequestChanged(const std::string& tenant_id, const std::string& request_name,
                        int64_t change_seq, std::optional<RequestState> state) override {
    absl::MutexLock lock(&mu_);
    changed_.push_back({tenant_id, request_name, change_seq, state});
  }

  bool WaitForReady(const std::string& tenant_id, const std::string& ca_id,
                    absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return std::find(ready_.begin(), ready_.end(), std::make_pair(tenant_id, ca_id)) !=
             ready_.end();
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), timeout);
  }
  int ReadyCount(const std::string& tenant_id, const std::string& ca_id) {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(std::count(ready_.begin(), ready_.end(), std::make_pair(tenant_id, ca_id)));
  }
  void ForgetReady() {
    absl::MutexLock lock(&mu_);
    ready_.clear();
  }
  // A change of `name` (or of some requests of the tenant: empty name) with change_seq at
  // least `min_seq`.
  bool WaitForChange(const std::string& tenant_id, const std::string& name, int64_t min_seq) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return std::any_of(changed_.begin(), changed_.end(), [&](const Changed& c) {
        return c.tenant_id == tenant_id && (c.name == name || c.name.empty()) &&
               c.change_seq >= min_seq;
      });
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), absl::Seconds(10));
  }
  // The change numbered change_seq of `name`, reported by name with the state it left.
  bool WaitForChangeTo(const std::string& tenant_id, const std::string& name, int64_t change_seq,
                       RequestState state) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return std::any_of(changed_.begin(), changed_.end(), [&](const Changed& c) {
        return c.tenant_id == tenant_id && c.name == name && c.change_seq == change_seq &&
               c.state == state;
      });
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), absl::Seconds(10));
  }

 private:
  absl::Mutex mu_;
  std::vector<std::pair<std::string, std::string>> ready_ ABSL_GUARDED_BY(mu_);
  std::vector<Changed> changed_ ABSL_GUARDED_BY(mu_);
};

CertificateRequestRecord NewRequest(const std::string& tenant, const std::string& name,
                                    const std::string& ca_id = "ca1") {
  CertificateRequestRecord r;
  r.name = name;
  r.tenant_id = tenant;
  r.request_id = "rid-" + name;
  r.ca_id = ca_id;
  r.template_name = "WebServer";
  r.params_fingerprint = "fp-" + name;
  r.csr_pem = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
  r.device_id = "device-" + name;
  r.create_time = kT0;
  r.update_time = kT0;
  r.queue_deadline = kT0 + absl::Hours(1);
  return r;
}

JobRecord SubmitJob(const std::string& ca_id = "ca1") {
  JobRecord j;
  j.ca_id = ca_id;
  j.kind = JobKind::kSubmit;
  j.create_time = kT0;
  return j;
}

ClaimParams Claim(const std::string& tenant, std::vector<std::string> ca_ids,
                  const std::string& connector = "c1",
                  const std::string& identity = "CORP\\svc-a") {
  ClaimParams p;
  p.tenant_id = tenant;
  p.connector_id = connector;
  p.ca_identity = identity;
  p.ca_ids = std::move(ca_ids);
  p.limit = 10;
  p.per_ca_limit = 10;
  p.now = kT0 + absl::Seconds(1);
  p.lease_until = kT0 + absl::Minutes(5);
  return p;
}

std::vector<int64_t> Ids(const std::vector<JobRecord>& jobs) {
  std::vector<int64_t> ids;
  for (const JobRecord& j : jobs) ids.push_back(j.job_id);
  return ids;
}

std::vector<std::string> Names(const std::vector<CertificateRequestRecord>& requests) {
  std::vector<std::string> names;
  for (const CertificateRequestRecord& r : requests) names.push_back(r.name);
  return names;
}

void ExpectSameRequest(const CertificateRequestRecord& a, const CertificateRequestRecord& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.tenant_id, b.tenant_id);
  EXPECT_EQ(a.request_id, b.request_id);
  EXPECT_EQ(a.ca_id, b.ca_id);
  EXPECT_EQ(a.template_name, b.template_name);
  EXPECT_EQ(a.params_fingerprint, b.params_fingerprint);
  EXPECT_EQ(a.csr_pem, b.csr_pem);
  EXPECT_EQ(a.key_type, b.key_type);
  EXPECT_EQ(a.subject, b.subject);
  EXPECT_EQ(a.subject_alt_names, b.subject_alt_names);
  EXPECT_EQ(a.pkcs12_profile, b.pkcs12_profile);
  EXPECT_EQ(a.sid, b.sid);
  EXPECT_EQ(a.device_id, b.device_id);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.attributes, b.attributes);
  EXPECT_EQ(a.create_time, b.create_time);
  EXPECT_EQ(a.queue_deadline, b.queue_deadline);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.update_time, b.update_time);
  EXPECT_EQ(a.ca_request_id, b.ca_request_id);
  EXPECT_EQ(a.disposition, b.disposition);
  EXPECT_EQ(a.hresult, b.hresult);
  EXPECT_EQ(a.disposition_message, b.disposition_message);
  EXPECT_EQ(a.error_code, b.error_code);
  EXPECT_EQ(a.error_message, b.error_message);
  EXPECT_EQ(a.remedy, b.remedy);
  EXPECT_EQ(a.waiting_reason, b.waiting_reason);
  EXPECT_EQ(a.connector_id, b.connector_id);
  EXPECT_EQ(a.ca_identity, b.ca_identity);
  EXPECT_EQ(a.certificate_pem, b.certificate_pem);
  EXPECT_EQ(a.chain_pem, b.chain_pem);
  EXPECT_EQ(a.serial_hex, b.serial_hex);
  EXPECT_EQ(a.not_after, b.not_after);
  EXPECT_EQ(a.pkcs12, b.pkcs12);
  EXPECT_EQ(a.enveloped_password, b.enveloped_password);
  EXPECT_EQ(a.revocation_reason, b.revocation_reason);
  EXPECT_EQ(a.revoke_time, b.revoke_time);
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.change_seq, b.change_seq);
}

class CertificateStoreContractTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    absl::StatusOr<Backend> backend = GetParam().make();
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(backend).value();
    store_ = backend_.owner.get();
    certs_ = backend_.certs;
    ASSERT_TRUE(store_->CreateTenant({"t1", "Tenant One", kT0}).ok());
    ASSERT_TRUE(store_->CreateTenant({"t2", "Tenant Two", kT0}).ok());
  }

  void TearDown() override {
    if (certs_ != nullptr) certs_->SetChangeListener(nullptr);
  }

  // Creates a request with a SUBMIT job; returns the stored request.
  CertificateRequestRecord Create(const std::string& tenant, const std::string& name,
                                  const std::string& ca_id = "ca1",
                                  JobRecord job = SubmitJob()) {
    job.ca_id = ca_id;
    absl::StatusOr<CreateRequestResult> created =
        certs_->CreateCertificateRequest(NewRequest(tenant, name, ca_id), job);
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok()) return {};
    EXPECT_TRUE(created->created);
    return created->request;
  }

  std::vector<JobRecord> ClaimOk(const ClaimParams& params) {
    absl::StatusOr<std::vector<JobRecord>> claimed = certs_->ClaimJobs(params);
    EXPECT_TRUE(claimed.ok()) << claimed.status();
    return claimed.ok() ? *claimed : std::vector<JobRecord>{};
  }

  // The store a second replica would use: another PostgresStore on the same database; the
  // fake has only itself.
  CertificateStore* Replica() {
    if (backend_.dsn.empty()) return certs_;
    if (replica_ == nullptr) {
      absl::StatusOr<std::unique_ptr<PostgresStore>> opened = OpenPostgres(backend_.dsn);
      EXPECT_TRUE(opened.ok()) << opened.status();
      if (!opened.ok()) return certs_;
      replica_ = std::move(opened).value();
    }
    return replica_.get();
  }

  Backend backend_;
  Store* store_ = nullptr;
  CertificateStore* certs_ = nullptr;
  std::unique_ptr<PostgresStore> replica_;
};

// ---- Creation.

TEST_P(CertificateStoreContractTest, CreateStoresEveryFieldAndGettersReadIt) {
  CertificateRequestRecord r = NewRequest("t1", "req-1");
  r.key_type = "EC-P256";
  r.subject = "CN=device\\,1+O=Corp";
  r.subject_alt_names = {"dns:a.example", "email:x@example.com", "upn:x@corp"};
  r.pkcs12_profile = "LEGACY";
  r.sid = "S-1-5-21-1-2-3-1001";
  r.labels = {{"site", "berlin"}, {"empty", ""}, {"ünï", "çødé \"q\" \\"}};
  r.attributes = "CertificateTemplate:WebServer\nSAN:dns=a.example";
  r.create_time = kT0 + absl::Microseconds(123456) + absl::Nanoseconds(999);
  r.queue_deadline = absl::InfiniteFuture();
  r.state = RequestState::kIssued;  // ignored: a new request is QUEUED
  r.pkcs12 = std::string("\x00\x01\xff\x30", 4);
  r.enveloped_password = std::string("\x00", 1);
  r.hresult = 0x80094800u;
  r.revocation_reason = -1;
  absl::StatusOr<CreateRequestResult> created = certs_->CreateCertificateRequest(r, SubmitJob());
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->created);
  EXPECT_EQ(created->request.state, RequestState::kQueued);
  EXPECT_EQ(created->request.create_time, kT0 + absl::Microseconds(123456));
  EXPECT_GT(created->request.seq, 0);
  EXPECT_GT(created->request.change_seq, 0);

  absl::StatusOr<CertificateRequestRecord> got = certs_->GetCertificateRequest("t1", "req-1");
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameRequest(*got, created->request);
  EXPECT_EQ(got->hresult, 0x80094800u);
  EXPECT_EQ(got->pkcs12, std::string("\x00\x01\xff\x30", 4));
  EXPECT_EQ(got->queue_deadline, absl::InfiniteFuture());
  EXPECT_EQ(got->not_after, absl::InfinitePast());
  absl::StatusOr<CertificateRequestRecord> by_id =
      certs_->GetCertificateRequestByRequestId("t1", "rid-req-1");
  ASSERT_TRUE(by_id.ok()) << by_id.status();
  EXPECT_EQ(by_id->name, "req-1");
}

TEST_P(CertificateStoreContractTest, CreateIsIdempotentOnRequestId) {
  CertificateRequestRecord first = Create("t1", "req-1");
  CertificateRequestRecord retry = NewRequest("t1", "req-other");
  retry.request_id = first.request_id;
  absl::StatusOr<CreateRequestResult> again = certs_->CreateCertificateRequest(retry, SubmitJob());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  ExpectSameRequest(again->request, first);
  EXPECT_EQ(certs_->GetCertificateRequest("t1", "req-other").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(*certs_->LatestChangeSeq("t1"), first.change_seq);
  // Exactly one job exists.
  EXPECT_EQ(ClaimOk(Claim("t1", {"ca1"})).size(), 1u);

  // Another tenant may use the same request id.
  CertificateRequestRecord other = NewRequest("t2", "req-t2");
  other.request_id = first.request_id;
  absl::StatusOr<CreateRequestResult> t2 = certs_->CreateCertificateRequest(other, SubmitJob());
  ASSERT_TRUE(t2.ok()) << t2.status();
  EXPECT_TRUE(t2->created);
}

TEST_P(CertificateStoreContractTest, CreateRejectsMissingTenantTakenNameAndBadRecords) {
  Create("t1", "req-1");
  EXPECT_EQ(certs_->CreateCertificateRequest(NewRequest("t9", "req-9"), SubmitJob()).status().code(),
            absl::StatusCode::kNotFound);
  CertificateRequestRecord same_name = NewRequest("t2", "req-1");
  EXPECT_EQ(certs_->CreateCertificateRequest(same_name, SubmitJob()).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(certs_->CreateCertificateRequest(NewRequest("t1", ""), SubmitJob()).status().code(),
            absl::StatusCode::kInvalidArgument);
  CertificateRequestRecord bad_san = NewRequest("t1", "req-2");
  bad_san.subject_alt_names = {""};
  EXPECT_EQ(certs_->CreateCertificateRequest(bad_san, SubmitJob()).status().code(),
            absl::StatusCode::kInvalidArgument);
  JobRecord leased = SubmitJob();
  leased.state = JobState::kLeased;
  EXPECT_EQ(certs_->CreateCertificateRequest(NewRequest("t1", "req-3"), leased).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(certs_->GetCertificateRequest("t1", "req-3").status().code(),
            absl::StatusCode::kNotFound);
}

// ---- Tenant isolation.

TEST_P(CertificateStoreContractTest, AnotherTenantsRequestAndJobAreNotFound) {
  CertificateRequestRecord r = Create("t1", "req-1");
  std::vector<JobRecord> claimed = ClaimOk(Claim("t1", {"ca1"}));
  ASSERT_EQ(claimed.size(), 1u);
  CertificateRequestRecord issued = r;
  issued.state = RequestState::kIssued;
  issued.serial_hex = "0a1b";
  JobCompletion done;
  done.job_id = claimed[0].job_id;
  done.tenant_id = "t1";
  done.now = kT0;
  done.request = issued;
  ASSERT_TRUE(certs_->CompleteJob(done).ok());

  EXPECT_EQ(certs_->GetCertificateRequest("t2", "req-1").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(certs_->GetCertificateRequestByRequestId("t2", r.request_id).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(certs_->GetCertificateRequestBySerial("t2", "ca1", "0a1b").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(*certs_->ListCertificateRequests("t2", {}, 0, 10), IsEmpty());
  EXPECT_THAT(*certs_->ListRequestChanges("t2", 0, 10), IsEmpty());
  EXPECT_EQ(*certs_->LatestChangeSeq("t2"), 0);
  EXPECT_EQ(certs_->UpdateCertificateRequest("t2", "req-1", {RequestState::kIssued}, issued, false)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(certs_->GetJob("t2", claimed[0].job_id).status().code(), absl::StatusCode::kNotFound);
  JobCompletion other = done;
  other.tenant_id = "t2";
  EXPECT_EQ(certs_->CompleteJob(other).status().code(), absl::StatusCode::kNotFound);
  JobRecord revoke;
  revoke.tenant_id = "t2";
  revoke.request_name = "req-1";
  revoke.ca_id = "ca1";
  revoke.kind = JobKind::kRevoke;
  EXPECT_EQ(certs_->AddJob(revoke).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(*certs_->ListLeasedJobs("t2", "c1"), IsEmpty());
  EXPECT_EQ(certs_->LatestChangeSeq("t9").status().code(), absl::StatusCode::kNotFound);
  // The owner still sees everything.
  EXPECT_EQ(certs_->GetCertificateRequestBySerial("t1", "ca1", "0a1b")->name, "req-1");
  EXPECT_EQ(certs_->GetCertificateRequestBySerial("t1", "ca2", "0a1b").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(certs_->GetCertificateRequestBySerial("t1", "ca1", "").status().code(),
            absl::StatusCode::kNotFound);
}

// ---- Claims.

TEST_P(CertificateStoreContractTest, ClaimTakesOnlyTheConnectorsCasOldestFirst) {
  Create("t1", "a1", "ca1");
  Create("t1", "b1", "ca2");
  Create("t1", "a2", "ca1");
  Create("t1", "c1", "ca3");
  Create("t2", "x1", "ca1");  // another tenant's CA of the same id
  std::vector<JobRecord> claimed = ClaimOk(Claim("t1", {"ca1", "ca2"}));
  ASSERT_EQ(claimed.size(), 3u);
  EXPECT_EQ(claimed[0].request_name, "a1");
  EXPECT_EQ(claimed[1].request_name, "b1");
  EXPECT_EQ(claimed[2].request_name, "a2");
  for (const JobRecord& j : claimed) {
    EXPECT_EQ(j.tenant_id, "t1");
    EXPECT_EQ(j.state, JobState::kLeased);
    EXPECT_EQ(j.connector_id, "c1");
    EXPECT_EQ(j.lease_until, kT0 + absl::Minutes(5));
    EXPECT_EQ(j.attempts, 1);
    EXPECT_EQ(j.kind, JobKind::kSubmit);
  }
  EXPECT_THAT(ClaimOk(Claim("t1", {"ca1", "ca2"})), IsEmpty());
  EXPECT_THAT(ClaimOk(Claim("t1", {})), IsEmpty());
  EXPECT_EQ(ClaimOk(Claim("t1", {"ca3"})).size(), 1u);
  EXPECT_EQ(ClaimOk(Claim("t2", {"ca1"})).size(), 1u);
}

TEST_P(CertificateStoreContractTest, ClaimRespectsLimitPerCaLimitNotBeforeAndIdentity) {
  for (int i = 0; i < 4; ++i) Create("t1", absl::StrCat("a", i), "ca1");
  for (int i = 0; i < 2; ++i) Create("t1", absl::StrCat("b", i), "ca2");
  JobRecord later = SubmitJob();
  later.not_before = kT0 + absl::Minutes(1);
  Create("t1", "later", "ca2", later);
  JobRecord sticky = SubmitJob();
  sticky.required_identity = "CORP\\svc-b";
  Create("t1", "sticky", "ca2", sticky);

  ClaimParams p = Claim("t1", {"ca1", "ca2"});
  p.limit = 1;
  std::vector<JobRecord> one = ClaimOk(p);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].request_name, "a0");

  p.limit = 10;
  p.per_ca_limit = 2;  // a0 is already LEASED: one more from ca1, two from ca2
  std::vector<JobRecord> capped = ClaimOk(p);
  std::vector<std::string> names;
  for (const JobRecord& j : capped) names.push_back(j.request_name);
  EXPECT_THAT(names, ElementsAre("a1", "b0", "b1"));
  EXPECT_THAT(ClaimOk(p), IsEmpty());  // both CAs at their limit, for every connector
  ClaimParams other_connector = p;
  other_connector.connector_id = "c2";
  EXPECT_THAT(ClaimOk(other_connector), IsEmpty());

  // With room on ca2: "later" only once its not_before has come, "sticky" only for its
  // identity.
  p.per_ca_limit = 10;
  std::vector<JobRecord> rest = ClaimOk(p);
  names.clear();
  for (const JobRecord& j : rest) names.push_back(j.request_name);
  EXPECT_THAT(names, ElementsAre("a2", "a3"));
  p.now = kT0 + absl::Minutes(2);
  rest = ClaimOk(p);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].request_name, "later");
  ClaimParams b = p;
  b.ca_identity = "CORP\\svc-b";
  rest = ClaimOk(b);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].request_name, "sticky");

  p.per_ca_limit = 0;
  EXPECT_EQ(certs_->ClaimJobs(p).status().code(), absl::StatusCode::kInvalidArgument);
  p.per_ca_limit = 1;
  p.limit = 0;
  EXPECT_THAT(ClaimOk(p), IsEmpty());
}

TEST_P(CertificateStoreContractTest, ClaimedSubmitDispatchesTheRequest) {
  CertificateRequestRecord created = Create("t1", "req-1");
  std::vector<JobRecord> claimed = ClaimOk(Claim("t1", {"ca1"}, "c7", "CORP\\svc-a"));
  ASSERT_EQ(claimed.size(), 1u);
  absl::StatusOr<CertificateRequestRecord> r = certs_->GetCertificateRequest("t1", "req-1");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->state, RequestState::kDispatched);
  EXPECT_EQ(r->connector_id, "c7");
  EXPECT_EQ(r->ca_identity, "CORP\\svc-a");
  EXPECT_EQ(r->update_time, kT0 + absl::Seconds(1));
  EXPECT_GT(r->change_seq, created.change_seq);
  EXPECT_EQ(*certs_->LatestChangeSeq("t1"), r->change_seq);
  absl::StatusOr<JobRecord> job = certs_->GetJob("t1", claimed[0].job_id);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state, JobState::kLeased);
  EXPECT_EQ(job->connector_id, "c7");
  EXPECT_EQ(job->request_name, "req-1");
  EXPECT_EQ(certs_->GetJob("t1", 999999).status().code(), absl::StatusCode::kNotFound);
}

// The claim hands back the requests it dispatched, as GetCertificateRequest reads them
// after it; a claim that dispatched nothing adds nothing.
TEST_P(CertificateStoreContractTest, ClaimReturnsTheRequestsItDispatched) {
  Create("t1", "req-1");
  Create("t1", "req-2");
  ClaimParams params = Claim("t1", {"ca1"}, "c7", "CORP\\svc-a");
  params.limit = 1;
  std::map<std::string, CertificateRequestRecord> dispatched;
  params.dispatched_requests = &dispatched;
  std::vector<JobRecord> claimed = ClaimOk(params);
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_EQ(dispatched.size(), 1u);
  const CertificateRequestRecord& handed = dispatched.begin()->second;
  EXPECT_EQ(dispatched.begin()->first, claimed[0].request_name);
  absl::StatusOr<CertificateRequestRecord> stored =
      certs_->GetCertificateRequest("t1", claimed[0].request_name);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(handed.name, stored->name);
  EXPECT_EQ(handed.state, RequestState::kDispatched);
  EXPECT_EQ(handed.connector_id, "c7");
  EXPECT_EQ(handed.ca_identity, stored->ca_identity);
  EXPECT_EQ(handed.update_time, stored->update_time);
  EXPECT_EQ(handed.change_seq, stored->change_seq);
  EXPECT_EQ(handed.csr_pem, stored->csr_pem);
  EXPECT_EQ(handed.template_name, stored->template_name);
  EXPECT_EQ(handed.labels, stored->labels);
  EXPECT_EQ(handed.seq, stored->seq);
  // Nothing left to dispatch: an empty claim leaves the map as it was.
  dispatched.clear();
  params.limit = 10;
  params.connector_id = "c8";
  ASSERT_EQ(ClaimOk(params).size(), 1u);  // req-2's job
  ASSERT_EQ(dispatched.size(), 1u);
  EXPECT_NE(dispatched.begin()->first, claimed[0].request_name);
  dispatched.clear();
  EXPECT_TRUE(ClaimOk(params).empty());
  EXPECT_TRUE(dispatched.empty());
}

// One read for a job result: the job and its request as they are now.
TEST_P(CertificateStoreContractTest, GetJobAndRequestReadsBothInTheirTenant) {
  Create("t1", "req-1");
  std::vector<JobRecord> claimed = ClaimOk(Claim("t1", {"ca1"}, "c7", "CORP\\svc-a"));
  ASSERT_EQ(claimed.size(), 1u);
  absl::StatusOr<JobAndRequest> read = certs_->GetJobAndRequest("t1", claimed[0].job_id);
  ASSERT_TRUE(read.ok()) << read.status();
  absl::StatusOr<JobRecord> job = certs_->GetJob("t1", claimed[0].job_id);
  absl::StatusOr<CertificateRequestRecord> request = certs_->GetCertificateRequest("t1", "req-1");
  ASSERT_TRUE(job.ok() && request.ok());
  EXPECT_EQ(read->job.job_id, job->job_id);
  EXPECT_EQ(read->job.state, JobState::kLeased);
  EXPECT_EQ(read->job.connector_id, "c7");
  EXPECT_EQ(read->job.kind, job->kind);
  EXPECT_EQ(read->job.lease_until, job->lease_until);
  EXPECT_EQ(read->job.attempts, job->attempts);
  EXPECT_EQ(read->job.create_time, job->create_time);
  EXPECT_EQ(read->request.name, "req-1");
  EXPECT_EQ(read->request.state, RequestState::kDispatched);
  EXPECT_EQ(read->request.csr_pem, request->csr_pem);
  EXPECT_EQ(read->request.update_time, request->update_time);
  EXPECT_EQ(read->request.change_seq, request->change_seq);
  EXPECT_EQ(certs_->GetJobAndRequest("t2", claimed[0].job_id).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(certs_->GetJobAndRequest("t1", 999999).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(CertificateStoreContractTest, ListLeasedJobsIsPerConnector) {
  Create("t1", "a", "ca1");
  Create("t1", "b", "ca1");
  Create("t1", "c", "ca2");
  ClaimParams p = Claim("t1", {"ca1"}, "c1");
  p.limit = 2;
  std::vector<JobRecord> c1 = ClaimOk(p);
  std::vector<JobRecord> c2 = ClaimOk(Claim("t1", {"ca2"}, "c2"));
  EXPECT_EQ(Ids(*certs_->ListLeasedJobs("t1", "c1")), Ids(c1));
  EXPECT_EQ(Ids(*certs_->ListLeasedJobs("t1", "c2")), Ids(c2));
  EXPECT_THAT(*certs_->ListLeasedJobs("t1", "c3"), IsEmpty());
}

// ---- Completion.

// Before the fix the completion rewrote the request whatever its state: a REVOKED request
// could turn back into ISSUED under concurrent completions.
TEST_P(CertificateStoreContractTest, WaitingRequestsAreListedByAgeAcrossTenants) {
  Create("t1", "old");
  Create("t2", "other-tenant");
  for (const auto& [tenant, name] : {std::pair<std::string, std::string>{"t1", "old"},
                                     {"t2", "other-tenant"}}) {
    CertificateRequestRecord r = *certs_->GetCertificateRequest(tenant, name);
    r.state = RequestState::kPendingApproval;
    ASSERT_TRUE(certs_->UpdateCertificateRequest(tenant, name, {RequestState::kQueued}, r, false).ok());
  }
  const absl::Time created = certs_->GetCertificateRequest("t1", "old")->create_time;
  EXPECT_THAT(*certs_->ListWaitingRequestsCreatedBefore(RequestState::kPendingApproval, created, 10),
              IsEmpty());
  auto listed = certs_->ListWaitingRequestsCreatedBefore(RequestState::kPendingApproval,
                                                         created + absl::Seconds(1), 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 2u);
  EXPECT_THAT(*certs_->ListWaitingRequestsCreatedBefore(RequestState::kDispatched,
                                                        created + absl::Seconds(1), 10),
              IsEmpty());
  EXPECT_EQ(certs_->ListWaitingRequestsCreatedBefore(RequestState::kIssued, created, 10)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// Before, a SUBMIT that outlived its lease (a slow CA) was dispatched again while the
// agent was still working on it.
TEST_P(CertificateStoreContractTest, ExtendLeasesKeepsALiveAgentsJobs) {
  Create("t1", "req-1");
  std::vector<JobRecord> claimed = ClaimOk(Claim("t1", {"ca1"}, "c1", "CORP\\svc-a"));
  ASSERT_EQ(claimed.size(), 1u);
  const absl::Time first = certs_->GetJob("t1", claimed[0].job_id)->lease_until;
  EXPECT_EQ(*certs_->ExtendLeases("t1", "c2", first + absl::Minutes(5)), 0);  // not its job
  EXPECT_EQ(*certs_->ExtendLeases("t1", "c1", first + absl::Minutes(5)), 1);
  EXPECT_EQ(certs_->GetJob("t1", claimed[0].job_id)->lease_until, first + absl::Minutes(5));
  EXPECT_EQ(*certs_->ExtendLeases("t1", "c1", first), 1);  // never shortened
  EXPECT_EQ(certs_->GetJob("t1", claimed[0].job_id)->lease_until, first + absl::Minutes(5));
  EXPECT_EQ(*certs_->ExpireLeases(first + absl::Minutes(1)), 0);
  EXPECT_EQ(certs_->GetJob("t1", claimed[0].job_id)->state, JobState::kLeased);
}

TEST_P(CertificateStoreContractTest, CompletionDecidedOnAnOlderStateWritesNothing) {
  Create("t1", "req-1");
  std::vector<JobRecord> claimed = ClaimOk(Claim("t1", {"ca1"}, "c1", "CORP\\svc-a"));
  ASSERT_EQ(claimed.size(), 1u);
  CertificateRequestRecord read = *certs_->GetCertificateRequest("t1", "req-1");
  // Meanwhile the request is cancelled by someone else.
  CertificateRequestRecord cancelled = read;
  cancelled.state = RequestState::kCancelled;
  ASSERT_TRUE(certs_->UpdateCertificateRequest("t1", "req-1", {read.state}, cancelled, false).ok());

  CertificateRequestRecord issued = read;
  issued.state = RequestState::kIssued;
  JobCompletion done;
  done.job_id = claimed[0].job_id;
  done.tenant_id = "t1";
  done.connector_id = "c1";
  done.now = kT0 + absl::Seconds(2);
  done.request = issued;
  done.expected_request_state = read.state;
  EXPECT_EQ(certs_->CompleteJob(done).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(certs_->GetCertificateRequest("t1", "req-1")->state, RequestState::kCancelled);
  EXPECT_EQ(certs_->GetJob("t1", claimed[0].job_id)->state, JobState::kLeased);

  done.expected_request_state = RequestState::kCancelled;  // decided again on the new state
  done.request.state = RequestState::kCancelled;
  EXPECT_TRUE(certs_->CompleteJob(done).ok());
  EXPECT_EQ(certs_->GetJob("t1", claimed[0].job_id)->state, JobState::kDone);
}

TEST_P(CertificateStoreContractTest, CompleteWithFollowUpRetrieveGoesToTheSubmittingIdentity) {
  Create("t1", "req-1");
  std::vector<JobRecord> claimed = ClaimOk(Claim("t1", {"ca1"}, "c1", "CORP\\svc-a"));
  ASSERT_EQ(claimed.size(), 1u);
  CertificateRequestRecord pending = *certs_->GetCertificateRequest("t1", "req-1");
  pending.state = RequestState::kPendingApproval;
  pending.ca_request_id = 42;
  pending.disposition = 5;
  pending.disposition_message = "Taken Under Submission";
  pending.waiting_reason = "CA_MANAGER_APPROVAL";
  pending.update_time = kT0 + absl::Seconds(2);
  pending.name = "ignored";  // identity fields are not written
  JobRecord retrieve;
  retrieve.ca_id = "ca1";
  retrieve.kind = JobKind::kRetrieve;
  retrieve.required_identity = "CORP\\svc-a";
  retrieve.create_time = kT0;
  JobCompletion done;
  done.job_id = claimed[0].job_id;
  done.tenant_id = "t1";
  done.connector_id = "c1";
  done.now = kT0 + absl::Seconds(2);
  done.request = pending;
  done.follow_up = retrieve;
  absl::StatusOr<CertificateRequestRecord> stored = certs_->CompleteJob(done);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->name, "req-1");
  EXPECT_EQ(stored->state, RequestState::kPendingApproval);
  EXPECT_EQ(stored->ca_request_id, 42);
  EXPECT_EQ(stored->waiting_reason, "CA_MANAGER_APPROVAL");
  ExpectSameRequest(*certs_->GetCertificateRequest("t1", "req-1"), *stored);
  EXPECT_EQ(certs_->GetJob("t1", claimed[0].job_id)->state, JobState::kDone);

  // The duplicate report is refused; the unknown job is NOT_FOUND.
  EXPECT_EQ(certs_->CompleteJob(done).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*certs_->LatestChangeSeq("t1"), stored->change_seq);
  JobCompletion unknown = done;
  unknown.job_id = 999999;
  EXPECT_EQ(certs_->CompleteJob(unknown).status().code(), absl::StatusCode::kNotFound);

  // Only the submitting identity gets the RETRIEVE.
  EXPECT_THAT(ClaimOk(Claim("t1", {"ca1"}, "c2", "CORP\\WIN02$")), IsEmpty());
  std::vector<JobRecord> retrieves = ClaimOk(Claim("t1", {"ca1"}, "c3", "CORP\\svc-a"));
  ASSERT_EQ(retrieves.size(), 1u);
  EXPECT_EQ(retrieves[0].kind, JobKind::kRetrieve);
  EXPECT_EQ(retrieves[0].request_name, "req-1");
  // Claiming a RETRIEVE does not touch the request.
  EXPECT_EQ(certs_->GetCertificateRequest("t1", "req-1")->change_seq, stored->change_seq);
}

TEST_P(CertificateStoreContractTest, CompleteCanPutTheJobBackWithoutTouchingTheRequest) {
  CertificateRequestRecord created = Create("t1", "req-1");
  std::vector<JobRecord> claimed = ClaimOk(Claim("t1", {"ca1"}));
  ASSERT_EQ(claimed.size(), 1u);
  const int64_t dispatched_seq = certs_->GetCertificateRequest("t1", "req-1")->change_seq;
  JobCompletion retry;
  retry.job_id = claimed[0].job_id;
  retry.tenant_id = "t1";
  retry.now = kT0 + absl::Seconds(2);
  retry.job_state = JobState::kReady;
  retry.retry_not_before = kT0 + absl::Seconds(30);
  retry.update_request = false;
  absl::StatusOr<CertificateRequestRecord> stored = certs_->CompleteJob(retry);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->state, RequestState::kDispatched);
  EXPECT_EQ(stored->change_seq, dispatched_seq);
  absl::StatusOr<JobRecord> job = certs_->GetJob("t1", claimed[0].job_id);
  EXPECT_EQ(job->state, JobState::kReady);
  EXPECT_EQ(job->connector_id, "");
  EXPECT_EQ(job->lease_until, absl::InfinitePast());
  EXPECT_EQ(job->not_before, kT0 + absl::Seconds(30));
  EXPECT_THAT(ClaimOk(Claim("t1", {"ca1"})), IsEmpty());
  ClaimParams later = Claim("t1", {"ca1"});
  later.now = kT0 + absl::Seconds(30);
  std::vector<JobRecord> again = ClaimOk(later);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempts, 2);
  // A READY job may be completed too (an agent that resolved a lost answer reports late).
  retry.job_state = JobState::kFailed;
  retry.update_request = true;
  retry.request = *stored;
  retry.request.state = RequestState::kFailed;
  retry.request.error_code = "CA_UNAVAILABLE";
  ASSERT_TRUE(certs_->CompleteJob(retry).ok());
  EXPECT_EQ(certs_->GetCertificateRequest("t1", "req-1")->error_code, "CA_UNAVAILABLE");
  EXPECT_GT(created.change_seq, 0);
}

TEST_P(CertificateStoreContractTest, ExpireLeasesPutsJobsBackForTheSameIdentity) {
  Create("t1", "req-1");
  JobRecord retrieve_job;
  retrieve_job.ca_id = "ca2";
  retrieve_job.kind = JobKind::kRetrieve;
  Create("t1", "req-2", "ca2");
  ClaimParams p = Claim("t1", {"ca1", "ca2"}, "c1", "CORP\\svc-a");
  p.lease_until = kT0 + absl::Minutes(1);
  ASSERT_EQ(ClaimOk(p).size(), 2u);
  EXPECT_EQ(*certs_->ExpireLeases(kT0 + absl::Seconds(30)), 0);
  EXPECT_EQ(*certs_->ExpireLeases(kT0 + absl::Minutes(2)), 2);
  EXPECT_EQ(*certs_->ExpireLeases(kT0 + absl::Minutes(2)), 0);
  EXPECT_THAT(*certs_->ListLeasedJobs("t1", "c1"), IsEmpty());
  EXPECT_THAT(*certs_->ListCasWithReadyJobs(kT0 + absl::Minutes(2)),
              ElementsAre(Pair("t1", "ca1"), Pair("t1", "ca2")));

  ClaimParams other = Claim("t1", {"ca1", "ca2"}, "c2", "CORP\\WIN02$");
  other.now = kT0 + absl::Minutes(2);
  EXPECT_THAT(ClaimOk(other), IsEmpty());
  ClaimParams same = Claim("t1", {"ca1"}, "c3", "CORP\\svc-a");
  same.now = kT0 + absl::Minutes(2);
  std::vector<JobRecord> again = ClaimOk(same);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].required_identity, "CORP\\svc-a");
  EXPECT_EQ(again[0].attempts, 2);
  EXPECT_EQ(again[0].connector_id, "c3");
  // The request stays with the identity that submitted.
  EXPECT_EQ(certs_->GetCertificateRequest("t1", "req-1")->connector_id, "c1");
}

// A key-generation RETRIEVE is bound to the connector whose pending key store holds the
// key: another connector under the same CA identity does not get it.
TEST_P(CertificateStoreContractTest, ConnectorBoundJobGoesOnlyToThatConnector) {
  JobRecord bound = SubmitJob();
  bound.kind = JobKind::kRetrieve;
  bound.required_identity = ConnectorBoundIdentity("CORP\\svc-a", "c1");
  Create("t1", "req-1", "ca1", bound);
  EXPECT_THAT(ClaimOk(Claim("t1", {"ca1"}, "c2", "CORP\\svc-a")), IsEmpty());
  EXPECT_THAT(ClaimOk(Claim("t1", {"ca1"}, "c1", "CORP\\svc-b")), IsEmpty());
  std::vector<JobRecord> claimed = ClaimOk(Claim("t1", {"ca1"}, "c1", "CORP\\svc-a"));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].required_identity, ConnectorBoundIdentity("CORP\\svc-a", "c1"));
  EXPECT_EQ(claimed[0].connector_id, "c1");
}

// ---- Updates and change order.

TEST_P(CertificateStoreContractTest, UpdateIsConditionalOnStateAndCanFailOpenJobs) {
  CertificateRequestRecord r = Create("t1", "req-1");
  CertificateRequestRecord cancelled = r;
  cancelled.state = RequestState::kCancelled;
  cancelled.update_time = kT0 + absl::Seconds(5);
  absl::Status wrong = certs_->UpdateCertificateRequest("t1", "req-1", {RequestState::kDispatched},
                                                        cancelled, true)
                           .status();
  EXPECT_EQ(wrong.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(wrong.message()), ::testing::HasSubstr("QUEUED"));
  EXPECT_EQ(certs_->UpdateCertificateRequest("t1", "nope", {RequestState::kQueued}, cancelled, true)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(*certs_->LatestChangeSeq("t1"), r.change_seq);  // nothing was written

  absl::StatusOr<CertificateRequestRecord> stored = certs_->UpdateCertificateRequest(
      "t1", "req-1", {RequestState::kQueued, RequestState::kPendingApproval}, cancelled, true);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->state, RequestState::kCancelled);
  EXPECT_EQ(stored->update_time, kT0 + absl::Seconds(5));
  EXPECT_GT(stored->change_seq, r.change_seq);
  ExpectSameRequest(*certs_->GetCertificateRequest("t1", "req-1"), *stored);
  EXPECT_THAT(ClaimOk(Claim("t1", {"ca1"})), IsEmpty());  // the SUBMIT job failed
  EXPECT_THAT(*certs_->ListCasWithReadyJobs(kT0 + absl::Hours(1)), IsEmpty());
}

TEST_P(CertificateStoreContractTest, AddJobAddsClaimableWork) {
  Create("t1", "req-1");
  JobRecord revoke;
  revoke.tenant_id = "t1";
  revoke.request_name = "req-1";
  revoke.ca_id = "ca1";
  revoke.kind = JobKind::kRevoke;
  revoke.required_identity = "CORP\\svc-a";
  revoke.serial_hex = "0a1b";
  revoke.revocation_reason = 1;
  revoke.create_time = kT0;
  absl::StatusOr<JobRecord> added = certs_->AddJob(revoke);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_GT(added->job_id, 0);
  absl::StatusOr<JobRecord> got = certs_->GetJob("t1", added->job_id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->kind, JobKind::kRevoke);
  EXPECT_EQ(got->state, JobState::kReady);
  EXPECT_EQ(got->serial_hex, "0a1b");
  EXPECT_EQ(got->revocation_reason, 1);
  EXPECT_EQ(got->required_identity, "CORP\\svc-a");
  EXPECT_EQ(got->create_time, kT0);
  JobRecord orphan = revoke;
  orphan.request_name = "nope";
  EXPECT_EQ(certs_->AddJob(orphan).status().code(), absl::StatusCode::kNotFound);
  orphan.request_name = "";
  EXPECT_EQ(certs_->AddJob(orphan).status().code(), absl::StatusCode::kInvalidArgument);
}

// A revocation clears an earlier attempt's outcome and queues its REVOKE in one
// transaction: both happen or neither.
TEST_P(CertificateStoreContractTest, UpdateRequestAndAddJobIsAllOrNothing) {
  CertificateRequestRecord created = Create("t1", "req-1");
  ASSERT_EQ(ClaimOk(Claim("t1", {"ca1"})).size(), 1u);  // the SUBMIT; req-1 is DISPATCHED
  CertificateRequestRecord update = *certs_->GetCertificateRequest("t1", "req-1");
  update.remedy = "cleared";
  update.update_time = kT0 + absl::Seconds(3);
  JobRecord revoke;
  revoke.ca_id = "ca1";
  revoke.kind = JobKind::kRevoke;
  revoke.serial_hex = "0a1b";
  revoke.revocation_reason = 1;
  revoke.create_time = kT0;

  EXPECT_EQ(certs_->UpdateRequestAndAddJob("t1", "req-1", {RequestState::kIssued}, update, revoke)
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(certs_->UpdateRequestAndAddJob("t1", "nope", {RequestState::kDispatched}, update,
                                           revoke)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(certs_->UpdateRequestAndAddJob("t2", "req-1", {RequestState::kDispatched}, update,
                                           revoke)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  JobRecord bad = revoke;
  bad.ca_id = "";
  EXPECT_EQ(certs_->UpdateRequestAndAddJob("t1", "req-1", {RequestState::kDispatched}, update,
                                           bad)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ClaimOk(Claim("t1", {"ca1"})), IsEmpty());  // nothing was queued
  EXPECT_EQ(certs_->GetCertificateRequest("t1", "req-1")->remedy, "");

  absl::StatusOr<CertificateRequestRecord> stored =
      certs_->UpdateRequestAndAddJob("t1", "req-1", {RequestState::kDispatched}, update, revoke);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->remedy, "cleared");
  EXPECT_EQ(stored->update_time, kT0 + absl::Seconds(3));
  EXPECT_GT(stored->change_seq, created.change_seq);
  EXPECT_EQ(*certs_->LatestChangeSeq("t1"), stored->change_seq);
  std::vector<JobRecord> queued = ClaimOk(Claim("t1", {"ca1"}));
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].kind, JobKind::kRevoke);
  EXPECT_EQ(queued[0].tenant_id, "t1");
  EXPECT_EQ(queued[0].request_name, "req-1");
  EXPECT_EQ(queued[0].serial_hex, "0a1b");
}

TEST_P(CertificateStoreContractTest, ChangeSeqIncreasesWithEveryWriteAndListsInOrder) {
  EXPECT_EQ(*certs_->LatestChangeSeq("t1"), 0);
  std::vector<int64_t> seqs;
  seqs.push_back(Create("t1", "a").change_seq);
  seqs.push_back(Create("t1", "b").change_seq);
  Create("t2", "other");
  std::vector<JobRecord> claimed = ClaimOk(Claim("t1", {"ca1"}));  // a, b dispatched
  ASSERT_EQ(claimed.size(), 2u);
  CertificateRequestRecord a = *certs_->GetCertificateRequest("t1", "a");
  CertificateRequestRecord b = *certs_->GetCertificateRequest("t1", "b");
  seqs.push_back(std::min(a.change_seq, b.change_seq));
  seqs.push_back(std::max(a.change_seq, b.change_seq));
  a.state = RequestState::kIssued;
  JobCompletion done;
  done.job_id = claimed[0].job_id;
  done.tenant_id = "t1";
  done.now = kT0;
  done.request = a;
  seqs.push_back(certs_->CompleteJob(done)->change_seq);
  for (size_t i = 1; i < seqs.size(); ++i) EXPECT_LT(seqs[i - 1], seqs[i]);
  EXPECT_EQ(*certs_->LatestChangeSeq("t1"), seqs.back());

  // Every write is a change of its own, with the request as that write left it.
  absl::StatusOr<std::vector<CertificateRequestRecord>> changes =
      certs_->ListRequestChanges("t1", 0, 10);
  ASSERT_TRUE(changes.ok()) << changes.status();
  ASSERT_EQ(changes->size(), 5u);
  std::vector<int64_t> listed_seqs;
  for (const CertificateRequestRecord& c : *changes) listed_seqs.push_back(c.change_seq);
  EXPECT_EQ(listed_seqs, seqs);
  EXPECT_THAT(Names(*changes), ElementsAre("a", "b", b.change_seq < a.change_seq ? "b" : "a",
                                           b.change_seq < a.change_seq ? "a" : "b", "a"));
  std::vector<RequestState> states;
  for (const CertificateRequestRecord& c : *changes) states.push_back(c.state);
  EXPECT_THAT(states, ElementsAre(RequestState::kQueued, RequestState::kQueued,
                                  RequestState::kDispatched, RequestState::kDispatched,
                                  RequestState::kIssued));
  EXPECT_EQ((*changes)[0].connector_id, "");  // as created, not as it is now
  EXPECT_EQ((*changes)[0].seq, a.seq);
  EXPECT_THAT(Names(*certs_->ListRequestChanges("t1", 0, 1)), ElementsAre("a"));
  EXPECT_THAT(Names(*certs_->ListRequestChanges("t1", seqs[3], 10)), ElementsAre("a"));
  EXPECT_THAT(*certs_->ListRequestChanges("t1", seqs.back(), 10), IsEmpty());
  EXPECT_EQ(certs_->ListRequestChanges("t1", 0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A cursor that is not one of the tenant's kept changes (another tenant's, made up, or
// removed after the retention) is FAILED_PRECONDITION: the client re-lists.
TEST_P(CertificateStoreContractTest, ChangesAreKeptUntilDeletedAndOldCursorsAreRefused) {
  CertificateRequestRecord first = Create("t1", "a");
  const int64_t other_tenants = Create("t2", "other").change_seq;
  CertificateRequestRecord later = first;
  later.update_time = kT0 + absl::Hours(2);
  later.remedy = "later";
  CertificateRequestRecord updated = *certs_->UpdateCertificateRequest(
      "t1", "a", {RequestState::kQueued}, later, false);
  EXPECT_EQ(certs_->ListRequestChanges("t1", other_tenants, 10).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(certs_->ListRequestChanges("t1", updated.change_seq + 1000, 10).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(certs_->ListRequestChanges("t1", -1, 10).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_EQ(certs_->ListRequestChanges("t1", first.change_seq, 10)->size(), 1u);

  // The creations (update_time kT0) go, the update (kT0 + 2 h) stays.
  EXPECT_EQ(certs_->DeleteRequestChangesBefore(kT0 + absl::Hours(1), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*certs_->DeleteRequestChangesBefore(kT0 + absl::Hours(1), 1), 1);
  EXPECT_EQ(*certs_->DeleteRequestChangesBefore(kT0 + absl::Hours(1), 100), 1);
  EXPECT_EQ(*certs_->DeleteRequestChangesBefore(kT0 + absl::Hours(1), 100), 0);
  absl::StatusOr<std::vector<CertificateRequestRecord>> from_old =
      certs_->ListRequestChanges("t1", first.change_seq, 10);
  EXPECT_EQ(from_old.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(from_old.status().message()),
              ::testing::HasSubstr("list the certificate requests again"));
  absl::StatusOr<std::vector<CertificateRequestRecord>> kept =
      certs_->ListRequestChanges("t1", 0, 10);
  ASSERT_TRUE(kept.ok()) << kept.status();
  ASSERT_EQ(kept->size(), 1u);
  EXPECT_EQ((*kept)[0].remedy, "later");
  EXPECT_EQ(*certs_->LatestChangeSeq("t1"), updated.change_seq);
  EXPECT_EQ(*certs_->LatestChangeSeq("t2"), 0);
  // The requests themselves stay.
  EXPECT_TRUE(certs_->GetCertificateRequest("t2", "other").ok());
}

// ---- Lists.

TEST_P(CertificateStoreContractTest, ListIsNewestFirstWithPagingAndFilters) {
  Create("t1", "r1", "ca1");
  Create("t1", "r2", "ca2");
  Create("t1", "r3", "ca1");
  Create("t1", "r4", "ca2");
  Create("t1", "r5", "ca1");
  ClaimParams p = Claim("t1", {"ca2"});
  p.limit = 1;
  ASSERT_EQ(ClaimOk(p).size(), 1u);  // r2 DISPATCHED

  absl::StatusOr<std::vector<CertificateRequestRecord>> page =
      certs_->ListCertificateRequests("t1", {}, 0, 2);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(Names(*page), ElementsAre("r5", "r4"));
  page = certs_->ListCertificateRequests("t1", {}, page->back().seq, 2);
  EXPECT_THAT(Names(*page), ElementsAre("r3", "r2"));
  page = certs_->ListCertificateRequests("t1", {}, page->back().seq, 2);
  EXPECT_THAT(Names(*page), ElementsAre("r1"));

  RequestFilter by_ca;
  by_ca.ca_id = "ca1";
  EXPECT_THAT(Names(*certs_->ListCertificateRequests("t1", by_ca, 0, 10)),
              ElementsAre("r5", "r3", "r1"));
  RequestFilter by_state;
  by_state.state = RequestState::kDispatched;
  EXPECT_THAT(Names(*certs_->ListCertificateRequests("t1", by_state, 0, 10)), ElementsAre("r2"));
  RequestFilter by_device;
  by_device.device_id = "device-r3";
  EXPECT_THAT(Names(*certs_->ListCertificateRequests("t1", by_device, 0, 10)), ElementsAre("r3"));
  by_device.state = RequestState::kDispatched;
  EXPECT_THAT(*certs_->ListCertificateRequests("t1", by_device, 0, 10), IsEmpty());
  EXPECT_EQ(certs_->ListCertificateRequests("t1", {}, 0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(CertificateStoreContractTest, OverdueQueuedRequestsAcrossTenantsByDeadline) {
  auto create = [&](const std::string& tenant, const std::string& name, absl::Duration deadline) {
    CertificateRequestRecord r = NewRequest(tenant, name);
    r.queue_deadline = kT0 + deadline;
    ASSERT_TRUE(certs_->CreateCertificateRequest(r, SubmitJob()).ok());
  };
  create("t1", "late", absl::Minutes(10));
  create("t2", "early", absl::Minutes(1));
  create("t1", "mid", absl::Minutes(5));
  create("t1", "future", absl::Hours(2));
  create("t2", "taken", absl::Minutes(2));
  ClaimParams p = Claim("t2", {"ca1"});
  p.limit = 10;
  ASSERT_EQ(ClaimOk(p).size(), 2u);  // t2's requests are DISPATCHED
  absl::StatusOr<std::vector<CertificateRequestRecord>> overdue =
      certs_->ListOverdueQueuedRequests(kT0 + absl::Hours(1), 10);
  ASSERT_TRUE(overdue.ok()) << overdue.status();
  EXPECT_THAT(Names(*overdue), ElementsAre("mid", "late"));
  EXPECT_THAT(Names(*certs_->ListOverdueQueuedRequests(kT0 + absl::Hours(1), 1)),
              ElementsAre("mid"));
  EXPECT_EQ(certs_->ListOverdueQueuedRequests(kT0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(CertificateStoreContractTest, ListCasWithReadyJobsSkipsLeasedAndNotYetDue) {
  Create("t1", "a", "ca1");
  Create("t2", "b", "ca9");
  JobRecord later = SubmitJob();
  later.not_before = kT0 + absl::Minutes(10);
  Create("t1", "c", "ca2", later);
  Create("t1", "d", "ca3");
  ASSERT_EQ(ClaimOk(Claim("t1", {"ca3"})).size(), 1u);
  EXPECT_THAT(*certs_->ListCasWithReadyJobs(kT0 + absl::Minutes(1)),
              ElementsAre(Pair("t1", "ca1"), Pair("t2", "ca9")));
  EXPECT_THAT(*certs_->ListCasWithReadyJobs(kT0 + absl::Minutes(10)),
              ElementsAre(Pair("t1", "ca1"), Pair("t1", "ca2"), Pair("t2", "ca9")));
}

TEST_P(CertificateStoreContractTest, DeliveryCertificateRoundTrips) {
  EXPECT_EQ(*certs_->GetDeliveryCertificate("t1"), "");
  ASSERT_TRUE(certs_->SetDeliveryCertificate("t1", "-----BEGIN CERTIFICATE-----\nX\n").ok());
  EXPECT_EQ(*certs_->GetDeliveryCertificate("t1"), "-----BEGIN CERTIFICATE-----\nX\n");
  EXPECT_EQ(*certs_->GetDeliveryCertificate("t2"), "");
  EXPECT_EQ(certs_->SetDeliveryCertificate("t9", "x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(certs_->GetDeliveryCertificate("t9").status().code(), absl::StatusCode::kNotFound);
  // The tenant itself is unchanged.
  EXPECT_EQ(store_->GetTenant("t1")->display_name, "Tenant One");
}

// ---- Notifications (for PostgreSQL: from another store instance, as on another replica).

TEST_P(CertificateStoreContractTest, ListenerHearsOfReadyJobsAndChangedRequests) {
  RecordingListener listener;
  CertificateStore* replica = Replica();
  replica->SetChangeListener(&listener);

  CertificateRequestRecord created = Create("t1", "req-1", "ca1");
  EXPECT_TRUE(listener.WaitForReady("t1", "ca1"));
  EXPECT_TRUE(listener.WaitForChangeTo("t1", "req-1", created.change_seq, RequestState::kQueued));

  std::vector<JobRecord> claimed = ClaimOk(Claim("t1", {"ca1"}));
  ASSERT_EQ(claimed.size(), 1u);
  const int64_t dispatched = certs_->GetCertificateRequest("t1", "req-1")->change_seq;
  EXPECT_TRUE(listener.WaitForChangeTo("t1", "req-1", dispatched, RequestState::kDispatched));

  CertificateRequestRecord pending = *certs_->GetCertificateRequest("t1", "req-1");
  pending.state = RequestState::kPendingApproval;
  JobRecord retrieve;
  retrieve.ca_id = "ca2";
  retrieve.kind = JobKind::kRetrieve;
  JobCompletion done;
  done.job_id = claimed[0].job_id;
  done.tenant_id = "t1";
  done.now = kT0;
  done.request = pending;
  done.follow_up = retrieve;
  absl::StatusOr<CertificateRequestRecord> completed = certs_->CompleteJob(done);
  ASSERT_TRUE(completed.ok()) << completed.status();
  EXPECT_TRUE(listener.WaitForChangeTo("t1", "req-1", completed->change_seq,
                                       RequestState::kPendingApproval));
  EXPECT_TRUE(listener.WaitForReady("t1", "ca2"));

  ClaimParams p = Claim("t1", {"ca2"});
  p.lease_until = kT0;
  ASSERT_EQ(ClaimOk(p).size(), 1u);
  ASSERT_EQ(*certs_->ExpireLeases(kT0 + absl::Seconds(1)), 1);
  Create("t2", "req-2", "ca5");
  EXPECT_TRUE(listener.WaitForReady("t2", "ca5"));
  replica->SetChangeListener(nullptr);
}

// The per-CA limit can leave READY jobs unclaimed after their wake-up was spent: a job
// leaving LEASED reports its CA ready while claimable READY jobs remain (issue 9).
TEST_P(CertificateStoreContractTest, CompletionReportsTheCaReadyWhileClaimableJobsRemain) {
  RecordingListener listener;
  CertificateStore* replica = Replica();
  replica->SetChangeListener(&listener);
  Create("t1", "a0", "ca1");
  Create("t1", "a1", "ca1");  // left READY by the per-CA limit
  Create("t1", "b0", "ca2");  // alone on its CA
  Create("t1", "c0", "ca3");
  JobRecord not_due = SubmitJob();
  not_due.not_before = kT0 + absl::Minutes(1);
  Create("t1", "c1", "ca3", not_due);  // READY, not claimable until then
  ClaimParams p = Claim("t1", {"ca1", "ca2", "ca3"});
  p.per_ca_limit = 1;
  std::vector<JobRecord> claimed = ClaimOk(p);
  std::map<std::string, JobRecord> by_name;
  for (const JobRecord& j : claimed) by_name[j.request_name] = j;
  ASSERT_EQ(claimed.size(), 3u);
  ASSERT_EQ(by_name.count("a0"), 1u);
  ASSERT_EQ(by_name.count("b0"), 1u);
  ASSERT_EQ(by_name.count("c0"), 1u);
  // Notifications arrive in commit order: once the claim's is in, the creations' are too.
  EXPECT_TRUE(listener.WaitForChangeTo(
      "t1", "c0", certs_->GetCertificateRequest("t1", "c0")->change_seq, RequestState::kDispatched));
  listener.ForgetReady();

  auto complete = [&](const std::string& name) -> int64_t {
    CertificateRequestRecord issued = *certs_->GetCertificateRequest("t1", name);
    issued.state = RequestState::kIssued;
    JobCompletion done;
    done.job_id = by_name[name].job_id;
    done.tenant_id = "t1";
    done.now = kT0 + absl::Seconds(2);
    done.job_state = JobState::kDone;
    done.request = issued;
    absl::StatusOr<CertificateRequestRecord> stored = certs_->CompleteJob(done);
    EXPECT_TRUE(stored.ok()) << stored.status();
    return stored.ok() ? stored->change_seq : 0;
  };
  complete("b0");  // nothing else on ca2
  complete("c0");  // c1 is not due yet
  const int64_t a0_done = complete("a0");
  EXPECT_TRUE(listener.WaitForChangeTo("t1", "a0", a0_done, RequestState::kIssued));
  EXPECT_TRUE(listener.WaitForReady("t1", "ca1"));
  EXPECT_EQ(listener.ReadyCount("t1", "ca1"), 1);
  EXPECT_EQ(listener.ReadyCount("t1", "ca2"), 0);
  EXPECT_EQ(listener.ReadyCount("t1", "ca3"), 0);
  p.per_ca_limit = 1;
  std::vector<JobRecord> next = ClaimOk(p);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].request_name, "a1");

  // Put back for later, a1 leaves LEASED too: a2 is claimable now. Completed from READY
  // afterwards, it freed no place: nothing is reported. A later write is the marker that
  // its notification would have arrived.
  CertificateRequestRecord a2 = Create("t1", "a2", "ca1");
  EXPECT_TRUE(listener.WaitForChangeTo("t1", "a2", a2.change_seq, RequestState::kQueued));
  listener.ForgetReady();
  JobCompletion back;
  back.job_id = next[0].job_id;
  back.tenant_id = "t1";
  back.now = kT0 + absl::Seconds(3);
  back.job_state = JobState::kReady;
  back.retry_not_before = kT0 + absl::Minutes(5);
  back.update_request = false;
  ASSERT_TRUE(certs_->CompleteJob(back).ok());
  back.job_state = JobState::kFailed;
  back.update_request = true;
  back.request = *certs_->GetCertificateRequest("t1", "a1");
  back.request.state = RequestState::kFailed;
  ASSERT_TRUE(certs_->CompleteJob(back).ok());
  Create("t1", "marker", "ca9");
  EXPECT_TRUE(listener.WaitForReady("t1", "ca9"));
  EXPECT_EQ(listener.ReadyCount("t1", "ca1"), 1);
  replica->SetChangeListener(nullptr);
}

INSTANTIATE_TEST_SUITE_P(Stores, CertificateStoreContractTest,
                         ::testing::Values(BackendKind{"fake", MakeFake},
                                           BackendKind{"postgres", MakePostgres}),
                         [](const ::testing::TestParamInfo<BackendKind>& info) {
                           return info.param.name;
                         });

// ---- What only one implementation has.

TEST(FakeCertificateStoreTest, FailNextCallsCoversCertificateCalls) {
  FakeStore store;
  ASSERT_TRUE(store.CreateTenant({"t1", "", kT0}).ok());
  store.FailNextCalls(absl::UnavailableError("db down"), 1);
  EXPECT_EQ(store.CreateCertificateRequest(NewRequest("t1", "r"), SubmitJob()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.GetCertificateRequest("t1", "r").status().code(), absl::StatusCode::kNotFound);
}

// Many claimers on several connections at once: no job is leased twice and the per-CA
// limit holds across them.
TEST(PostgresCertificateStoreTest, ConcurrentClaimsNeverShareAJob) {
  absl::StatusOr<Backend> backend = MakePostgres();
  ASSERT_TRUE(backend.ok()) << backend.status();
  CertificateStore* certs = backend->certs;
  ASSERT_TRUE(backend->owner->CreateTenant({"t1", "", kT0}).ok());
  constexpr int kJobs = 60;
  for (int i = 0; i < kJobs; ++i) {
    JobRecord job = SubmitJob(i % 2 == 0 ? "ca1" : "ca2");
    ASSERT_TRUE(certs
                    ->CreateCertificateRequest(
                        NewRequest("t1", absl::StrCat("r", i), job.ca_id), job)
                    .ok());
  }
  absl::StatusOr<std::unique_ptr<PostgresStore>> second = OpenPostgres(backend->dsn);
  ASSERT_TRUE(second.ok()) << second.status();

  absl::Mutex mu;
  std::vector<int64_t> all;
  std::atomic<bool> failed{false};
  auto claimer = [&](CertificateStore* store, int n) {
    for (int round = 0; round < 40; ++round) {
      ClaimParams p = Claim("t1", {"ca1", "ca2"}, absl::StrCat("c", n));
      p.limit = 3;
      p.per_ca_limit = 8;
      absl::StatusOr<std::vector<JobRecord>> got = store->ClaimJobs(p);
      if (!got.ok()) {
        failed = true;
        return;
      }
      absl::MutexLock lock(&mu);
      for (const JobRecord& j : *got) all.push_back(j.job_id);
    }
  };
  std::vector<std::thread> threads;
  for (int n = 0; n < 4; ++n) threads.emplace_back(claimer, n % 2 == 0 ? certs : second->get(), n);
  for (std::thread& t : threads) t.join();
  ASSERT_FALSE(failed);
  std::set<int64_t> unique(all.begin(), all.end());
  EXPECT_EQ(unique.size(), all.size()) << "a job was claimed twice";
  EXPECT_EQ(all.size(), 16u);  // 8 per CA, then the per-CA limit stops everyone
  int dispatched = 0;
  for (int i = 0; i < kJobs; ++i) {
    if (certs->GetCertificateRequest("t1", absl::StrCat("r", i))->state ==
        RequestState::kDispatched) {
      ++dispatched;
    }
  }
  EXPECT_EQ(dispatched, 16);
  // Every creation and every dispatch is a change with a number of its own.
  absl::StatusOr<std::vector<CertificateRequestRecord>> changes =
      certs->ListRequestChanges("t1", 0, 1000);
  ASSERT_TRUE(changes.ok());
  std::set<int64_t> seqs;
  int dispatches = 0;
  for (const CertificateRequestRecord& r : *changes) {
    seqs.insert(r.change_seq);
    if (r.state == RequestState::kDispatched) ++dispatches;
  }
  EXPECT_EQ(changes->size(), static_cast<size_t>(kJobs + 16));
  EXPECT_EQ(seqs.size(), changes->size());
  EXPECT_EQ(dispatches, 16);
}

// A claim that dispatches more requests than one small NOTIFY can name reports them as
// "some requests of the tenant changed, up to change_seq".
TEST(PostgresCertificateStoreTest, ManyChangesInOneTransactionArriveAsOneTenantRecord) {
  absl::StatusOr<Backend> backend = MakePostgres();
  ASSERT_TRUE(backend.ok()) << backend.status();
  ASSERT_TRUE(backend->owner->CreateTenant({"t1", "", kT0}).ok());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(backend->certs
                    ->CreateCertificateRequest(
                        NewRequest("t1", absl::StrCat(std::string(120, 'n'), i)), SubmitJob())
                    .ok());
  }
  absl::StatusOr<std::unique_ptr<PostgresStore>> listening = OpenPostgres(backend->dsn);
  ASSERT_TRUE(listening.ok()) << listening.status();
  RecordingListener listener;
  (*listening)->SetChangeListener(&listener);
  ClaimParams p = Claim("t1", {"ca1"});
  p.limit = 50;
  p.per_ca_limit = 50;
  absl::StatusOr<std::vector<JobRecord>> claimed = backend->certs->ClaimJobs(p);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 50u);
  absl::StatusOr<int64_t> latest = backend->certs->LatestChangeSeq("t1");
  ASSERT_TRUE(latest.ok());
  EXPECT_TRUE(listener.WaitForChange("t1", "", *latest));
  (*listening)->SetChangeListener(nullptr);
}

// A change committed behind an older transaction that is still open is not readable until
// that transaction ends, and then comes after the older transaction's change: a reader
// that took a cursor in between skips nothing (the rule in migration 0005).
TEST(PostgresCertificateStoreTest, ChangesBehindAnOpenOlderTransactionWaitForIt) {
  absl::StatusOr<Backend> backend = MakePostgres();
  ASSERT_TRUE(backend.ok()) << backend.status();
  ASSERT_TRUE(backend->owner->CreateTenant({"t1", "", kT0}).ok());
  ASSERT_TRUE(backend->certs->CreateCertificateRequest(NewRequest("t1", "a"), SubmitJob()).ok());
  absl::StatusOr<std::unique_ptr<pg::Connection>> older =
      pg::Connection::Open(backend->dsn, absl::Seconds(10));
  ASSERT_TRUE(older.ok()) << older.status();
  ASSERT_TRUE((*older)
                  ->ExecScript("older", "BEGIN; UPDATE certificate_request SET remedy = 'older' "
                                        "WHERE name = 'a'")
                  .ok());
  const int64_t cursor = *backend->certs->LatestChangeSeq("t1");
  absl::StatusOr<CreateRequestResult> b =
      backend->certs->CreateCertificateRequest(NewRequest("t1", "b"), SubmitJob());
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_THAT(*backend->certs->ListRequestChanges("t1", cursor, 10), IsEmpty());
  EXPECT_EQ(*backend->certs->LatestChangeSeq("t1"), cursor);

  ASSERT_TRUE((*older)->ExecScript("commit", "COMMIT").ok());
  absl::StatusOr<std::vector<CertificateRequestRecord>> changes =
      backend->certs->ListRequestChanges("t1", cursor, 10);
  ASSERT_TRUE(changes.ok()) << changes.status();
  EXPECT_THAT(Names(*changes), ElementsAre("a", "b"));
  EXPECT_EQ((*changes)[0].remedy, "older");
  EXPECT_LT((*changes)[0].change_seq, b->request.change_seq);
  EXPECT_EQ(*backend->certs->LatestChangeSeq("t1"), b->request.change_seq);
}

// A transaction that would write a request after a newer transaction wrote it (and so
// sort before that change) is refused with a conflict, which the store retries.
TEST(PostgresCertificateStoreTest, AnOlderTransactionCannotWriteAfterANewerOne) {
  absl::StatusOr<Backend> backend = MakePostgres();
  ASSERT_TRUE(backend.ok()) << backend.status();
  ASSERT_TRUE(backend->owner->CreateTenant({"t1", "", kT0}).ok());
  CertificateRequestRecord a =
      backend->certs->CreateCertificateRequest(NewRequest("t1", "a"), SubmitJob())->request;
  absl::StatusOr<std::unique_ptr<pg::Connection>> older =
      pg::Connection::Open(backend->dsn, absl::Seconds(10));
  ASSERT_TRUE(older.ok()) << older.status();
  ASSERT_TRUE((*older)->ExecScript("older", "BEGIN; SELECT pg_current_xact_id()").ok());
  a.remedy = "newer";
  ASSERT_TRUE(backend->certs
                  ->UpdateCertificateRequest("t1", "a", {RequestState::kQueued}, a, false)
                  .ok());
  absl::StatusOr<pg::Rows> late = (*older)->ExecScript(
      "older update", "UPDATE certificate_request SET remedy = 'older' WHERE name = 'a'");
  EXPECT_EQ(late.status().code(), absl::StatusCode::kAborted) << late.status();
  EXPECT_TRUE(pg::IsTransactionConflict(late.status()));
  EXPECT_EQ(backend->certs->GetCertificateRequest("t1", "a")->remedy, "newer");
}

TEST(PostgresCertificateStoreTest, ListenerReconnectsAfterTheConnectionDrops) {
  absl::StatusOr<Backend> backend = MakePostgres();
  ASSERT_TRUE(backend.ok()) << backend.status();
  ASSERT_TRUE(backend->owner->CreateTenant({"t1", "", kT0}).ok());
  absl::StatusOr<std::unique_ptr<PostgresStore>> listening = OpenPostgres(backend->dsn);
  ASSERT_TRUE(listening.ok()) << listening.status();
  RecordingListener listener;
  (*listening)->SetChangeListener(&listener);

  ASSERT_TRUE(testing::PostgresServer::Execute(
                  backend->dsn,
                  "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                  "AND query LIKE 'LISTEN%'")
                  .ok());
  // Writes until one is heard: those committed while the listener was reconnecting are
  // lost (the sweep's business), the first after it is back is not.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  bool heard = false;
  for (int i = 0; !heard && absl::Now() < deadline; ++i) {
    const std::string ca = absl::StrCat("ca", i);
    JobRecord job = SubmitJob(ca);
    absl::StatusOr<CreateRequestResult> created = backend->certs->CreateCertificateRequest(
        NewRequest("t1", absl::StrCat("r", i), ca), job);
    if (!created.ok()) continue;  // the pool's connection may have been dropped too
    heard = listener.WaitForReady("t1", ca, absl::Milliseconds(300));
  }
  EXPECT_TRUE(heard);
  (*listening)->SetChangeListener(nullptr);
}

}  // namespace
}  // namespace certbridge::broker
