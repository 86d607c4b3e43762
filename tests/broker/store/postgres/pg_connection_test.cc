// pg::Connection against a real PostgreSQL: BEGIN that travels with the first statement,
// pipelined statements (libpq pipeline mode), and the error mapping of a statement that
// fails inside a pipeline.
#include "broker/store/postgres/pg_connection.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "tests/broker/store/postgres_environment.h"

namespace certbridge::broker::pg {
namespace {

constexpr Statement kInsertParent = {"insert_parent", "INSERT INTO parent (id) VALUES ($1::integer)"};
constexpr Statement kInsertChild = {
    "insert_child", "INSERT INTO child (id, parent) VALUES ($1::integer, $2::integer)"};
constexpr Statement kCountParents = {"count_parents", "SELECT count(*) FROM parent"};
constexpr Statement kEcho = {"echo", "SELECT $1::text"};

class PgConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(TestPostgres(), nullptr);
    absl::StatusOr<std::string> dsn = TestPostgres()->CreateDatabase();
    ASSERT_TRUE(dsn.ok()) << dsn.status();
    dsn_ = *dsn;
    ASSERT_TRUE(testing::PostgresServer::Execute(
                    dsn_,
                    "CREATE TABLE parent (id integer PRIMARY KEY); "
                    "CREATE TABLE child (id integer PRIMARY KEY, parent integer NOT NULL "
                    " CONSTRAINT child_parent_fkey REFERENCES parent (id))")
                    .ok());
    conn_ = Open();
    ASSERT_NE(conn_, nullptr);
  }

  std::unique_ptr<Connection> Open() {
    absl::StatusOr<std::unique_ptr<Connection>> conn = Connection::Open(dsn_, absl::Seconds(10));
    EXPECT_TRUE(conn.ok()) << conn.status();
    return conn.ok() ? *std::move(conn) : nullptr;
  }

  // The committed parents, read on another connection.
  int64_t CommittedParents() {
    std::unique_ptr<Connection> other = Open();
    if (other == nullptr) return -1;
    absl::StatusOr<Rows> rows = other->Exec(kCountParents, {});
    if (!rows.ok()) return -1;
    return rows->Int(0, 0).value_or(-1);
  }

  std::string dsn_;
  std::unique_ptr<Connection> conn_;
};

TEST_F(PgConnectionTest, BeginTravelsWithTheFirstStatementAndCommitEndsIt) {
  conn_->Begin();
  EXPECT_TRUE(conn_->in_transaction());
  ASSERT_TRUE(conn_->Exec(kInsertParent, {"1"}).ok());
  ASSERT_TRUE(conn_->Exec(kInsertParent, {"2"}).ok());
  EXPECT_EQ(CommittedParents(), 0);  // inside the transaction
  ASSERT_TRUE(conn_->Commit().ok());
  EXPECT_FALSE(conn_->in_transaction());
  EXPECT_EQ(CommittedParents(), 2);
}

TEST_F(PgConnectionTest, RollbackUndoesWhatRanAfterBegin) {
  conn_->Begin();
  ASSERT_TRUE(conn_->ExecPipeline({{kInsertParent, {"1"}}, {kInsertParent, {"2"}}}).ok());
  conn_->Rollback();
  EXPECT_FALSE(conn_->in_transaction());
  EXPECT_EQ(CommittedParents(), 0);
}

TEST_F(PgConnectionTest, ATransactionThatRanNothingEndsWithoutASession) {
  conn_->Begin();
  EXPECT_TRUE(conn_->in_transaction());
  EXPECT_TRUE(conn_->Commit().ok());
  EXPECT_FALSE(conn_->in_transaction());
  conn_->Begin();
  conn_->Rollback();
  EXPECT_FALSE(conn_->in_transaction());
  EXPECT_TRUE(conn_->healthy());
}

TEST_F(PgConnectionTest, CommitRunsItsStatementWithBeginWhenNothingElseRan) {
  conn_->Begin();
  ASSERT_TRUE(conn_->Commit("INSERT INTO parent (id) VALUES (7)").ok());
  EXPECT_FALSE(conn_->in_transaction());
  EXPECT_EQ(CommittedParents(), 1);
}

