// The ScepStore contract, run against FakeScepStore and PostgresScepStore alike (the
// PostgreSQL server is started by this binary through tests/broker/store's environment).
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "broker/scep/fake_scep_store.h"
#include "broker/scep/postgres_scep_store.h"
#include "broker/scep/scep_store.h"
#include "broker/store/fake/fake_store.h"
#include "broker/store/postgres/migrations.h"
#include "broker/store/postgres/postgres_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/store/postgres_environment.h"

namespace certbridge::broker::scep {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

// A Store (for tenants) and the ScepStore under test over the same data.
struct Stores {
  std::unique_ptr<Store> store;
  std::unique_ptr<ScepStore> scep;
};

struct StoreKind {
  std::string name;
  std::function<absl::StatusOr<Stores>()> make;
};

absl::StatusOr<Stores> MakeFake() {
  Stores s;
  auto fake = std::make_unique<FakeStore>();
  s.scep = std::make_unique<FakeScepStore>(fake.get());
  s.store = std::move(fake);
  return s;
}

absl::StatusOr<Stores> MakePostgres() {
  if (TestPostgres() == nullptr) return absl::FailedPreconditionError("no PostgreSQL server");
  absl::StatusOr<std::string> dsn = TestPostgres()->CreateDatabase();
  if (!dsn.ok()) return dsn.status();
  if (absl::Status migrated = MigrateDatabase(*dsn); !migrated.ok()) return migrated;
  PostgresStoreOptions options;
  options.dsn = *dsn;
  options.pool_size = 2;
  absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Create(options);
  if (!store.ok()) return store.status();
  PostgresScepStoreOptions scep_options;
  scep_options.dsn = *dsn;
  scep_options.pool_size = 4;
  absl::StatusOr<std::unique_ptr<PostgresScepStore>> scep = PostgresScepStore::Create(scep_options);
  if (!scep.ok()) return scep.status();
  Stores s;
  s.store = std::move(store).value();
  s.scep = std::move(scep).value();
  return s;
}

void PrintTo(const StoreKind& kind, std::ostream* os) { *os << kind.name; }

class ScepStoreContractTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    absl::StatusOr<Stores> stores = GetParam().make();
    ASSERT_TRUE(stores.ok()) << stores.status();
    stores_ = std::move(stores).value();
    for (const char* t : {"t-1", "t-2"}) {
      ASSERT_TRUE(stores_.store->CreateTenant({t, t, kT0}).ok());
      CertificateAuthorityRecord ca;
      ca.ca_id = std::string("ca-") + t;
      ca.tenant_id = t;
      ca.host = "adcs01.corp.example";
      ca.ca_name = std::string("CA ") + t;
      ca.create_time = kT0;
      ASSERT_TRUE(stores_.store->CreateCertificateAuthority(ca).ok());
    }
  }

  ScepProfileRecord Profile(const std::string& id, const std::string& tenant = "t-1") {
    ScepProfileRecord p;
    p.profile_id = id;
    p.tenant_id = tenant;
    p.display_name = "Macs, \"managed\"";
    p.ca_id = "ca-" + tenant;
    p.template_name = "Device";
    p.ra_template_name = "CertbridgeScepRa";
    p.policy.subject_patterns = {"CN=*.corp.example,O=Example\\, Inc.", "CN=mac *"};
    p.policy.san_patterns = {"dns:*.corp.example"};
    p.policy.allow_rsa = false;
    p.policy.min_ec_bits = 384;
    p.challenge_mode = ScepChallengeMode::kStatic;
    p.static_challenge_hash = std::string(64, 'a');
    p.challenge_ttl = absl::Minutes(30);
    p.create_time = kT0;
    p.update_time = kT0;
    return p;
  }

  ScepChallengeRecord Challenge(const std::string& hash, const std::string& profile = "p-1") {
    ScepChallengeRecord c;
    c.challenge_hash = hash;
    c.tenant_id = "t-1";
    c.profile_id = profile;
    c.device_id = "mac-7";
    c.subject = "CN=mac-7";
    c.subject_alt_names = {"dns:a.corp.example", "dns:b.corp.example"};
    c.sid = "S-1-5-21-1-2-3-1013";
    c.created_by = "api-key:k";
    c.create_time = kT0;
    c.expire_time = kT0 + absl::Hours(1);
    return c;
  }

  Stores stores_;
};

