// One PostgreSQL server for the whole store test binary (a gtest Environment started
// before the first test and destroyed after the last).
#ifndef CERTBRIDGE_TESTS_BROKER_STORE_POSTGRES_ENVIRONMENT_H_
#define CERTBRIDGE_TESTS_BROKER_STORE_POSTGRES_ENVIRONMENT_H_

#include "tests/support/postgres_server.h"

namespace certbridge::broker {

// The binary's server; nullptr if it failed to start (the environment's SetUp then
// failed, which fails every test).
testing::PostgresServer* TestPostgres();

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_TESTS_BROKER_STORE_POSTGRES_ENVIRONMENT_H_
