// libpq, wrapped: one connection with lazily prepared statements, query results, and
// the one place where SQLSTATEs become absl::Status codes. Internal to the PostgreSQL
// store (broker/store/postgres/); nothing outside this folder includes libpq.
//
// Thread-safety: a Connection is used by one thread at a time (the pool hands it out).
#ifndef CERTBRIDGE_BROKER_STORE_POSTGRES_PG_CONNECTION_H_
#define CERTBRIDGE_BROKER_STORE_POSTGRES_PG_CONNECTION_H_

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace certbridge::broker::pg {

// A named SQL statement, prepared on each connection the first time it runs there.
struct Statement {
  const char* name;
  const char* sql;
};

// A parameter in text form; nullopt is SQL NULL.
using Param = std::optional<std::string>;

// Text forms of times for parameters: "-infinity" / "infinity" for the infinite times,
// else UTC with microseconds (finer parts truncated).
std::string TimeParam(absl::Time t);

// The rows of a successful command.
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result) {}
  int size() const { return PQntuples(result_.get()); }
  // Rows changed by INSERT / UPDATE / DELETE.
  int64_t affected() const;
  bool IsNull(int row, int col) const { return PQgetisnull(result_.get(), row, col) != 0; }
  // "" for NULL.
  std::string Text(int row, int col) const;
  absl::StatusOr<int64_t> Int(int row, int col) const;
  absl::StatusOr<bool> Bool(int row, int col) const;
  // A column selected as `extract(epoch from t)`: "-Infinity" / "Infinity" map to the
  // infinite times. REQUIRES: not NULL.
  absl::StatusOr<absl::Time> Time(int row, int col) const;
  // As Time, nullopt for NULL.
  absl::StatusOr<std::optional<absl::Time>> OptionalTime(int row, int col) const;

 private:
  struct Clear {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Clear> result_;
};

// Status codes from PostgreSQL (the only such mapping in the code base):
//   23505 unique violation       ALREADY_EXISTS
//   23503 foreign key violation  NOT_FOUND (the referenced object is missing)
//   23514 check violation        FAILED_PRECONDITION
//   40001, 40P01                 ABORTED (retry the transaction)
//   08xxx, 57P01-57P03, lost connection   UNAVAILABLE (the pool reconnects on next use)
//   anything else                INTERNAL
// The violated constraint's name rides along as a payload (ConstraintName) so that a
// caller can say which key was taken. Messages carry the statement name and SQLSTATE,
// never parameter values.
std::string ConstraintName(const absl::Status& status);
// True for an ABORTED status that PostgreSQL raised (40001 serialization failure, 40P01
// deadlock): the whole transaction may be run again as it was. False for an ABORTED a
// store method made itself (e.g. "re-read and decide again"), which the caller handles.
bool IsTransactionConflict(const absl::Status& status);

class Connection {
 public:
  // Connects. UNAVAILABLE if the server cannot be reached or refuses the login.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& dsn,
                                                          absl::Duration connect_timeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // False once the connection broke; the pool then replaces it.
  bool healthy() const;
  // For a connection that sat idle (no query in flight, not LISTENing): false if it broke
  // or if the server sent anything meanwhile. An idle session hears from the server only
  // when the server ends it (an error such as 57P01 "terminating connection", then EOF),
  // which libpq would notice only on the next query, failing it. One poll() with a zero
  // timeout; the pool calls it before handing a connection out.
  bool StillOpenWhileIdle();
  // True between BEGIN and COMMIT/ROLLBACK (or after an error inside a transaction).
  bool in_transaction() const;

  // Runs SQL without parameters; `sql` may hold several statements (migrations).
  absl::StatusOr<Rows> ExecScript(absl::string_view what, const std::string& sql);
  // Runs a prepared statement, preparing it first if this connection has not yet.
  absl::StatusOr<Rows> Exec(const Statement& statement, const std::vector<Param>& params);

  // `text` as an SQL string literal (quoted and escaped for this connection), for the
  // rare script that needs a value but cannot take parameters.
  absl::StatusOr<std::string> Literal(absl::string_view text) const;

  // For a connection that LISTENs: the socket to poll for input, reading what arrived
  // (false once the connection broke), and the payloads of the notifications read so far.
  int socket() const { return PQsocket(conn_); }
  bool ConsumeInput();
  std::vector<std::string> TakeNotifications();

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  absl::Status ErrorStatus(const PGresult* result, absl::string_view what) const;

  PGconn* conn_;
  std::set<std::string> prepared_;
};

// BEGIN; fn(); COMMIT, or ROLLBACK when fn fails. Returns fn's error or COMMIT's.
template <typename Fn>
absl::Status InTransaction(Connection& conn, Fn&& fn) {
  absl::StatusOr<Rows> begin = conn.ExecScript("begin", "BEGIN");
  if (!begin.ok()) return begin.status();
  absl::Status status = fn();
  if (!status.ok()) {
    // Best effort: a connection still in a transaction is discarded by the pool.
    conn.ExecScript("rollback", "ROLLBACK").IgnoreError();
    return status;
  }
  return conn.ExecScript("commit", "COMMIT").status();
}

}  // namespace certbridge::broker::pg

#endif  // CERTBRIDGE_BROKER_STORE_POSTGRES_PG_CONNECTION_H_