TEST_P(ScepStoreContractTest, ProfilesRoundTripAndAreTenantScoped) {
  ScepStore& s = *stores_.scep;
  ASSERT_TRUE(s.CreateScepProfile(Profile("p-1")).ok());
  EXPECT_EQ(s.CreateScepProfile(Profile("p-1", "t-2")).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(s.CreateScepProfile(Profile("p-x", "t-none")).code(), absl::StatusCode::kNotFound);
  absl::StatusOr<ScepProfileRecord> p = s.GetScepProfile("t-1", "p-1");
  ASSERT_TRUE(p.ok()) << p.status();
  const ScepProfileRecord want = Profile("p-1");
  EXPECT_EQ(p->display_name, want.display_name);
  EXPECT_EQ(p->policy.subject_patterns, want.policy.subject_patterns);
  EXPECT_EQ(p->policy.san_patterns, want.policy.san_patterns);
  EXPECT_FALSE(p->policy.allow_rsa);
  EXPECT_EQ(p->policy.min_ec_bits, 384);
  EXPECT_EQ(p->challenge_mode, ScepChallengeMode::kStatic);
  EXPECT_EQ(p->static_challenge_hash, want.static_challenge_hash);
  EXPECT_EQ(p->challenge_ttl, absl::Minutes(30));
  EXPECT_EQ(p->create_time, kT0);
  EXPECT_EQ(p->ra_not_after, absl::InfinitePast());
  EXPECT_TRUE(p->ra_certificate_pem.empty());
  EXPECT_EQ(s.GetScepProfile("t-2", "p-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.GetScepProfileById("p-1")->tenant_id, "t-1");
  ASSERT_TRUE(s.CreateScepProfile(Profile("p-2", "t-2")).ok());
  EXPECT_EQ(s.ListScepProfiles("t-1")->size(), 1u);
  EXPECT_EQ(s.ListActiveScepProfiles()->size(), 2u);
  EXPECT_EQ(s.DisableScepProfile("t-2", "p-1", kT0).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<ScepProfileRecord> disabled = s.DisableScepProfile("t-1", "p-1", kT0 + absl::Seconds(5));
  ASSERT_TRUE(disabled.ok());
  EXPECT_TRUE(disabled->disabled);
  EXPECT_EQ(disabled->update_time, kT0 + absl::Seconds(5));
  EXPECT_EQ(s.DisableScepProfile("t-1", "p-1", kT0 + absl::Seconds(9))->update_time,
            kT0 + absl::Seconds(5));
  EXPECT_EQ(s.ListActiveScepProfiles()->size(), 1u);
}

TEST_P(ScepStoreContractTest, RaUpdateIsGuardedByThePendingRequest) {
  ScepStore& s = *stores_.scep;
  ASSERT_TRUE(s.CreateScepProfile(Profile("p-1")).ok());
  ScepProfileRecord ra;
  ra.ra_pending_request_name = "req-1";
  ra.ra_pending_key_encrypted_pem = "sealed-1";
  ASSERT_TRUE(s.UpdateScepRa("t-1", "p-1", "", ra, kT0).ok());
  // A second replica that also saw no request in flight loses.
  EXPECT_EQ(s.UpdateScepRa("t-1", "p-1", "", ra, kT0).status().code(), absl::StatusCode::kAborted);
  ScepProfileRecord installed;
  installed.ra_certificate_pem = "cert";
  installed.ra_chain_pem = "chain";
  installed.ra_key_encrypted_pem = "sealed-1";
  installed.ra_not_after = kT0 + absl::Hours(24);
  absl::StatusOr<ScepProfileRecord> p = s.UpdateScepRa("t-1", "p-1", "req-1", installed, kT0);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->ra_certificate_pem, "cert");
  EXPECT_EQ(p->ra_not_after, kT0 + absl::Hours(24));
  EXPECT_TRUE(p->ra_pending_request_name.empty());
  EXPECT_EQ(s.UpdateScepRa("t-2", "p-1", "", ra, kT0).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(ScepStoreContractTest, ResealReplacesTheSealedKeysOnlyIfUnchanged) {
  ScepStore& s = *stores_.scep;
  ASSERT_TRUE(s.CreateScepProfile(Profile("p-1")).ok());
  ScepProfileRecord ra;
  ra.ra_certificate_pem = "cert";
  ra.ra_key_encrypted_pem = "sealed-old";
  ra.ra_pending_request_name = "req-1";
  ra.ra_pending_key_encrypted_pem = "pending-old";
  ASSERT_TRUE(s.UpdateScepRa("t-1", "p-1", "", ra, kT0).ok());
  absl::StatusOr<ScepProfileRecord> p = s.ResealScepRaKeys(
      "t-1", "p-1", {"sealed-old", "pending-old"}, {"sealed-new", "pending-new"}, kT0 + absl::Seconds(1));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->ra_key_encrypted_pem, "sealed-new");
  EXPECT_EQ(p->ra_pending_key_encrypted_pem, "pending-new");
  EXPECT_EQ(p->ra_certificate_pem, "cert");
  EXPECT_EQ(p->ra_pending_request_name, "req-1");
  EXPECT_EQ(p->update_time, kT0 + absl::Seconds(1));
  // A replica that read the keys before: ABORTED, nothing written.
  EXPECT_EQ(s.ResealScepRaKeys("t-1", "p-1", {"sealed-old", "pending-old"}, {"x", "y"}, kT0)
                .status()
                .code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(s.GetScepProfile("t-1", "p-1")->ra_key_encrypted_pem, "sealed-new");
  EXPECT_EQ(s.ResealScepRaKeys("t-2", "p-1", {"sealed-new", "pending-new"}, {"x", "y"}, kT0)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_P(ScepStoreContractTest, ChallengeIsConsumedOnceAtomically) {
  ScepStore& s = *stores_.scep;
  ASSERT_TRUE(s.CreateScepProfile(Profile("p-1")).ok());
  ASSERT_TRUE(s.CreateScepChallenge(Challenge("h-1")).ok());
  EXPECT_EQ(s.CreateScepChallenge(Challenge("h-1")).code(), absl::StatusCode::kAlreadyExists);
  ScepChallengeRecord foreign = Challenge("h-2");
  foreign.tenant_id = "t-2";
  EXPECT_EQ(s.CreateScepChallenge(foreign).code(), absl::StatusCode::kNotFound);
  absl::StatusOr<ScepChallengeRecord> c = s.GetScepChallenge("p-1", "h-1");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->subject_alt_names, Challenge("h-1").subject_alt_names);
  EXPECT_EQ(c->sid, "S-1-5-21-1-2-3-1013");
  EXPECT_FALSE(c->consume_time.has_value());
  EXPECT_EQ(s.GetScepChallenge("p-2", "h-1").status().code(), absl::StatusCode::kNotFound);

  // Many consumers at once: exactly one wins.
  std::vector<std::thread> threads;
  std::vector<absl::StatusCode> codes(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      codes[i] = s.ConsumeScepChallenge("p-1", "h-1", "tx-" + std::to_string(i), kT0).status().code();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::count(codes.begin(), codes.end(), absl::StatusCode::kOk), 1);
  EXPECT_EQ(std::count(codes.begin(), codes.end(), absl::StatusCode::kFailedPrecondition), 7);
  c = s.GetScepChallenge("p-1", "h-1");
  ASSERT_TRUE(c->consume_time.has_value());
  // The winner's retry is answered; the others stay refused.
  EXPECT_TRUE(s.ConsumeScepChallenge("p-1", "h-1", c->consumed_by, kT0 + absl::Hours(2)).ok());
  EXPECT_EQ(s.ConsumeScepChallenge("p-1", "h-1", "tx-other", kT0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.ConsumeScepChallenge("p-1", "h-none", "tx", kT0).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(ScepStoreContractTest, ExpiredChallengeIsNotConsumedAndIsDeleted) {
  ScepStore& s = *stores_.scep;
  ASSERT_TRUE(s.CreateScepProfile(Profile("p-1")).ok());
  ASSERT_TRUE(s.CreateScepChallenge(Challenge("h-1")).ok());
  absl::Status late = s.ConsumeScepChallenge("p-1", "h-1", "tx", kT0 + absl::Hours(1)).status();
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(late.message()), ::testing::HasSubstr("expired"));
  EXPECT_EQ(*s.DeleteExpiredScepChallenges(kT0 + absl::Minutes(59)), 0);
  EXPECT_EQ(*s.DeleteExpiredScepChallenges(kT0 + absl::Hours(2)), 1);
  EXPECT_EQ(s.GetScepChallenge("p-1", "h-1").status().code(), absl::StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Stores, ScepStoreContractTest,
                         ::testing::Values(StoreKind{"Fake", MakeFake},
                                           StoreKind{"Postgres", MakePostgres}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace certbridge::broker::scep
