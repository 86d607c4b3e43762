// A real certbridge stack for integration tests: a throwaway PostgreSQL, key material from
// deploy/local/make-pki.sh, broker processes, and helpers to run certbridgectl and agents
// and to call the broker's gRPC API directly (for exact status codes).
#ifndef CERTBRIDGE_TESTS_INTEGRATION_TEST_STACK_H_
#define CERTBRIDGE_TESTS_INTEGRATION_TEST_STACK_H_

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "certbridge/v1/admin.grpc.pb.h"
#include "certbridge/v1/agent.grpc.pb.h"
#include "certbridge/v1/certificate.grpc.pb.h"
#include "tests/support/postgres_server.h"
#include "tests/support/process/child_process.h"

namespace certbridge::testing {

struct EmulatorProcessHandle {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
  std::string state_dir;
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  std::string ca_cert_path() const { return state_dir + "/ca.cert.pem"; }
};

// An agent registered and approved in a tenant.
struct RegisteredAgent {
  std::string state_dir;
  std::string connector_id;
  std::string ca_identity;
};

// A tenant made by the operator key, with one API key.
struct TestTenant {
  std::string tenant_id;
  std::string api_key;
};

struct BrokerProcess {
  std::unique_ptr<ChildProcess> process;
  int api_port = 0;
  int agent_port = 0;
  int metrics_port = 0;  // 0 unless started with --metrics_listen
  int health_port = 0;   // 0 unless started with --health_listen
  int scep_port = 0;     // 0 unless started with --scep_listen
  std::string api_address() const { return "127.0.0.1:" + std::to_string(api_port); }
  std::string agent_address() const { return "127.0.0.1:" + std::to_string(agent_port); }
};

class TestStack {
 public:
  // Starts PostgreSQL and makes the PKI; no broker yet.
  static absl::StatusOr<std::unique_ptr<TestStack>> Create();
  ~TestStack();

  // Starts a broker on free ports with the given extra flags and waits until it serves.
  absl::StatusOr<BrokerProcess> StartBroker(const std::vector<std::string>& extra_flags);

  // Starts adcs-emulator with this config (protobuf text) in a fresh state dir, or in
  // `state_dir` when given (a restart keeps the CA and its requests), on a free port or on
  // `port` when given (a restart where agents expect it).
  absl::StatusOr<EmulatorProcessHandle> StartEmulator(const std::string& config_text,
                                                      const std::string& state_dir = "",
                                                      int port = 0);
  // `adcs-emulator officer --emulator ADDR ARGS...`.
  CommandResult Officer(const EmulatorProcessHandle& emulator,
                        const std::vector<std::string>& args) const;

  // Registers an agent with a new enrollment token and approves it (real certbridge-agent
  // process, approval through the API). `extra` flags go after the helper's own, so they
  // win (e.g. `--broker localhost:PORT --proxy http://...`).
  absl::StatusOr<RegisteredAgent> RegisterAgent(const BrokerProcess& broker,
                                                const std::string& admin_key,
                                                const std::string& ca_identity,
                                                const std::vector<std::string>& extra = {});
  // `certbridge-agent run` for a registered agent, with the emulator as its CA.
  absl::StatusOr<std::unique_ptr<ChildProcess>> StartAgent(const RegisteredAgent& agent,
                                                           const EmulatorProcessHandle& emulator,
                                                           const std::vector<std::string>& extra = {});

  // The setup most tests start from, through the admin API with the operator key:
  // CreateTenant makes a tenant and one API key with `scopes` (comma-separated, as
  // certbridgectl takes them); CreateCertificateAuthority adds a CA by its config string
  // ("host\\CA name") and returns its ca_id; AssignCertificateAuthority lets a connector serve
  // it. Errors: the call's status, as INTERNAL with the broker's message.
  absl::StatusOr<TestTenant> CreateTenant(const BrokerProcess& broker,
                                          const std::string& display_name,
                                          const std::string& scopes = "admin,certificates") const;
  absl::StatusOr<std::string> CreateCertificateAuthority(const BrokerProcess& broker,
                                                         const std::string& api_key,
                                                         const std::string& config_string) const;
  absl::Status AssignCertificateAuthority(const BrokerProcess& broker, const std::string& api_key,
                                          const std::string& ca_id,
                                          const std::string& connector_id) const;

  const std::string& dir() const { return dir_; }
  const std::string& dsn() const { return database_dsn_; }
  // The stack's PostgreSQL server, for fault tests (Crash / Restart).
  PostgresServer& postgres() { return *postgres_; }
  const PostgresServer& postgres() const { return *postgres_; }
  // The PostgreSQL server's postmaster (its backends are its children), from
  // data/postmaster.pid; -1 when it is not running.
  pid_t postgres_pid() const;
  // Runs one statement on the stack's database (the brokers' database) in a connection of
  // its own and returns the first row's columns as text (NULL as ""); an empty vector when
  // it returns no row. For figures a test or benchmark reads, e.g. pg_stat_database.
  // Errors: UNAVAILABLE cannot connect; INTERNAL the statement failed.
  absl::StatusOr<std::vector<std::string>> QueryRow(const std::string& sql) const;
  std::string pki(const std::string& file) const { return dir_ + "/pki/" + file; }
  std::string operator_key() const;

  // certbridgectl with --broker/--ca-cert set and the key in CERTBRIDGE_API_KEY.
  CommandResult Ctl(const BrokerProcess& broker, const std::string& api_key,
                    const std::vector<std::string>& args) const;

  // Stubs over TLS trusting the stack's TLS root. For the agent port, an optional client
  // certificate chain and key (PEM).
  std::unique_ptr<v1::AdminService::Stub> AdminStub(const BrokerProcess& broker) const;
  std::unique_ptr<v1::CertificateService::Stub> CertificateStub(const BrokerProcess& broker) const;
  std::unique_ptr<v1::AgentService::Stub> AgentStub(const BrokerProcess& broker,
                                                    const std::string& client_chain_pem = "",
                                                    const std::string& client_key_pem = "") const;

 private:
  TestStack() = default;
  std::string dir_;
  std::unique_ptr<PostgresServer> postgres_;
  std::string database_dsn_;
  int broker_count_ = 0;
  int emulator_count_ = 0;
  int agent_count_ = 0;
};

// Whether a request in `state` has ended: the broker's own rule (broker/store IsTerminal).
bool IsTerminal(v1::CertificateRequest::State state);

// A PEM CSR for a new EC P-256 key with `subject`; "" if OpenSSL failed.
std::string NewCsrPem(const std::string& subject);

// A context with a deadline and, if non-empty, `authorization: Bearer <api_key>`.
std::unique_ptr<grpc::ClientContext> CallContext(const std::string& api_key,
                                                 absl::Duration deadline = absl::Seconds(20));

}  // namespace certbridge::testing

#endif  // CERTBRIDGE_TESTS_INTEGRATION_TEST_STACK_H_
