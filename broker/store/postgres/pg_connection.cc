#include "broker/store/postgres/pg_connection.h"

#include <poll.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace certbridge::broker::pg {
namespace {

constexpr char kConstraintPayload[] = "type.certbridge.dev/store.constraint";
constexpr char kConflictPayload[] = "type.certbridge.dev/store.transaction_conflict";

// libpq messages end in a newline and may span lines; one line reads better in a log.
std::string OneLine(const char* message) {
  std::string s = message == nullptr ? "" : message;
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return std::string(absl::StripAsciiWhitespace(s));
}

}  // namespace

std::string TimeParam(absl::Time t) {
  if (t == absl::InfinitePast()) return "-infinity";
  if (t == absl::InfiniteFuture()) return "infinity";
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", t, absl::UTCTimeZone());
}

std::string ConstraintName(const absl::Status& status) {
  auto payload = status.GetPayload(kConstraintPayload);
  return payload.has_value() ? std::string(*payload) : std::string();
}

bool IsTransactionConflict(const absl::Status& status) {
  return absl::IsAborted(status) && status.GetPayload(kConflictPayload).has_value();
}

int64_t Rows::affected() const {
  int64_t n = 0;
  return absl::SimpleAtoi(PQcmdTuples(result_.get()), &n) ? n : 0;
}

std::string Rows::Text(int row, int col) const {
  return std::string(PQgetvalue(result_.get(), row, col),
                     PQgetlength(result_.get(), row, col));
}

absl::StatusOr<int64_t> Rows::Int(int row, int col) const {
  int64_t v = 0;
  if (!absl::SimpleAtoi(Text(row, col), &v)) {
    return absl::InternalError(absl::StrCat("column ", PQfname(result_.get(), col),
                                            " is not an integer"));
  }
  return v;
}

absl::StatusOr<bool> Rows::Bool(int row, int col) const {
  std::string v = Text(row, col);
  if (v == "t") return true;
  if (v == "f") return false;
  return absl::InternalError(
      absl::StrCat("column ", PQfname(result_.get(), col), " is not a boolean"));
}

absl::StatusOr<absl::Time> Rows::Time(int row, int col) const {
  std::string v = Text(row, col);
  if (v == "-Infinity") return absl::InfinitePast();
  if (v == "Infinity") return absl::InfiniteFuture();
  // Numeric seconds since the epoch, e.g. "1800000000.123456" or "-1.500000".
  absl::string_view rest = v;
  const bool negative = absl::ConsumePrefix(&rest, "-");
  absl::string_view whole = rest;
  absl::string_view fraction;
  size_t dot = rest.find('.');
  if (dot != absl::string_view::npos) {
    whole = rest.substr(0, dot);
    fraction = rest.substr(dot + 1);
  }
  int64_t seconds = 0;
  std::string micros_text(fraction.substr(0, 6));
  micros_text.resize(6, '0');
  int64_t micros = 0;
  if (!absl::SimpleAtoi(whole, &seconds) || !absl::SimpleAtoi(micros_text, &micros)) {
    return absl::InternalError(
        absl::StrCat("column ", PQfname(result_.get(), col), " is not a time"));
  }
  int64_t total = seconds * 1000000 + micros;
  return absl::FromUnixMicros(negative ? -total : total);
}