TEST_F(PgConnectionTest, PipelineReturnsEachStatementsRowsInOrder) {
  // The same statement twice in its first pipeline is prepared once.
  absl::StatusOr<std::vector<Rows>> rows = conn_->ExecPipeline(
      {{kEcho, {"a"}}, {kInsertParent, {"1"}}, {kEcho, {std::nullopt}}, {kCountParents, {}}});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_EQ((*rows)[0].Text(0, 0), "a");
  EXPECT_EQ((*rows)[1].affected(), 1);
  EXPECT_TRUE((*rows)[2].IsNull(0, 0));
  EXPECT_EQ((*rows)[3].Int(0, 0).value_or(-1), 1);
  EXPECT_FALSE(conn_->in_transaction());  // outside Begin: the pipeline's own transaction
  EXPECT_EQ(CommittedParents(), 1);
  // Prepared now: plain Exec runs them.
  absl::StatusOr<Rows> again = conn_->Exec(kEcho, {"b"});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->Text(0, 0), "b");
}

TEST_F(PgConnectionTest, ErrorInTheFirstPipelinedStatementIsReportedAndTheRestDoNotRun) {
  ASSERT_TRUE(conn_->Exec(kInsertParent, {"1"}).ok());
  conn_->Begin();
  absl::StatusOr<std::vector<Rows>> rows =
      conn_->ExecPipeline({{kInsertParent, {"1"}}, {kInsertChild, {"10", "1"}}});
  EXPECT_EQ(rows.status().code(), absl::StatusCode::kAlreadyExists) << rows.status();
  EXPECT_EQ(ConstraintName(rows.status()), "parent_pkey");
  EXPECT_TRUE(conn_->in_transaction());  // failed: the caller rolls back
  conn_->Rollback();
  EXPECT_FALSE(conn_->in_transaction());
  EXPECT_TRUE(conn_->healthy());
  // insert_child was never prepared (its PREPARE was skipped): its first use prepares it.
  absl::StatusOr<Rows> child = conn_->Exec(kInsertChild, {"10", "1"});
  EXPECT_TRUE(child.ok()) << child.status();
}

TEST_F(PgConnectionTest, ErrorInTheSecondPipelinedStatementRollsBackTheFirst) {
  conn_->Begin();
  absl::StatusOr<std::vector<Rows>> rows = conn_->ExecPipeline(
      {{kInsertParent, {"1"}}, {kInsertChild, {"10", "99"}}, {kInsertParent, {"2"}}});
  EXPECT_EQ(rows.status().code(), absl::StatusCode::kNotFound) << rows.status();
  EXPECT_EQ(ConstraintName(rows.status()), "child_parent_fkey");
  EXPECT_FALSE(IsTransactionConflict(rows.status()));
  conn_->Rollback();
  EXPECT_EQ(CommittedParents(), 0);
  // The connection is in step: the next pipeline runs.
  rows = conn_->ExecPipeline({{kInsertParent, {"3"}}, {kInsertChild, {"10", "3"}}});
  EXPECT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(CommittedParents(), 1);
}

TEST_F(PgConnectionTest, AnErrorInAPipelineOutsideBeginUndoesTheWholePipeline) {
  absl::StatusOr<std::vector<Rows>> rows =
      conn_->ExecPipeline({{kInsertParent, {"1"}}, {kInsertParent, {"1"}}});
  EXPECT_EQ(rows.status().code(), absl::StatusCode::kAlreadyExists) << rows.status();
  EXPECT_FALSE(conn_->in_transaction());
  EXPECT_EQ(CommittedParents(), 0);
}

TEST_F(PgConnectionTest, ASerializationFailureInAPipelineIsATransactionConflict) {
  constexpr Statement kRaise = {
      "raise_serialization_failure",
      "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$"};
  conn_->Begin();
  absl::StatusOr<std::vector<Rows>> rows =
      conn_->ExecPipeline({{kInsertParent, {"1"}}, {kRaise, {}}});
  EXPECT_EQ(rows.status().code(), absl::StatusCode::kAborted) << rows.status();
  EXPECT_TRUE(IsTransactionConflict(rows.status()));
  conn_->Rollback();
}

TEST_F(PgConnectionTest, AConnectionThatBreaksMidPipelineIsUnavailableAndUnhealthy) {
  constexpr Statement kTerminateSelf = {"terminate_self",
                                        "SELECT pg_terminate_backend(pg_backend_pid())"};
  conn_->Begin();
  absl::StatusOr<std::vector<Rows>> rows = conn_->ExecPipeline(
      {{kInsertParent, {"1"}}, {kTerminateSelf, {}}, {kInsertParent, {"2"}}});
  EXPECT_EQ(rows.status().code(), absl::StatusCode::kUnavailable) << rows.status();
  EXPECT_FALSE(conn_->healthy());
  EXPECT_EQ(CommittedParents(), 0);
}

}  // namespace
}  // namespace certbridge::broker::pg
