// An in-process AgentService for the agent's tests: real TLS (certificates made with
// common/pki), scripted answers, and a record of everything the agent sent.
#ifndef CERTBRIDGE_TESTS_AGENT_CLIENT_FAKE_AGENT_SERVICE_H_
#define CERTBRIDGE_TESTS_AGENT_CLIENT_FAKE_AGENT_SERVICE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/server.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "certbridge/v1/agent.grpc.pb.h"
#include "common/pki/pki.h"

namespace certbridge::agent::testing {

// A broker TLS root with a server certificate for 127.0.0.1 and localhost, and a separate
// connector CA that signs agent (client) certificates.
class TestPki {
 public:
  static absl::StatusOr<std::unique_ptr<TestPki>> Create();

  const std::string& broker_ca_pem() const { return broker_ca_->certificate().pem; }
  const std::string& server_chain_pem() const { return server_chain_pem_; }
  const std::string& server_key_pem() const { return server_key_pem_; }
  const std::string& connector_ca_pem() const { return connector_ca_->certificate().pem; }

  // Leaf for the CSR's key followed by the connector CA certificate.
  absl::StatusOr<std::string> IssueAgentChain(absl::string_view csr_pem, absl::Time not_before,
                                              absl::Time not_after) const;

 private:
  std::unique_ptr<pki::SigningCa> broker_ca_;
  std::unique_ptr<pki::SigningCa> connector_ca_;
  std::string server_chain_pem_;
  std::string server_key_pem_;
};

// What the fake saw, in order.
struct Observed {
  int connections = 0;
  // Serial of the client certificate presented on each Connect ("" if none).
  std::vector<std::string> client_serials;
  std::vector<certbridge::v1::Hello> hellos;
  int heartbeats = 0;
  std::vector<std::string> renewal_csrs;
  int renewals_answered = 0;
  std::vector<certbridge::v1::RegisterRequest> register_requests;
  int polls = 0;
  std::vector<certbridge::v1::JobResult> job_results;
};

class FakeAgentService final : public certbridge::v1::AgentService::Service {
 public:
  explicit FakeAgentService(const TestPki& pki) : pki_(pki) {}

  // --- Script (thread-safe; set before the agent acts) ---
  // Every Connect ends at once with this status.
  void RefuseConnects(grpc::Status status);
  // The first `count` streams end with `status` right after the Hello.
  void EndStreamsAfterHello(int count, grpc::Status status);
  // The first `count` streams get Drain{reconnect_after_ms} right after the config.
  void DrainAfterHello(int count, int reconnect_after_ms);
  // After answering a renewal, send Drain{0}, so the next stream shows the new certificate.
  void DrainAfterRenewal();
  void SetHeartbeatIntervalSeconds(int seconds);
  // Lifetime of renewed certificates (default 1 h, notBefore = now - 1 min).
  void SetRenewedLifetime(absl::Duration lifetime);
  // Answer renewals with a certificate for some other key.
  void AnswerRenewalsWithWrongKey();
  // Registration: GetRegistration answers PENDING this many times before APPROVED.
  void SetPendingPolls(int count);
  // Registration: GetRegistration fails with this status (OK: stop failing).
  void FailPolls(grpc::Status status);
  // The next stream gets these jobs right after its config (once).
  void SendJobsAfterHello(std::vector<certbridge::v1::Job> jobs);
  // Whether each JobResult is answered with a JobAck (default true).
  void SetAckResults(bool ack);
  // Accepted enrollment token (default "good-token").
  void SetEnrollmentToken(std::string token);
  // Registration: APPROVED carries this delivery certificate fingerprint and PEM (default
  // none, as for a tenant without one).
  void SetApprovalDeliveryCertificate(std::string sha256, std::string pem);

  // --- Observation ---
  Observed observed() const;
  // Waits until `condition` holds (true) or `timeout` passes (false).
  bool WaitFor(const std::function<bool(const Observed&)>& condition, absl::Duration timeout);

  // --- AgentService ---
  grpc::Status Register(grpc::ServerContext* ctx, const certbridge::v1::RegisterRequest* request,
                        certbridge::v1::RegisterResponse* response) override;
  grpc::Status GetRegistration(grpc::ServerContext* ctx,
                               const certbridge::v1::GetRegistrationRequest* request,
                               certbridge::v1::GetRegistrationResponse* response) override;
  grpc::Status Connect(grpc::ServerContext* ctx,
                       grpc::ServerReaderWriter<certbridge::v1::BrokerMessage,
                                                certbridge::v1::AgentMessage>* stream) override;

 private:
  const TestPki& pki_;
  mutable absl::Mutex mu_;
  Observed observed_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> refuse_ ABSL_GUARDED_BY(mu_);
  int end_after_hello_count_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::Status end_after_hello_status_ ABSL_GUARDED_BY(mu_);
  int drain_after_hello_count_ ABSL_GUARDED_BY(mu_) = 0;
  int drain_after_hello_ms_ ABSL_GUARDED_BY(mu_) = 0;
  bool drain_after_renewal_ ABSL_GUARDED_BY(mu_) = false;
  int heartbeat_interval_seconds_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Duration renewed_lifetime_ ABSL_GUARDED_BY(mu_) = absl::Hours(1);
  bool wrong_key_ ABSL_GUARDED_BY(mu_) = false;
  int pending_polls_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<grpc::Status> poll_error_ ABSL_GUARDED_BY(mu_);
  std::string token_ ABSL_GUARDED_BY(mu_) = "good-token";
  std::string approval_delivery_sha256_ ABSL_GUARDED_BY(mu_);
  std::string approval_delivery_pem_ ABSL_GUARDED_BY(mu_);
  std::vector<certbridge::v1::Job> jobs_to_send_ ABSL_GUARDED_BY(mu_);
  bool ack_results_ ABSL_GUARDED_BY(mu_) = true;
};

// A TLS server on 127.0.0.1 (port 0) that requests, and verifies when given, a client
// certificate from the connector CA.
class FakeBroker {
 public:
  static std::unique_ptr<FakeBroker> Start(FakeAgentService& service, const TestPki& pki);
  ~FakeBroker();
  // "127.0.0.1:PORT"
  std::string address() const;

 private:
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace certbridge::agent::testing

#endif  // CERTBRIDGE_TESTS_AGENT_CLIENT_FAKE_AGENT_SERVICE_H_