absl::StatusOr<std::optional<absl::Time>> Rows::OptionalTime(int row, int col) const {
  if (IsNull(row, col)) return std::optional<absl::Time>();
  absl::StatusOr<absl::Time> t = Time(row, col);
  if (!t.ok()) return t.status();
  return std::optional<absl::Time>(*t);
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& dsn,
                                                             absl::Duration connect_timeout) {
  const std::string timeout =
      absl::StrCat(std::max<int64_t>(2, absl::ToInt64Seconds(connect_timeout)));
  // Later entries win: settings in the DSN override these defaults.
  const char* keys[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), "certbridge", dsn.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return absl::ResourceExhaustedError("libpq: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    // libpq's message names host and port but not the password.
    std::string message = OneLine(PQerrorMessage(conn));
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL: ", message));
  }
  // Server notices ("relation already exists, skipping") are not errors; libpq would
  // print them on stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Connection>(new Connection(conn));
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::healthy() const { return !broken_ && PQstatus(conn_) == CONNECTION_OK; }

bool Connection::StillOpenWhileIdle() {
  if (PQstatus(conn_) != CONNECTION_OK) return false;
  pollfd p = {PQsocket(conn_), POLLIN, 0};
  // Readable: the server's goodbye, or EOF. Anything else unasked for (a stray notice) is
  // no reason to keep the session either; a new one costs a connect.
  return p.fd >= 0 && poll(&p, 1, 0) == 0;
}

bool Connection::in_transaction() const {
  return begin_pending_ || PQtransactionStatus(conn_) != PQTRANS_IDLE;
}

void Connection::Begin() { begin_pending_ = true; }

absl::Status Connection::Commit(absl::string_view before_commit) {
  if (begin_pending_ && before_commit.empty()) {
    begin_pending_ = false;  // nothing ran: nothing to end
    return absl::OkStatus();
  }
  std::string sql = before_commit.empty() ? "COMMIT" : absl::StrCat(before_commit, "; COMMIT");
  absl::Status status = ExecScript("commit", sql).status();
  if (!status.ok()) Rollback();
  return status;
}

void Connection::Rollback() {
  if (begin_pending_) {
    begin_pending_ = false;
    return;
  }
  ExecScript("rollback", "ROLLBACK").IgnoreError();
}

absl::Status Connection::Broken(absl::string_view what) {
  broken_ = true;
  return absl::UnavailableError(absl::StrCat(what, ": lost track of the PostgreSQL session (",
                                             OneLine(PQerrorMessage(conn_)), "); retry"));
}

absl::Status Connection::ErrorStatus(const PGresult* result, absl::string_view what) const {
  const char* state_field =
      result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const std::string sqlstate = state_field == nullptr ? "" : state_field;
  if (PQstatus(conn_) != CONNECTION_OK || absl::StartsWith(sqlstate, "08") ||
      sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03" || result == nullptr) {
    return absl::UnavailableError(absl::StrCat(what, ": lost the PostgreSQL connection (",
                                               OneLine(PQerrorMessage(conn_)), "); retry"));
  }
  absl::StatusCode code = absl::StatusCode::kInternal;
  if (sqlstate == "23505") {
    code = absl::StatusCode::kAlreadyExists;
  } else if (sqlstate == "23503") {
    code = absl::StatusCode::kNotFound;
  } else if (sqlstate == "23514") {
    code = absl::StatusCode::kFailedPrecondition;
  } else if (sqlstate == "40001" || sqlstate == "40P01") {
    code = absl::StatusCode::kAborted;
  }
  std::string message = absl::StrCat(what, ": SQLSTATE ", sqlstate);
  // Data exceptions (class 22) quote the offending value; leave them out.
  if (code == absl::StatusCode::kInternal && !absl::StartsWith(sqlstate, "22")) {
    absl::StrAppend(&message, ": ",
                    OneLine(PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY)));
  }
  absl::Status status(code, message);
  const char* constraint = PQresultErrorField(result, PG_DIAG_CONSTRAINT_NAME);
  if (constraint != nullptr) status.SetPayload(kConstraintPayload, absl::Cord(constraint));
  if (code == absl::StatusCode::kAborted) status.SetPayload(kConflictPayload, absl::Cord(sqlstate));
  return status;
}

absl::StatusOr<Rows> Connection::ExecScript(absl::string_view what, const std::string& sql) {
  // The simple query protocol takes several statements in one message: BEGIN joins them.
  const std::string text = begin_pending_ ? absl::StrCat("BEGIN; ", sql) : sql;
  begin_pending_ = false;
  PGresult* result = PQexec(conn_, text.c_str());
  ExecStatusType st = result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    absl::Status status = ErrorStatus(result, what);
    PQclear(result);
    return status;
  }
  return Rows(result);
}

absl::StatusOr<Rows> Connection::Exec(const Statement& statement,
                                      const std::vector<Param>& params) {
  if (begin_pending_ || prepared_.count(statement.name) == 0) {
    // BEGIN and/or the PREPARE go in the same round trip.
    ASSIGN_OR_RETURN(std::vector<Rows> rows, ExecPipeline({{statement, params}}));
    return std::move(rows.front());
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const Param& p : params) values.push_back(p.has_value() ? p->c_str() : nullptr);
  PGresult* result = PQexecPrepared(conn_, statement.name, static_cast<int>(values.size()),
                                    values.data(), nullptr, nullptr, /*resultFormat=*/0);
  ExecStatusType st = result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    absl::Status status = ErrorStatus(result, statement.name);
    PQclear(result);
    return status;
  }
  return Rows(result);
}

