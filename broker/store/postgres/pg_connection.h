// libpq, wrapped: one connection with lazily prepared statements, query results, and
// the one place where SQLSTATEs become absl::Status codes. Internal to the PostgreSQL
// store (broker/store/postgres/); nothing outside this folder includes libpq.
//
// Round trips: each one costs the caller a wait and PostgreSQL a wake-up, so a transaction
// sends as little on its own as it can. Begin() sends nothing; BEGIN travels with the
// transaction's first statement (libpq pipeline mode), and ExecPipeline sends statements
// that do not depend on each other's results together. A typical write transaction is
//   conn.Begin();
//   ASSIGN_OR_RETURN(std::vector<Rows> rows, conn.ExecPipeline({{kA, a}, {kB, b}}));  // 1 trip
//   conn.Commit("SELECT pg_notify(...)");                                             // 1 trip
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

  // False once the connection broke (including a pipeline whose results could not be
  // read to the end); the pool then replaces it.
  bool healthy() const;
  // For a connection that sat idle (no query in flight, not LISTENing): false if it broke
  // or if the server sent anything meanwhile. An idle session hears from the server only
  // when the server ends it (an error such as 57P01 "terminating connection", then EOF),
  // which libpq would notice only on the next query, failing it. One poll() with a zero
  // timeout; the pool calls it before handing a connection out.
  bool StillOpenWhileIdle();
  // True between Begin() and Commit/Rollback (or after an error inside a transaction).
  bool in_transaction() const;

  // Starts a transaction. Sends nothing: BEGIN goes with the next Exec, ExecPipeline,
  // ExecScript or Commit, in the same round trip. REQUIRES: not in a transaction.
  void Begin();
  // Runs `before_commit` (SQL without parameters, may be empty) and COMMIT in one round
  // trip; a transaction that ran nothing ends without a round trip. On failure the
  // transaction is rolled back (best effort) and the error returned.
  absl::Status Commit(absl::string_view before_commit = "");
  // Best effort; a connection still in a transaction afterwards is discarded by the pool.
  void Rollback();

  // Runs SQL without parameters; `sql` may hold several statements (migrations).
  absl::StatusOr<Rows> ExecScript(absl::string_view what, const std::string& sql);
  // Runs a prepared statement, preparing it first if this connection has not yet (in the
  // same round trip).
  absl::StatusOr<Rows> Exec(const Statement& statement, const std::vector<Param>& params);

  // Runs the statements in order in one round trip (libpq pipeline mode), preparing those
  // this connection has not prepared yet on the way; returns their rows in the same order.
  // Use it for statements whose parameters do not depend on an earlier one's result. The
  // server runs them one after another, each with its own snapshot as if sent alone;
  // outside Begin() they form one implicit transaction. If one fails, the ones after it
  // do not run (the transaction is then failed: roll it back) and its error, mapped as
  // below, is returned. UNAVAILABLE if the connection broke; then healthy() is false.
  struct Call {
    Statement statement;
    std::vector<Param> params;
  };
  absl::StatusOr<std::vector<Rows>> ExecPipeline(const std::vector<Call>& calls);

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
  // Marks the connection unusable (healthy() false) and says so.
  absl::Status Broken(absl::string_view what);

  PGconn* conn_;
  std::set<std::string> prepared_;
  // Begin() was called and BEGIN not yet sent.
  bool begin_pending_ = false;
  // The pipeline protocol went wrong (a result missing or unexpected): the session's state
  // is unknown.
  bool broken_ = false;
};

// BEGIN; fn(); COMMIT, or ROLLBACK when fn fails. Returns fn's error or COMMIT's. BEGIN
// travels with fn's first statement.
template <typename Fn>
absl::Status InTransaction(Connection& conn, Fn&& fn) {
  conn.Begin();
  absl::Status status = fn();
  if (!status.ok()) {
    conn.Rollback();
    return status;
  }
  return conn.Commit();
}

}  // namespace certbridge::broker::pg

#endif  // CERTBRIDGE_BROKER_STORE_POSTGRES_PG_CONNECTION_H_
