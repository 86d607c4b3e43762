#include "tests/broker/store/postgres_environment.h"

#include <memory>

#include "gtest/gtest.h"

namespace certbridge::broker {
namespace {

class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<testing::PostgresServer>> server =
        testing::PostgresServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
  }
  void TearDown() override { server_.reset(); }
  testing::PostgresServer* server() const { return server_.get(); }

 private:
  std::unique_ptr<testing::PostgresServer> server_;
};

// gtest owns the environment.
PostgresEnvironment* const environment = static_cast<PostgresEnvironment*>(
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment));

}  // namespace

testing::PostgresServer* TestPostgres() { return environment->server(); }

}  // namespace certbridge::broker
