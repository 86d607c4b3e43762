// The Store contract, run against FakeStore and PostgresStore alike: whatever a service
// test learns from the fake holds for the real store.
#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "broker/store/fake/fake_store.h"
#include "broker/store/postgres/migrations.h"
#include "broker/store/postgres/postgres_store.h"
#include "broker/store/store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/store/postgres_environment.h"

namespace certbridge::broker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

struct StoreKind {
  std::string name;
  std::function<absl::StatusOr<std::unique_ptr<Store>>()> make;
};

absl::StatusOr<std::unique_ptr<Store>> MakeFake() {
  return std::unique_ptr<Store>(std::make_unique<FakeStore>());
}

absl::StatusOr<std::unique_ptr<Store>> MakePostgres() {
  if (TestPostgres() == nullptr) return absl::FailedPreconditionError("no PostgreSQL server");
  absl::StatusOr<std::string> dsn = TestPostgres()->CreateDatabase();
  if (!dsn.ok()) return dsn.status();
  absl::Status migrated = MigrateDatabase(*dsn);
  if (!migrated.ok()) return migrated;
  PostgresStoreOptions options;
  options.dsn = *dsn;
  options.pool_size = 4;
  absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Create(options);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(std::move(store).value());
}

void PrintTo(const StoreKind& kind, std::ostream* os) { *os << kind.name; }

class StoreContractTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> store = GetParam().make();
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
    ASSERT_TRUE(store_->CreateTenant({"t1", "Tenant One", kT0}).ok());
    ASSERT_TRUE(store_->CreateTenant({"t2", "Tenant Two", kT0}).ok());
  }

  static ConnectorRecord NewConnector(const std::string& id, const std::string& code_hash) {
    ConnectorRecord c;
    c.connector_id = id;
    c.tenant_id = "ignored";
    c.state = ConnectorState::kActive;  // ignored: registration always makes PENDING
    c.host = "win01.corp.example";
    c.os = "Windows Server 2022";
    c.agent_version = "1.2.3";
    c.ca_identity = "CORP\\WIN01$";
    c.csr_pem = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
    c.registration_code_hash = code_hash;
    c.registration_code_expire_time = kT0 + absl::Hours(1);
    c.poll_secret_hash = "poll-" + id;
    c.create_time = kT0;
    return c;
  }

  // Registers connector `id` in `tenant` through a fresh enrollment token.
  void Register(const std::string& tenant, const std::string& id,
                const std::string& code_hash = "") {
    const std::string token = "token-" + id;
    ASSERT_TRUE(store_
                    ->CreateEnrollmentToken(
                        {token, tenant, "for " + id, "admin@" + tenant, kT0, kT0 + absl::Hours(1)})
                    .ok());
    absl::StatusOr<std::string> got =
        store_->RegisterConnector(token, kT0, NewConnector(id, code_hash.empty() ? "code-" + id : code_hash));
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(*got, tenant);
  }

  void RegisterActive(const std::string& tenant, const std::string& id) {
    Register(tenant, id);
    ASSERT_TRUE(store_->ApproveConnector(tenant, id, kT0, "chain", "01", kT0 + absl::Hours(24))
                    .ok());
  }

  void CreateCa(const std::string& tenant, const std::string& id, const std::string& host,
                const std::string& name) {
    absl::Status s = store_->CreateCertificateAuthority({id, tenant, host, name, "CA " + id, {}, kT0});
    ASSERT_TRUE(s.ok()) << s;
  }

  std::unique_ptr<Store> store_;
};

// ---- Tenants and API keys.

