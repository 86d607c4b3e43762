// Schema migrations for the PostgreSQL store.
//
// The SQL lives in broker/store/migrations/NNNN_name.sql and is compiled into the binary
// (embed_migrations.cmake), so a broker image carries exactly the schema it was built for.
//
//   RETURN_IF_ERROR(MigrateDatabase(options.dsn));   // at start-up, or from a k8s Job
//   ASSIGN_OR_RETURN(auto store, PostgresStore::Create(options));
#ifndef CERTBRIDGE_BROKER_STORE_POSTGRES_MIGRATIONS_H_
#define CERTBRIDGE_BROKER_STORE_POSTGRES_MIGRATIONS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace certbridge::broker {

struct Migration {
  int version;       // 1, 2, 3, ... without gaps
  const char* name;  // file name without ".sql", e.g. "0001_initial"
  const char* sql;
};

// Every migration built into this binary, in version order.
const std::vector<Migration>& EmbeddedMigrations();

// Applies the embedded migrations the database lacks, in order, each in its own
// transaction together with its row in schema_migrations. Holds a session-level
// pg_advisory_lock meanwhile, so replicas starting together apply each migration once;
// the others wait and then find nothing to do.
// Errors: UNAVAILABLE the database cannot be reached; FAILED_PRECONDITION the database
// is at a newer version than this binary knows (roll the broker forward, not back);
// INTERNAL a migration failed (nothing of it was applied).
absl::Status MigrateDatabase(const std::string& dsn);

// The highest applied version; 0 for an empty database.
absl::StatusOr<int> DatabaseSchemaVersion(const std::string& dsn);

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_POSTGRES_MIGRATIONS_H_
