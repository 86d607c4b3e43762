#include "broker/store/postgres/migrations.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "broker/store/postgres/postgres_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/store/postgres_environment.h"

namespace certbridge::broker {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;

int LatestVersion() { return EmbeddedMigrations().back().version; }

std::string FreshDatabase() {
  EXPECT_NE(TestPostgres(), nullptr);
  if (TestPostgres() == nullptr) return "";
  absl::StatusOr<std::string> dsn = TestPostgres()->CreateDatabase();
  EXPECT_TRUE(dsn.ok()) << dsn.status();
  return dsn.ok() ? *dsn : "";
}

TEST(MigrationsTest, VersionsAreContiguousFromOne) {
  const std::vector<Migration>& migrations = EmbeddedMigrations();
  ASSERT_FALSE(migrations.empty());
  for (size_t i = 0; i < migrations.size(); ++i) {
    EXPECT_EQ(migrations[i].version, static_cast<int>(i) + 1) << migrations[i].name;
    EXPECT_THAT(std::string(migrations[i].sql), AnyOf(HasSubstr("CREATE"), HasSubstr("ALTER")));
  }
}

TEST(MigrationsTest, AppliesToAnEmptyDatabaseThenIsANoOp) {
  const std::string dsn = FreshDatabase();
  ASSERT_FALSE(dsn.empty());
  EXPECT_EQ(*DatabaseSchemaVersion(dsn), 0);
  ASSERT_TRUE(MigrateDatabase(dsn).ok());
  EXPECT_EQ(*DatabaseSchemaVersion(dsn), LatestVersion());

  absl::Status again = MigrateDatabase(dsn);
  EXPECT_TRUE(again.ok()) << again;
  EXPECT_EQ(*DatabaseSchemaVersion(dsn), LatestVersion());
  // Each migration recorded once.
  EXPECT_TRUE(testing::PostgresServer::Execute(
                  dsn, absl::StrCat("DO $$ BEGIN IF (SELECT count(*) FROM schema_migrations) <> ",
                                    EmbeddedMigrations().size(),
                                    " THEN RAISE EXCEPTION 'wrong count'; END IF; END $$"))
                  .ok());

  PostgresStoreOptions options;
  options.dsn = dsn;
  absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Create(options);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->CreateTenant({"t1", "", absl::UnixEpoch()}).ok());
}

TEST(MigrationsTest, ConcurrentRunsAllSucceed) {
  const std::string dsn = FreshDatabase();
  ASSERT_FALSE(dsn.empty());
  std::vector<absl::Status> results(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = MigrateDatabase(dsn); });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(*DatabaseSchemaVersion(dsn), LatestVersion());
}

TEST(MigrationsTest, ANewerDatabaseIsFailedPrecondition) {
  const std::string dsn = FreshDatabase();
  ASSERT_FALSE(dsn.empty());
  ASSERT_TRUE(MigrateDatabase(dsn).ok());
  ASSERT_TRUE(testing::PostgresServer::Execute(
                  dsn, absl::StrCat("INSERT INTO schema_migrations (version, name) VALUES (",
                                    LatestVersion() + 1, ", 'from_the_future')"))
                  .ok());
  absl::Status s = MigrateDatabase(dsn);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("version ", LatestVersion() + 1)));
}

TEST(MigrationsTest, UnreachableDatabaseIsUnavailable) {
  ASSERT_NE(TestPostgres(), nullptr);
  EXPECT_EQ(MigrateDatabase(TestPostgres()->dsn() + "_missing").code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace certbridge::broker