TEST_P(StoreContractTest, TenantsRoundTripAndList) {
  absl::StatusOr<Tenant> t = store_->GetTenant("t1");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->display_name, "Tenant One");
  EXPECT_EQ(t->create_time, kT0);
  absl::StatusOr<std::vector<Tenant>> all = store_->ListTenants();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].tenant_id, "t1");
  EXPECT_EQ((*all)[1].tenant_id, "t2");
  EXPECT_EQ(store_->GetTenant("t3").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->CreateTenant({"t1", "again", kT0}).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->CreateTenant({"", "empty", kT0}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreContractTest, TimesKeepMicrosecondsAndInfinities) {
  const absl::Time precise = kT0 + absl::Microseconds(123456) + absl::Nanoseconds(789);
  ASSERT_TRUE(store_->CreateTenant({"t3", "", precise}).ok());
  ASSERT_TRUE(store_->CreateTenant({"t4", "", absl::InfinitePast()}).ok());
  ASSERT_TRUE(store_->CreateTenant({"t5", "", absl::FromUnixMicros(-1'500'000)}).ok());
  EXPECT_EQ(store_->GetTenant("t3")->create_time, kT0 + absl::Microseconds(123456));
  EXPECT_EQ(store_->GetTenant("t4")->create_time, absl::InfinitePast());
  EXPECT_EQ(store_->GetTenant("t5")->create_time, absl::FromUnixMicros(-1'500'000));
}

TEST_P(StoreContractTest, ApiKeysLookupAndListPerTenant) {
  ApiKeyRecord key{"k1", "t1", "MDM", {"certificates", "admin", "admin"}, "hash1", kT0};
  ASSERT_TRUE(store_->CreateApiKey(key).ok());
  ASSERT_TRUE(store_->CreateApiKey({"k2", "t2", "other", {}, "hash2", kT0}).ok());
  absl::StatusOr<ApiKeyRecord> got = store_->LookupApiKey("k1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->tenant_id, "t1");
  EXPECT_EQ(got->display_name, "MDM");
  EXPECT_THAT(got->scopes, ElementsAre("admin", "certificates"));
  EXPECT_EQ(got->secret_hash, "hash1");
  EXPECT_EQ(got->create_time, kT0);
  EXPECT_THAT(store_->LookupApiKey("k2")->scopes, IsEmpty());

  absl::StatusOr<std::vector<ApiKeyRecord>> listed = store_->ListApiKeys("t1");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].key_id, "k1");

  EXPECT_EQ(store_->LookupApiKey("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->CreateApiKey(key).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->CreateApiKey({"k3", "t9", "", {}, "h", kT0}).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->CreateApiKey({"k4", "t1", "", {"two words"}, "h", kT0}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreContractTest, ApiKeyExpiryRevocationAndLastUse) {
  ApiKeyRecord key{"k1", "t1", "MDM", {"admin"}, "hash1", kT0};
  key.expire_time = kT0 + absl::Hours(24);
  ASSERT_TRUE(store_->CreateApiKey(key).ok());
  ASSERT_TRUE(store_->CreateApiKey({"k2", "t2", "other", {}, "hash2", kT0}).ok());
  absl::StatusOr<ApiKeyRecord> got = store_->LookupApiKey("k1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->expire_time, kT0 + absl::Hours(24));
  EXPECT_FALSE(got->revoke_time.has_value());
  EXPECT_FALSE(got->last_use_time.has_value());
  EXPECT_FALSE(store_->LookupApiKey("k2")->expire_time.has_value());

  // Last use moves forward only when older than the granularity.
  ASSERT_TRUE(store_->RecordApiKeyUse("k1", kT0 + absl::Seconds(10), absl::Minutes(1)).ok());
  ASSERT_TRUE(store_->RecordApiKeyUse("k1", kT0 + absl::Seconds(50), absl::Minutes(1)).ok());
  EXPECT_EQ(store_->LookupApiKey("k1")->last_use_time, kT0 + absl::Seconds(10));
  ASSERT_TRUE(store_->RecordApiKeyUse("k1", kT0 + absl::Seconds(71), absl::Minutes(1)).ok());
  EXPECT_EQ(store_->LookupApiKey("k1")->last_use_time, kT0 + absl::Seconds(71));
  EXPECT_TRUE(store_->RecordApiKeyUse("gone", kT0, absl::Minutes(1)).ok());

  // Revocation is per tenant, and the first revocation's time stays.
  EXPECT_EQ(store_->RevokeApiKey("t2", "k1", kT0).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<ApiKeyRecord> revoked = store_->RevokeApiKey("t1", "k1", kT0 + absl::Hours(1));
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_EQ(revoked->revoke_time, kT0 + absl::Hours(1));
  revoked = store_->RevokeApiKey("t1", "k1", kT0 + absl::Hours(2));
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(revoked->revoke_time, kT0 + absl::Hours(1));
  EXPECT_EQ(store_->LookupApiKey("k1")->revoke_time, kT0 + absl::Hours(1));
  EXPECT_FALSE(store_->LookupApiKey("k2")->revoke_time.has_value());
  EXPECT_EQ(store_->RevokeApiKey("t1", "nope", kT0).status().code(), absl::StatusCode::kNotFound);
}

// ---- Enrollment tokens and registration.

TEST_P(StoreContractTest, RegisterConnectorUsesTheTokenOnceInItsTenant) {
  ASSERT_TRUE(store_->CreateEnrollmentToken({"tok", "t2", "d", "me", kT0, kT0 + absl::Hours(1)})
                  .ok());
  absl::StatusOr<std::string> tenant = store_->RegisterConnector("tok", kT0, NewConnector("c1", "code1"));
  ASSERT_TRUE(tenant.ok()) << tenant.status();
  EXPECT_EQ(*tenant, "t2");

  absl::StatusOr<ConnectorRecord> c = store_->GetConnector("t2", "c1", kT0);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tenant_id, "t2");
  EXPECT_EQ(c->state, ConnectorState::kPending);

  absl::Status again = store_->RegisterConnector("tok", kT0, NewConnector("c2", "code2")).status();
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.message(), HasSubstr("already used"));
  EXPECT_EQ(store_->GetConnectorById("c2", kT0).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, RegisterConnectorRejectsExpiredAndUnknownTokens) {
  ASSERT_TRUE(store_->CreateEnrollmentToken({"tok", "t1", "", "", kT0, kT0 + absl::Minutes(5)})
                  .ok());
  absl::Status expired =
      store_->RegisterConnector("tok", kT0 + absl::Minutes(5), NewConnector("c1", "x")).status();
  EXPECT_EQ(expired.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(expired.message(), HasSubstr("expired"));
  EXPECT_EQ(store_->RegisterConnector("unknown", kT0, NewConnector("c1", "x")).status().code(),
            absl::StatusCode::kNotFound);
  // Still usable before it expires: the failed attempt consumed nothing.
  EXPECT_TRUE(
      store_->RegisterConnector("tok", kT0 + absl::Minutes(4), NewConnector("c1", "x")).ok());
}

TEST_P(StoreContractTest, EnrollmentTokenErrors) {
  EnrollmentTokenRecord token{"tok", "t1", "", "", kT0, kT0 + absl::Hours(1)};
  ASSERT_TRUE(store_->CreateEnrollmentToken(token).ok());
  EXPECT_EQ(store_->CreateEnrollmentToken(token).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->CreateEnrollmentToken({"tok2", "t9", "", "", kT0, kT0}).code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, DuplicateConnectorIdLeavesTheTokenUnused) {
  Register("t1", "c1");
  ASSERT_TRUE(store_->CreateEnrollmentToken({"tok", "t2", "", "", kT0, kT0 + absl::Hours(1)})
                  .ok());
  EXPECT_EQ(store_->RegisterConnector("tok", kT0, NewConnector("c1", "x")).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(store_->RegisterConnector("tok", kT0, NewConnector("c2", "x")).ok());
}

TEST_P(StoreContractTest, ConcurrentRegistrationsWithOneTokenSucceedOnce) {
  ASSERT_TRUE(store_->CreateEnrollmentToken({"tok", "t1", "", "", kT0, kT0 + absl::Hours(1)})
                  .ok());
  std::atomic<int> ok{0};
  std::atomic<int> used{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      absl::Status s =
          store_->RegisterConnector("tok", kT0, NewConnector(absl::StrCat("c", i), "x")).status();
      if (s.ok()) ++ok;
      if (s.code() == absl::StatusCode::kFailedPrecondition) ++used;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(used.load(), 3);
  EXPECT_EQ(store_->ListConnectors("t1", kT0)->size(), 1u);
}

// ---- Connectors.

TEST_P(StoreContractTest, ConnectorRoundTripsEveryField) {
  Register("t1", "c1", "code-hash");
  absl::StatusOr<ConnectorRecord> c = store_->GetConnector("t1", "c1", kT0);
  ASSERT_TRUE(c.ok()) << c.status();
  const ConnectorRecord want = NewConnector("c1", "code-hash");
  EXPECT_EQ(c->connector_id, "c1");
  EXPECT_EQ(c->host, want.host);
  EXPECT_EQ(c->os, want.os);
  EXPECT_EQ(c->agent_version, want.agent_version);
  EXPECT_EQ(c->ca_identity, want.ca_identity);
  EXPECT_EQ(c->csr_pem, want.csr_pem);
  EXPECT_EQ(c->registration_code_hash, "code-hash");
  EXPECT_EQ(c->registration_code_expire_time, want.registration_code_expire_time);
  EXPECT_EQ(c->poll_secret_hash, want.poll_secret_hash);
  EXPECT_EQ(c->certificate_chain_pem, "");
  EXPECT_EQ(c->certificate_expire_time, absl::InfinitePast());
  EXPECT_EQ(c->create_time, kT0);
  EXPECT_EQ(c->approve_time, absl::InfinitePast());
  EXPECT_THAT(c->ca_ids, IsEmpty());
  EXPECT_FALSE(c->last_seen_time.has_value());
  EXPECT_FALSE(c->connected);

  absl::StatusOr<ConnectorRecord> by_id = store_->GetConnectorById("c1", kT0);
  ASSERT_TRUE(by_id.ok());
  EXPECT_EQ(by_id->tenant_id, "t1");
  EXPECT_EQ(store_->GetConnectorById("c9", kT0).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, AnotherTenantsConnectorIsNotFound) {
  RegisterActive("t1", "c1");
  CreateCa("t2", "ca2", "h", "n");
  const absl::StatusCode kNotFound = absl::StatusCode::kNotFound;
  EXPECT_EQ(store_->GetConnector("t2", "c1", kT0).status().code(), kNotFound);
  EXPECT_EQ(store_->ApproveConnector("t2", "c1", kT0, "", "", kT0).code(), kNotFound);
  EXPECT_EQ(store_->TransitionConnector("t2", "c1", {ConnectorState::kActive},
                                        ConnectorState::kDisabled)
                .code(),
            kNotFound);
  EXPECT_EQ(store_->UpdateConnectorCertificate("t2", "c1", "", "", kT0).code(), kNotFound);
  EXPECT_EQ(store_->UpdateConnectorAgentInfo("t2", "c1", "", "", "", "").code(), kNotFound);
  EXPECT_EQ(store_->AssignCertificateAuthority("t2", "ca2", "c1").code(), kNotFound);
  EXPECT_EQ(store_->UpsertSession({"c1", "t2", "r1", kT0, kT0}).code(), kNotFound);
  EXPECT_EQ(store_->DeleteConnector("t2", "c1").code(), kNotFound);
  EXPECT_THAT(*store_->ListConnectors("t2", kT0), IsEmpty());
  // Untouched.
  absl::StatusOr<ConnectorRecord> c = store_->GetConnector("t1", "c1", kT0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state, ConnectorState::kActive);
  EXPECT_EQ(c->host, "win01.corp.example");
}

TEST_P(StoreContractTest, RegistrationCodeIsFoundOnlyInItsTenantWhilePending) {
  Register("t1", "c1", "code-a");
  Register("t2", "c2", "code-b");
  absl::StatusOr<ConnectorRecord> found = store_->FindConnectorByRegistrationCode("t1", "code-a");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->connector_id, "c1");
  EXPECT_EQ(store_->FindConnectorByRegistrationCode("t2", "code-a").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->FindConnectorByRegistrationCode("t1", "code-b").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->ApproveConnector("t1", "c1", kT0, "chain", "01", kT0).ok());
  EXPECT_EQ(store_->FindConnectorByRegistrationCode("t1", "code-a").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, ApproveActivatesOncePendingOnly) {
  Register("t1", "c1");
  const absl::Time approved = kT0 + absl::Minutes(3);
  ASSERT_TRUE(store_->ApproveConnector("t1", "c1", approved, "chain-pem", "0a1b",
                                       kT0 + absl::Hours(24))
                  .ok());
  absl::StatusOr<ConnectorRecord> c = store_->GetConnector("t1", "c1", kT0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state, ConnectorState::kActive);
  EXPECT_EQ(c->approve_time, approved);
  EXPECT_EQ(c->certificate_chain_pem, "chain-pem");
  EXPECT_EQ(c->certificate_serial, "0a1b");
  EXPECT_EQ(c->certificate_expire_time, kT0 + absl::Hours(24));
  EXPECT_EQ(c->registration_code_hash, "");
  EXPECT_EQ(c->csr_pem, "");

  absl::Status again = store_->ApproveConnector("t1", "c1", approved, "x", "y", kT0);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.message(), HasSubstr("ACTIVE"));
  EXPECT_EQ(store_->ApproveConnector("t1", "c9", approved, "x", "y", kT0).code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, TransitionsCheckTheCurrentState) {
  Register("t1", "c1");
  absl::Status wrong = store_->TransitionConnector("t1", "c1", {ConnectorState::kActive},
                                                   ConnectorState::kDisabled);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(wrong.message(), HasSubstr("PENDING"));
  EXPECT_EQ(store_->TransitionConnector("t1", "c1", {}, ConnectorState::kDisabled).code(),
            absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(store_->TransitionConnector("t1", "c1", {ConnectorState::kPending},
                                          ConnectorState::kRejected)
                  .ok());
  absl::StatusOr<ConnectorRecord> c = store_->GetConnector("t1", "c1", kT0);
  EXPECT_EQ(c->state, ConnectorState::kRejected);
  EXPECT_EQ(c->registration_code_hash, "");
  EXPECT_EQ(c->csr_pem, "");

  RegisterActive("t1", "c2");
  ASSERT_TRUE(store_->TransitionConnector("t1", "c2",
                                          {ConnectorState::kActive, ConnectorState::kPending},
                                          ConnectorState::kDisabled)
                  .ok());
  EXPECT_EQ(store_->GetConnector("t1", "c2", kT0)->state, ConnectorState::kDisabled);
  ASSERT_TRUE(store_->TransitionConnector("t1", "c2", {ConnectorState::kDisabled},
                                          ConnectorState::kActive)
                  .ok());
  EXPECT_EQ(store_->GetConnector("t1", "c2", kT0)->state, ConnectorState::kActive);
  EXPECT_EQ(store_->TransitionConnector("t1", "c9", {ConnectorState::kActive},
                                        ConnectorState::kDisabled)
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, CertificateRenewalNeedsActive) {
  Register("t1", "c1");
  absl::Status pending = store_->UpdateConnectorCertificate("t1", "c1", "new", "02", kT0);
  EXPECT_EQ(pending.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(pending.message(), HasSubstr("PENDING"));
  ASSERT_TRUE(store_->ApproveConnector("t1", "c1", kT0, "old", "01", kT0).ok());
  ASSERT_TRUE(
      store_->UpdateConnectorCertificate("t1", "c1", "new", "02", kT0 + absl::Hours(48)).ok());
  absl::StatusOr<ConnectorRecord> c = store_->GetConnector("t1", "c1", kT0);
  EXPECT_EQ(c->certificate_chain_pem, "new");
  EXPECT_EQ(c->certificate_serial, "02");
  EXPECT_EQ(c->certificate_expire_time, kT0 + absl::Hours(48));
  ASSERT_TRUE(store_->TransitionConnector("t1", "c1", {ConnectorState::kActive},
                                          ConnectorState::kDisabled)
                  .ok());
  EXPECT_EQ(store_->UpdateConnectorCertificate("t1", "c1", "newer", "03", kT0).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(StoreContractTest, AgentInfoIsRecorded) {
  Register("t1", "c1");
  ASSERT_TRUE(
      store_->UpdateConnectorAgentInfo("t1", "c1", "adcs02", "Windows Server 2019", "2.0.0",
                                       "CORP\\ADCS02$")
          .ok());
  absl::StatusOr<ConnectorRecord> c = store_->GetConnector("t1", "c1", kT0);
  EXPECT_EQ(c->host, "adcs02");
  EXPECT_EQ(c->os, "Windows Server 2019");
  EXPECT_EQ(c->agent_version, "2.0.0");
  EXPECT_EQ(c->ca_identity, "CORP\\ADCS02$");
  EXPECT_EQ(store_->UpdateConnectorAgentInfo("t1", "c9", "", "", "", "").code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, ListConnectorsIsOrderedById) {
  Register("t1", "cb");
  Register("t1", "ca");
  Register("t1", "cB");
  Register("t2", "cc");
  absl::StatusOr<std::vector<ConnectorRecord>> list = store_->ListConnectors("t1", kT0);
  ASSERT_TRUE(list.ok());
  std::vector<std::string> ids;
  for (const ConnectorRecord& c : *list) ids.push_back(c.connector_id);
  EXPECT_THAT(ids, ElementsAre("cB", "ca", "cb"));
}

TEST_P(StoreContractTest, DeleteConnectorCascades) {
  RegisterActive("t1", "c1");
  CreateCa("t1", "ca1", "h", "n");
  ASSERT_TRUE(store_->AssignCertificateAuthority("t1", "ca1", "c1").ok());
  ASSERT_TRUE(store_->UpsertSession({"c1", "t1", "r1", kT0, kT0}).ok());
  ASSERT_TRUE(store_->DeleteConnector("t1", "c1").ok());
  EXPECT_EQ(store_->GetConnector("t1", "c1", kT0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(store_->GetCertificateAuthority("t1", "ca1")->connector_ids, IsEmpty());
  EXPECT_EQ(store_->DeleteConnector("t1", "c1").code(), absl::StatusCode::kNotFound);
  // Its session went with it: the id is free for a new registration, with no stale state.
  ASSERT_TRUE(store_->CreateEnrollmentToken({"tok2", "t1", "", "", kT0, kT0 + absl::Hours(1)})
                  .ok());
  ASSERT_TRUE(store_->RegisterConnector("tok2", kT0, NewConnector("c1", "code")).ok());
  absl::StatusOr<ConnectorRecord> c = store_->GetConnector("t1", "c1", kT0 - absl::Hours(1));
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->connected);
  EXPECT_FALSE(c->last_seen_time.has_value());
}

// ---- Certificate authorities and assignments.

TEST_P(StoreContractTest, CertificateAuthoritiesRoundTrip) {
  CreateCa("t1", "ca2", "adcs01.corp.example", "CORP-ISSUING-CA");
  CreateCa("t1", "ca1", "adcs02.corp.example", "CORP-ISSUING-CA");
  absl::StatusOr<CertificateAuthorityRecord> ca = store_->GetCertificateAuthority("t1", "ca2");
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_EQ(ca->tenant_id, "t1");
  EXPECT_EQ(ca->host, "adcs01.corp.example");
  EXPECT_EQ(ca->ca_name, "CORP-ISSUING-CA");
  EXPECT_EQ(ca->display_name, "CA ca2");
  EXPECT_EQ(ca->create_time, kT0);
  absl::StatusOr<std::vector<CertificateAuthorityRecord>> list =
      store_->ListCertificateAuthorities("t1");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].ca_id, "ca1");
  EXPECT_EQ((*list)[1].ca_id, "ca2");
  EXPECT_THAT(*store_->ListCertificateAuthorities("t2"), IsEmpty());
}

TEST_P(StoreContractTest, DuplicateCaConfigIsAlreadyExistsCaseInsensitively) {
  CreateCa("t1", "ca1", "adcs01.corp.example", "CORP-CA");
  EXPECT_EQ(store_->CreateCertificateAuthority(
                    {"ca2", "t1", "ADCS01.Corp.Example", "corp-ca", "", {}, kT0})
                .code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->CreateCertificateAuthority({"ca1", "t1", "other", "other", "", {}, kT0})
                .code(),
            absl::StatusCode::kAlreadyExists);
  // Another tenant may have the same CA config.
  CreateCa("t2", "ca3", "adcs01.corp.example", "CORP-CA");
  EXPECT_EQ(store_->CreateCertificateAuthority({"ca4", "t9", "h", "n", "", {}, kT0}).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->CreateCertificateAuthority({"ca5", "t1", "", "n", "", {}, kT0}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreContractTest, AnotherTenantsCaIsNotFound) {
  CreateCa("t1", "ca1", "h", "n");
  RegisterActive("t2", "c2");
  EXPECT_EQ(store_->GetCertificateAuthority("t2", "ca1").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->AssignCertificateAuthority("t2", "ca1", "c2").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->UnassignCertificateAuthority("t2", "ca1", "c2").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteCertificateAuthority("t2", "ca1").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->GetCertificateAuthority("t1", "ca1").ok());
}

TEST_P(StoreContractTest, AssignmentIsIdempotentAndVisibleFromBothSides) {
  RegisterActive("t1", "c2");
  RegisterActive("t1", "c1");
  CreateCa("t1", "ca1", "h1", "n");
  CreateCa("t1", "ca2", "h2", "n");
  ASSERT_TRUE(store_->AssignCertificateAuthority("t1", "ca2", "c1").ok());
  ASSERT_TRUE(store_->AssignCertificateAuthority("t1", "ca1", "c1").ok());
  ASSERT_TRUE(store_->AssignCertificateAuthority("t1", "ca1", "c1").ok());
  ASSERT_TRUE(store_->AssignCertificateAuthority("t1", "ca1", "c2").ok());
  EXPECT_THAT(store_->GetConnector("t1", "c1", kT0)->ca_ids, ElementsAre("ca1", "ca2"));
  EXPECT_THAT(store_->GetCertificateAuthority("t1", "ca1")->connector_ids,
              ElementsAre("c1", "c2"));
  absl::StatusOr<std::vector<ConnectorRecord>> list = store_->ListConnectors("t1", kT0);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_THAT((*list)[0].ca_ids, ElementsAre("ca1", "ca2"));
  EXPECT_THAT((*list)[1].ca_ids, ElementsAre("ca1"));
  EXPECT_THAT((*store_->ListCertificateAuthorities("t1"))[0].connector_ids,
              ElementsAre("c1", "c2"));

  ASSERT_TRUE(store_->UnassignCertificateAuthority("t1", "ca1", "c1").ok());
  EXPECT_THAT(store_->GetConnector("t1", "c1", kT0)->ca_ids, ElementsAre("ca2"));
  EXPECT_EQ(store_->UnassignCertificateAuthority("t1", "ca1", "c1").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->AssignCertificateAuthority("t1", "ca9", "c1").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->AssignCertificateAuthority("t1", "ca1", "c9").code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, DeleteCaCascadesToAssignments) {
  RegisterActive("t1", "c1");
  CreateCa("t1", "ca1", "h", "n");
  ASSERT_TRUE(store_->AssignCertificateAuthority("t1", "ca1", "c1").ok());
  ASSERT_TRUE(store_->DeleteCertificateAuthority("t1", "ca1").ok());
  EXPECT_THAT(store_->GetConnector("t1", "c1", kT0)->ca_ids, IsEmpty());
  EXPECT_EQ(store_->GetCertificateAuthority("t1", "ca1").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteCertificateAuthority("t1", "ca1").code(), absl::StatusCode::kNotFound);
  // The config string is free again.
  CreateCa("t1", "ca1b", "H", "N");
}

// ---- Sessions.

TEST_P(StoreContractTest, SessionsDecideConnectedAndLastSeen) {
  RegisterActive("t1", "c1");
  const absl::Time beat = kT0 + absl::Seconds(30);
  ASSERT_TRUE(store_->UpsertSession({"c1", "t1", "replica-a", kT0, beat}).ok());

  absl::StatusOr<ConnectorRecord> live = store_->GetConnector("t1", "c1", beat - absl::Seconds(1));
  ASSERT_TRUE(live.ok());
  EXPECT_TRUE(live->connected);
  EXPECT_EQ(live->last_seen_time, beat);
  // A heartbeat exactly at live_after is not newer than it.
  absl::StatusOr<ConnectorRecord> stale = store_->GetConnector("t1", "c1", beat);
  EXPECT_FALSE(stale->connected);
  EXPECT_EQ(stale->last_seen_time, beat);
  EXPECT_TRUE(store_->GetConnectorById("c1", kT0)->connected);
  EXPECT_TRUE((*store_->ListConnectors("t1", kT0))[0].connected);

  // The agent reconnects through replica b; replica a's late cleanup must not end it.
  const absl::Time beat_b = kT0 + absl::Seconds(40);
  ASSERT_TRUE(store_->UpsertSession({"c1", "t1", "replica-b", beat_b, beat_b}).ok());
  ASSERT_TRUE(store_->DeleteSession("c1", "replica-a", kT0).ok());
  absl::StatusOr<ConnectorRecord> moved = store_->GetConnector("t1", "c1", kT0);
  EXPECT_TRUE(moved->connected);
  EXPECT_EQ(moved->last_seen_time, beat_b);

  ASSERT_TRUE(store_->DeleteSession("c1", "replica-b", beat_b).ok());
  absl::StatusOr<ConnectorRecord> gone = store_->GetConnector("t1", "c1", absl::InfinitePast());
  EXPECT_FALSE(gone->connected);
  EXPECT_EQ(gone->last_seen_time, beat_b);

  EXPECT_TRUE(store_->DeleteSession("c1", "replica-b", beat_b).ok());
  EXPECT_TRUE(store_->DeleteSession("c9", "replica-b", beat_b).ok());
  EXPECT_EQ(store_->UpsertSession({"c9", "t1", "replica-a", kT0, kT0}).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->UpsertSession({"c1", "t1", "", kT0, kT0}).code(),
            absl::StatusCode::kInvalidArgument);
}

// One live stream per connector: the newest stream's Hello takes the session over, and the
// older stream learns it at its next heartbeat (ABORTED) instead of taking it back.
TEST_P(StoreContractTest, NewestStreamOwnsTheSessionAndTheOlderOneIsTold) {
  RegisterActive("t1", "c1");
  const absl::Time old_connect = kT0;
  const absl::Time new_connect = kT0 + absl::Seconds(5);
  ASSERT_TRUE(store_->UpsertSession({"c1", "t1", "replica-a", old_connect, kT0}).ok());
  EXPECT_TRUE(
      store_->RefreshSession({"c1", "t1", "replica-a", old_connect, kT0 + absl::Seconds(1)}).ok());

  // Same replica, newer stream; then the old stream's heartbeat and cleanup.
  ASSERT_TRUE(store_->UpsertSession({"c1", "t1", "replica-a", new_connect, new_connect}).ok());
  EXPECT_EQ(
      store_->RefreshSession({"c1", "t1", "replica-a", old_connect, kT0 + absl::Seconds(6)}).code(),
      absl::StatusCode::kAborted);
  ASSERT_TRUE(store_->DeleteSession("c1", "replica-a", old_connect).ok());
  EXPECT_TRUE(store_->GetConnector("t1", "c1", kT0)->connected);

  // Another replica takes over; the first replica's stream is told at its heartbeat.
  const absl::Time other_connect = kT0 + absl::Seconds(10);
  ASSERT_TRUE(store_->UpsertSession({"c1", "t1", "replica-b", other_connect, other_connect}).ok());
  EXPECT_EQ(
      store_->RefreshSession({"c1", "t1", "replica-a", new_connect, kT0 + absl::Seconds(11)}).code(),
      absl::StatusCode::kAborted);
  EXPECT_TRUE(
      store_->RefreshSession({"c1", "t1", "replica-b", other_connect, kT0 + absl::Seconds(12)}).ok());
  EXPECT_EQ(store_->GetConnector("t1", "c1", kT0)->last_seen_time, kT0 + absl::Seconds(12));

  // A session that is gone (deleted with its stream's cleanup racing) is created again.
  ASSERT_TRUE(store_->DeleteSession("c1", "replica-b", other_connect).ok());
  EXPECT_TRUE(
      store_->RefreshSession({"c1", "t1", "replica-b", other_connect, kT0 + absl::Seconds(13)}).ok());
  EXPECT_TRUE(store_->GetConnector("t1", "c1", kT0)->connected);
  EXPECT_EQ(store_->RefreshSession({"c1", "t2", "replica-b", other_connect, kT0}).code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, RegistrationCodeLookupIsNeverConnected) {
  Register("t1", "c1", "code");
  ASSERT_TRUE(store_->UpsertSession({"c1", "t1", "r", kT0, kT0 + absl::Hours(1)}).ok());
  absl::StatusOr<ConnectorRecord> c = store_->FindConnectorByRegistrationCode("t1", "code");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->connected);
  EXPECT_EQ(c->last_seen_time, kT0 + absl::Hours(1));
}

// ---- Audit.

TEST_P(StoreContractTest, AuditEventsNewestFirstWithPaging) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store_->AppendAuditEvent({0, "t1", kT0 + absl::Seconds(i), "alice",
                                          absl::StrCat("action", i), "c1", "d"})
                    .ok());
    ASSERT_TRUE(store_->AppendAuditEvent({0, "t2", kT0, "bob", "other", "c2", ""}).ok());
  }
  ASSERT_TRUE(store_->AppendAuditEvent({0, "", kT0, "operator", "create tenant", "t1", ""}).ok());

  absl::StatusOr<std::vector<AuditEventRecord>> page1 = store_->ListAuditEvents("t1", 0, 3);
  ASSERT_TRUE(page1.ok()) << page1.status();
  ASSERT_EQ(page1->size(), 3u);
  EXPECT_EQ((*page1)[0].action, "action4");
  EXPECT_EQ((*page1)[1].action, "action3");
  EXPECT_EQ((*page1)[2].action, "action2");
  EXPECT_EQ((*page1)[0].time, kT0 + absl::Seconds(4));
  EXPECT_EQ((*page1)[0].actor, "alice");
  EXPECT_EQ((*page1)[0].object_id, "c1");
  EXPECT_EQ((*page1)[0].details, "d");
  EXPECT_EQ((*page1)[0].tenant_id, "t1");
  EXPECT_GT((*page1)[0].event_id, (*page1)[1].event_id);
  EXPECT_GT((*page1)[1].event_id, (*page1)[2].event_id);

  absl::StatusOr<std::vector<AuditEventRecord>> page2 =
      store_->ListAuditEvents("t1", page1->back().event_id, 3);
  ASSERT_TRUE(page2.ok());
  ASSERT_EQ(page2->size(), 2u);
  EXPECT_EQ((*page2)[0].action, "action1");
  EXPECT_EQ((*page2)[1].action, "action0");
  EXPECT_THAT(*store_->ListAuditEvents("t1", page2->back().event_id, 3), IsEmpty());

  absl::StatusOr<std::vector<AuditEventRecord>> operator_events =
      store_->ListAuditEvents("", 0, 10);
  ASSERT_EQ(operator_events->size(), 1u);
  EXPECT_EQ((*operator_events)[0].action, "create tenant");
  EXPECT_EQ(store_->ListAuditEvents("t2", 0, 100)->size(), 5u);
  EXPECT_EQ(store_->ListAuditEvents("t1", 0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->AppendAuditEvent({0, "t1", kT0, "a", "", "", ""}).code(),
            absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContractTest,
                         ::testing::Values(StoreKind{"fake", MakeFake},
                                           StoreKind{"postgres", MakePostgres}),
                         [](const ::testing::TestParamInfo<StoreKind>& info) {
                           return info.param.name;
                         });

// ---- What only one implementation has.

TEST(FakeStoreTest, FailNextCallsFailsExactlyThatMany) {
  FakeStore store;
  store.FailNextCalls(absl::UnavailableError("db down"), 2);
  EXPECT_EQ(store.CreateTenant({"t1", "", kT0}).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.GetTenant("t1").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(store.CreateTenant({"t1", "", kT0}).ok());  // the failed create wrote nothing
  EXPECT_EQ(store.call_count(), 3);
  store.FailNextCalls(absl::AbortedError("conflict"), 1);
  store.FailNextCalls(absl::OkStatus(), 0);
  EXPECT_TRUE(store.GetTenant("t1").ok());
}

TEST(PostgresStoreTest, ReconnectsAfterTheServerDropsTheConnection) {
  ASSERT_NE(TestPostgres(), nullptr);
  absl::StatusOr<std::string> dsn = TestPostgres()->CreateDatabase();
  ASSERT_TRUE(dsn.ok()) << dsn.status();
  ASSERT_TRUE(MigrateDatabase(*dsn).ok());
  PostgresStoreOptions options;
  options.dsn = *dsn;
  options.pool_size = 1;
  absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Create(options);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->CreateTenant({"t1", "", kT0}).ok());

  ASSERT_TRUE(testing::PostgresServer::Execute(
                  *dsn,
                  "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                  .ok());
  // The pool replaces a connection it finds ended before using it; if the end arrives
  // while the call runs, the call fails with UNAVAILABLE (naming no DSN) and the next one
  // reconnects.
  absl::Status first = (*store)->GetTenant("t1").status();
  if (!first.ok()) {
    EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable) << first;
    EXPECT_THAT(first.message(), ::testing::Not(HasSubstr(*dsn)));
  }
  absl::StatusOr<Tenant> again = (*store)->GetTenant("t1");
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST(PostgresStoreTest, CreateFailsFastOnAnUnreachableDatabase) {
  ASSERT_NE(TestPostgres(), nullptr);
  PostgresStoreOptions options;
  options.dsn = TestPostgres()->dsn() + "_missing_database";
  absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Create(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  options.dsn = "";
  EXPECT_EQ(PostgresStore::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace certbridge::broker
