#include "broker/store/postgres/migrations.h"

#include "absl/strings/str_cat.h"
#include "broker/store/postgres/pg_connection.h"
#include "common/status_macros.h"

namespace certbridge::broker {
namespace {

// An arbitrary key for pg_advisory_lock, fixed forever: every replica must use it.
constexpr char kLockKey[] = "7312150001";
constexpr absl::Duration kConnectTimeout = absl::Seconds(10);

constexpr pg::Statement kRecordMigration = {
    "record_migration", "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)"};

absl::StatusOr<int> CurrentVersion(pg::Connection& conn) {
  RETURN_IF_ERROR(conn.ExecScript("create schema_migrations",
                                  "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                  " version integer PRIMARY KEY,"
                                  " name text NOT NULL,"
                                  " apply_time timestamptz NOT NULL DEFAULT now())")
                      .status());
  ASSIGN_OR_RETURN(pg::Rows rows,
                   conn.ExecScript("read schema version",
                                   "SELECT coalesce(max(version), 0) FROM schema_migrations"));
  ASSIGN_OR_RETURN(int64_t version, rows.Int(0, 0));
  return static_cast<int>(version);
}

absl::Status MigrateLocked(pg::Connection& conn) {
  ASSIGN_OR_RETURN(int current, CurrentVersion(conn));
  const std::vector<Migration>& migrations = EmbeddedMigrations();
  const int latest = migrations.empty() ? 0 : migrations.back().version;
  if (current > latest) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database schema is at version ", current, " but this broker knows versions up to ",
        latest, ": it was migrated by a newer broker; run that version (rolling back needs a "
        "database restored from before the upgrade)"));
  }
  for (const Migration& m : migrations) {
    if (m.version <= current) continue;
    absl::Status status = pg::InTransaction(conn, [&]() -> absl::Status {
      RETURN_IF_ERROR(conn.ExecScript(m.name, m.sql).status());
      return conn
          .Exec(kRecordMigration, {absl::StrCat(m.version), std::string(m.name)})
          .status();
    });
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("migration ", m.name, " failed: ",
                                                      status.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status MigrateDatabase(const std::string& dsn) {
  ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> conn,
                   pg::Connection::Open(dsn, kConnectTimeout));
  RETURN_IF_ERROR(
      conn->ExecScript("lock migrations", absl::StrCat("SELECT pg_advisory_lock(", kLockKey, ")"))
          .status());
  absl::Status status = MigrateLocked(*conn);
  // Closing the connection releases the lock too; unlocking is just tidier.
  conn->ExecScript("unlock migrations",
                   absl::StrCat("SELECT pg_advisory_unlock(", kLockKey, ")"))
      .IgnoreError();
  return status;
}

absl::StatusOr<int> DatabaseSchemaVersion(const std::string& dsn) {
  ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> conn,
                   pg::Connection::Open(dsn, kConnectTimeout));
  ASSIGN_OR_RETURN(pg::Rows exists,
                   conn->ExecScript("find schema_migrations",
                                    "SELECT to_regclass('schema_migrations') IS NOT NULL"));
  ASSIGN_OR_RETURN(bool has_table, exists.Bool(0, 0));
  if (!has_table) return 0;
  ASSIGN_OR_RETURN(pg::Rows rows,
                   conn->ExecScript("read schema version",
                                    "SELECT coalesce(max(version), 0) FROM schema_migrations"));
  ASSIGN_OR_RETURN(int64_t version, rows.Int(0, 0));
  return static_cast<int>(version);
}

}  // namespace certbridge::broker
