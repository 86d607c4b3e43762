// PostgresServer: a throwaway PostgreSQL 15 server for tests, run by deploy/local/pg.sh
// (found through the CERTBRIDGE_SOURCE_DIR environment variable, which
// certbridge_add_test sets, else the source tree this was configured from) in a fresh
// temporary directory.
//
// Starting a server takes about a second, so start one per test binary and give each
// test its own empty database:
//
//   class StoreEnvironment : public ::testing::Environment {
//    public:
//     void SetUp() override {
//       absl::StatusOr<std::unique_ptr<PostgresServer>> s = PostgresServer::Start();
//       ASSERT_TRUE(s.ok()) << s.status();
//       server = std::move(s).value();
//     }
//     void TearDown() override { server.reset(); }
//     std::unique_ptr<PostgresServer> server;
//   };
//   ...
//   absl::StatusOr<std::string> dsn = server->CreateDatabase();   // per test
//
// The server runs with CERTBRIDGE_PG_FAST=1 (no fsync) and is destroyed, files and all,
// by the destructor, or by pg.sh's watchdog if the test process dies first.
//
// Thread-safety: CreateDatabase may be called concurrently; the rest is immutable.
#ifndef CERTBRIDGE_TESTS_SUPPORT_POSTGRES_SERVER_H_
#define CERTBRIDGE_TESTS_SUPPORT_POSTGRES_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace certbridge::testing {

class PostgresServer {
 public:
  // Errors: FAILED_PRECONDITION pg.sh not found; INTERNAL pg.sh failed (its output is on
  // the test's stderr).
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // DSN of the server's "certbridge" database.
  const std::string& dsn() const { return dsn_; }
  // The directory pg.sh runs the server in (data/, server.log, sock/).
  const std::string& dir() const { return dir_; }

  // Fault injection for chaos tests. Crash kills every process of the server with SIGKILL
  // (postmaster and backends: no shutdown checkpoint, clients see their connections drop)
  // and returns once they are gone; the files stay. Restart starts the server again on
  // the same data directory and the same port (so DSNs stay valid), runs crash recovery,
  // and returns once it accepts connections.
  // Errors: FAILED_PRECONDITION no running server (Crash) / a server still runs (Restart);
  // DEADLINE_EXCEEDED processes outlived 10 s; INTERNAL pg_ctl failed.
  absl::Status Crash();
  absl::Status Restart();

  // Creates an empty database t_<random> and returns its DSN.
  absl::StatusOr<std::string> CreateDatabase() const;

  // Runs SQL (several statements allowed) on the database at `dsn`: lets a test set up a
  // state the store's API cannot reach, e.g. a schema version from the future.
  static absl::Status Execute(const std::string& dsn, const std::string& sql);

 private:
  PostgresServer(std::string dir, std::string dsn) : dir_(std::move(dir)), dsn_(std::move(dsn)) {}

  std::string dir_;
  std::string dsn_;
};

}  // namespace certbridge::testing

#endif  // CERTBRIDGE_TESTS_SUPPORT_POSTGRES_SERVER_H_
