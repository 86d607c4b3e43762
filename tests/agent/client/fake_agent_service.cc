#include "tests/agent/client/fake_agent_service.h"

#include <utility>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace certbridge::agent::testing {

namespace v1 = ::certbridge::v1;

namespace {

constexpr const char* kServerAuth = "1.3.6.1.5.5.7.3.1";
constexpr const char* kClientAuth = "1.3.6.1.5.5.7.3.2";

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* ts) {
  ts->set_seconds(absl::ToUnixSeconds(t));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestPki>> TestPki::Create() {
  auto pki = std::unique_ptr<TestPki>(new TestPki());
  absl::Time now = absl::Now();
  ASSIGN_OR_RETURN(pki->broker_ca_,
                   pki::SigningCa::CreateSelfSigned("CN=test broker root", pki::KeyType::kEcP256,
                                                    now - absl::Hours(1), now + absl::Hours(48)));
  ASSIGN_OR_RETURN(pki->connector_ca_, pki::SigningCa::CreateSelfSigned(
                                           "CN=test connector CA", pki::KeyType::kEcP256,
                                           now - absl::Hours(24), now + absl::Hours(48)));
  ASSIGN_OR_RETURN(pki::PrivateKey server_key, pki::PrivateKey::Generate(pki::KeyType::kEcP256));
  ASSIGN_OR_RETURN(
      std::string csr,
      pki::CreateCsrPem(server_key,
                        {.subject = "CN=localhost",
                         .sans = {{pki::SubjectAltName::Type::kDns, "localhost"},
                                  {pki::SubjectAltName::Type::kIp, "127.0.0.1"}}}));
  ASSIGN_OR_RETURN(pki::CsrInfo info, pki::ParseCsr(csr));
  pki::IssueParams params;
  params.csr_der = info.der;
  params.not_before = now - absl::Minutes(5);
  params.not_after = now + absl::Hours(24);
  params.extended_key_usages = {kServerAuth};
  ASSIGN_OR_RETURN(pki::CertificateInfo server, pki->broker_ca_->Issue(params));
  pki->server_chain_pem_ = server.pem;
  pki->server_key_pem_ = server_key.ToPem();
  return pki;
}

absl::StatusOr<std::string> TestPki::IssueAgentChain(absl::string_view csr_pem,
                                                     absl::Time not_before,
                                                     absl::Time not_after) const {
  ASSIGN_OR_RETURN(pki::CsrInfo info, pki::ParseCsr(csr_pem));
  pki::IssueParams params;
  params.csr_der = info.der;
  params.override_sans = true;
  params.sans = {{pki::SubjectAltName::Type::kUri, "certbridge://tenant/t-1/connector/c-1"}};
  params.not_before = not_before;
  params.not_after = not_after;
  params.extended_key_usages = {kClientAuth};
  ASSIGN_OR_RETURN(pki::CertificateInfo leaf, connector_ca_->Issue(params));
  return absl::StrCat(leaf.pem, connector_ca_->certificate().pem);
}

void FakeAgentService::RefuseConnects(grpc::Status status) {
  absl::MutexLock lock(&mu_);
  refuse_ = std::move(status);
}
void FakeAgentService::EndStreamsAfterHello(int count, grpc::Status status) {
  absl::MutexLock lock(&mu_);
  end_after_hello_count_ = count;
  end_after_hello_status_ = std::move(status);
}
void FakeAgentService::DrainAfterHello(int count, int reconnect_after_ms) {
  absl::MutexLock lock(&mu_);
  drain_after_hello_count_ = count;
  drain_after_hello_ms_ = reconnect_after_ms;
}
void FakeAgentService::DrainAfterRenewal() {
  absl::MutexLock lock(&mu_);
  drain_after_renewal_ = true;
}
void FakeAgentService::SetHeartbeatIntervalSeconds(int seconds) {
  absl::MutexLock lock(&mu_);
  heartbeat_interval_seconds_ = seconds;
}
void FakeAgentService::SetRenewedLifetime(absl::Duration lifetime) {
  absl::MutexLock lock(&mu_);
  renewed_lifetime_ = lifetime;
}
void FakeAgentService::AnswerRenewalsWithWrongKey() {
  absl::MutexLock lock(&mu_);
  wrong_key_ = true;
}
void FakeAgentService::SetPendingPolls(int count) {
  absl::MutexLock lock(&mu_);
  pending_polls_ = count;
}
void FakeAgentService::FailPolls(grpc::Status status) {
  absl::MutexLock lock(&mu_);
  if (status.ok()) {
    poll_error_.reset();
  } else {
    poll_error_ = std::move(status);
  }
}
void FakeAgentService::SendJobsAfterHello(std::vector<v1::Job> jobs) {
  absl::MutexLock lock(&mu_);
  jobs_to_send_ = std::move(jobs);
}
void FakeAgentService::SetAckResults(bool ack) {
  absl::MutexLock lock(&mu_);
  ack_results_ = ack;
}
void FakeAgentService::SetEnrollmentToken(std::string token) {
  absl::MutexLock lock(&mu_);
  token_ = std::move(token);
}

Observed FakeAgentService::observed() const {
  absl::MutexLock lock(&mu_);
  return observed_;
}

bool FakeAgentService::WaitFor(const std::function<bool(const Observed&)>& condition,
                               absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto holds = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return condition(observed_); };
  return mu_.AwaitWithTimeout(absl::Condition(&holds), timeout);
}