absl::StatusOr<std::vector<Rows>> Connection::ExecPipeline(const std::vector<Call>& calls) {
  // What each result answers, in the order sent: BEGIN, then per call its PREPARE (first
  // use on this connection) and its execution.
  struct Sent {
    std::string what;
    const char* prepared_name;  // a PREPARE's statement, else nullptr
    int call;                   // index into `calls` of an execution, else -1
  };
  std::vector<Sent> sent;
  if (PQenterPipelineMode(conn_) != 1) return Broken("enter pipeline mode");
  bool ok = true;
  if (begin_pending_) {
    ok = PQsendQueryParams(conn_, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
    sent.push_back({"begin", nullptr, -1});
    begin_pending_ = false;
  }
  std::set<absl::string_view> preparing;
  for (int i = 0; ok && i < static_cast<int>(calls.size()); ++i) {
    const Statement& statement = calls[i].statement;
    if (prepared_.count(statement.name) == 0 && preparing.insert(statement.name).second) {
      ok = PQsendPrepare(conn_, statement.name, statement.sql, 0, nullptr) == 1;
      sent.push_back({absl::StrCat("prepare ", statement.name), statement.name, -1});
    }
    std::vector<const char*> values;
    values.reserve(calls[i].params.size());
    for (const Param& p : calls[i].params) values.push_back(p.has_value() ? p->c_str() : nullptr);
    ok = ok && PQsendQueryPrepared(conn_, statement.name, static_cast<int>(values.size()),
                                   values.data(), nullptr, nullptr, /*resultFormat=*/0) == 1;
    sent.push_back({statement.name, nullptr, i});
  }
  // The Sync ends the pipeline's implicit transaction (if no BEGIN) and flushes.
  if (!ok || PQpipelineSync(conn_) != 1) {
    absl::Status status = ErrorStatus(nullptr, sent.empty() ? "pipeline" : sent.back().what);
    broken_ = true;  // whatever went out, its results were not read
    return status;
  }
  // Every result is read, even after an error, so that the connection stays in step.
  // After a failed statement the server skips the rest (PGRES_PIPELINE_ABORTED) up to the
  // Sync: the first error is the one to report.
  std::vector<Rows> rows;
  rows.reserve(calls.size());
  absl::Status first_error;
  // Out of step with the server (a result missing or one too many): the connection broke,
  // or the session is in an unknown state; either way the pool must not reuse it.
  auto lost = [&](absl::string_view what) {
    absl::Status broken = Broken(what);
    return first_error.ok() ? broken : first_error;
  };
  for (const Sent& s : sent) {
    PGresult* result = PQgetResult(conn_);
    if (result == nullptr) return lost(s.what);
    const ExecStatusType st = PQresultStatus(result);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
      if (s.prepared_name != nullptr) prepared_.insert(s.prepared_name);
      if (s.call >= 0) {
        rows.emplace_back(result);
      } else {
        PQclear(result);
      }
    } else {
      if (st != PGRES_PIPELINE_ABORTED && first_error.ok()) {
        first_error = ErrorStatus(result, s.what);
      }
      PQclear(result);
    }
    // Each statement's results end with a nullptr.
    if (PGresult* extra = PQgetResult(conn_); extra != nullptr) {
      PQclear(extra);
      return lost(s.what);
    }
  }
  PGresult* sync = PQgetResult(conn_);
  const bool synced = sync != nullptr && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  PQclear(sync);
  if (!synced || PQexitPipelineMode(conn_) != 1) return lost("pipeline sync");
  if (!first_error.ok()) return first_error;
  return rows;
}

absl::StatusOr<std::string> Connection::Literal(absl::string_view text) const {
  char* escaped = PQescapeLiteral(conn_, text.data(), text.size());
  if (escaped == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot quote a value: ", OneLine(PQerrorMessage(conn_))));
  }
  std::string out = escaped;
  PQfreemem(escaped);
  return out;
}

bool Connection::ConsumeInput() {
  return PQconsumeInput(conn_) == 1 && PQstatus(conn_) == CONNECTION_OK;
}

std::vector<std::string> Connection::TakeNotifications() {
  std::vector<std::string> out;
  while (PGnotify* n = PQnotifies(conn_)) {
    out.emplace_back(n->extra == nullptr ? "" : n->extra);
    PQfreemem(n);
  }
  return out;
}

}  // namespace certbridge::broker::pg