grpc::Status FakeAgentService::Register(grpc::ServerContext*, const v1::RegisterRequest* request,
                                        v1::RegisterResponse* response) {
  absl::MutexLock lock(&mu_);
  observed_.register_requests.push_back(*request);
  if (request->enrollment_token() != token_) {
    // As the broker (broker/service/agent_api.cc) answers.
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "enrollment token is not valid for this broker; ask a tenant admin for "
                        "a new one (`certbridgectl enrollment-tokens create`)");
  }
  response->set_connector_id("c-1");
  response->set_registration_code("K7QX-M2PD");
  response->set_registration_url("https://broker.example/connectors/approve");
  SetTimestamp(absl::Now() + absl::Minutes(15), response->mutable_code_expire_time());
  response->set_poll_secret("poll-secret");
  return grpc::Status::OK;
}

void FakeAgentService::SetApprovalDeliveryCertificate(std::string sha256, std::string pem) {
  absl::MutexLock lock(&mu_);
  approval_delivery_sha256_ = std::move(sha256);
  approval_delivery_pem_ = std::move(pem);
}

grpc::Status FakeAgentService::GetRegistration(grpc::ServerContext*,
                                               const v1::GetRegistrationRequest* request,
                                               v1::GetRegistrationResponse* response) {
  std::string csr;
  std::string delivery_sha256;
  std::string delivery_pem;
  {
    absl::MutexLock lock(&mu_);
    delivery_sha256 = approval_delivery_sha256_;
    delivery_pem = approval_delivery_pem_;
    ++observed_.polls;
    if (poll_error_.has_value()) return *poll_error_;
    if (request->connector_id() != "c-1" || request->poll_secret() != "poll-secret" ||
        observed_.register_requests.empty()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "registration not found");
    }
    if (observed_.polls <= pending_polls_) {
      response->set_state(v1::GetRegistrationResponse::STATE_PENDING);
      return grpc::Status::OK;
    }
    csr = observed_.register_requests.back().csr_pem();
  }
  absl::Time now = absl::Now();
  absl::StatusOr<std::string> chain =
      pki_.IssueAgentChain(csr, now - absl::Minutes(5), now + absl::Hours(72));
  if (!chain.ok()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(chain.status().message()));
  }
  response->set_state(v1::GetRegistrationResponse::STATE_APPROVED);
  response->set_tenant_id("t-1");
  response->set_connector_id("c-1");
  response->set_certificate_chain_pem(*chain);
  response->set_delivery_certificate_sha256(delivery_sha256);
  response->set_delivery_certificate_pem(delivery_pem);
  return grpc::Status::OK;
}

grpc::Status FakeAgentService::Connect(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<v1::BrokerMessage, v1::AgentMessage>* stream) {
  std::string serial;
  for (const auto& pem : ctx->auth_context()->FindPropertyValues("x509_pem_cert")) {
    absl::StatusOr<pki::CertificateInfo> cert =
        pki::ParseCertificate(absl::string_view(pem.data(), pem.size()));
    if (cert.ok()) serial = cert->serial_hex;
  }
  int index;
  {
    absl::MutexLock lock(&mu_);
    index = observed_.connections++;
    observed_.client_serials.push_back(serial);
    if (refuse_.has_value()) return *refuse_;
  }
  if (serial.empty()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no client certificate");
  }
  v1::AgentMessage msg;
  while (stream->Read(&msg)) {
    switch (msg.body_case()) {
      case v1::AgentMessage::kHello: {
        v1::BrokerMessage config;
        bool end, drain;
        int drain_ms;
        grpc::Status end_status;
        std::vector<v1::Job> jobs;
        bool ack_journal;
        {
          absl::MutexLock lock(&mu_);
          observed_.hellos.push_back(msg.hello());
          ack_journal = ack_results_;
          jobs.swap(jobs_to_send_);
          config.mutable_config()->set_tenant_id("t-1");
          config.mutable_config()->set_connector_id("c-1");
          config.mutable_config()->set_heartbeat_interval_seconds(heartbeat_interval_seconds_);
          v1::AssignedCa* ca = config.mutable_config()->add_assigned_cas();
          ca->set_ca_id("ca-1");
          ca->set_config_string("adcs01.corp.example\\Corp Issuing CA");
          ca->set_display_name("Corp Issuing CA");
          end = index < end_after_hello_count_;
          end_status = end_after_hello_status_;
          drain = index < drain_after_hello_count_;
          drain_ms = drain_after_hello_ms_;
        }
        if (end) return end_status;
        stream->Write(config);
        // As the broker: each journal result in Hello is acknowledged.
        for (const v1::JobResult& r : msg.hello().journal_results()) {
          if (!ack_journal) break;
          v1::BrokerMessage m;
          m.mutable_job_ack()->set_job_id(r.job_id());
          stream->Write(m);
        }
        for (const v1::Job& job : jobs) {
          v1::BrokerMessage m;
          *m.mutable_job() = job;
          stream->Write(m);
        }
        if (drain) {
          v1::BrokerMessage d;
          d.mutable_drain()->set_reconnect_after_ms(drain_ms);
          stream->Write(d);
        }
        break;
      }
      case v1::AgentMessage::kHeartbeat: {
        absl::MutexLock lock(&mu_);
        ++observed_.heartbeats;
        break;
      }
      case v1::AgentMessage::kJobResult: {
        bool ack;
        {
          absl::MutexLock lock(&mu_);
          observed_.job_results.push_back(msg.job_result());
          ack = ack_results_;
        }
        if (ack) {
          v1::BrokerMessage m;
          m.mutable_job_ack()->set_job_id(msg.job_result().job_id());
          stream->Write(m);
        }
        break;
      }
      case v1::AgentMessage::kRenewalRequest: {
        std::string csr = msg.renewal_request().csr_pem();
        absl::Duration lifetime;
        bool wrong_key, drain;
        {
          absl::MutexLock lock(&mu_);
          observed_.renewal_csrs.push_back(csr);
          lifetime = renewed_lifetime_;
          wrong_key = wrong_key_;
          drain = drain_after_renewal_;
        }
        if (wrong_key) {
          absl::StatusOr<pki::PrivateKey> other = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
          if (!other.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "keygen");
          csr = *pki::CreateCsrPem(*other, {.subject = "CN=someone else", .sans = {}});
        }
        absl::Time now = absl::Now();
        absl::StatusOr<std::string> chain =
            pki_.IssueAgentChain(csr, now - absl::Minutes(1), now + lifetime);
        if (!chain.ok()) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              std::string(chain.status().message()));
        }
        v1::BrokerMessage renewed;
        renewed.mutable_renewed_certificate()->set_certificate_chain_pem(*chain);
        stream->Write(renewed);
        {
          absl::MutexLock lock(&mu_);
          ++observed_.renewals_answered;
        }
        if (drain) {
          v1::BrokerMessage d;
          d.mutable_drain()->set_reconnect_after_ms(0);
          stream->Write(d);
        }
        break;
      }
      default:
        break;
    }
  }
  return grpc::Status::OK;
}

std::unique_ptr<FakeBroker> FakeBroker::Start(FakeAgentService& service, const TestPki& pki) {
  auto broker = std::unique_ptr<FakeBroker>(new FakeBroker());
  grpc::SslServerCredentialsOptions tls(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  tls.pem_root_certs = pki.connector_ca_pem();
  tls.pem_key_cert_pairs.push_back({pki.server_key_pem(), pki.server_chain_pem()});
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &broker->port_);
  builder.RegisterService(&service);
  // As the real broker's --max_message_bytes default: a larger Hello is refused.
  builder.SetMaxReceiveMessageSize(1 << 20);
  // As the real broker: idle agents ping every 30 s and must not be punished for it.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  broker->server_ = builder.BuildAndStart();
  if (broker->server_ == nullptr || broker->port_ == 0) return nullptr;
  return broker;
}

FakeBroker::~FakeBroker() {
  if (server_) server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
}

std::string FakeBroker::address() const { return absl::StrCat("127.0.0.1:", port_); }

}  // namespace certbridge::agent::testing
