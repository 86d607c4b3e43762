// Test doubles for certbridgectl's gRPC path: fake AdminService and CertificateService that
// record what they were sent, served over TLS on 127.0.0.1:0 with a self-signed certificate
// made by the openssl CLI, and BrokerCallTest, a fixture that runs RunCertbridgectl against
// them in one process.
#ifndef CERTBRIDGE_TESTS_TOOLS_CERTBRIDGECTL_FAKE_BROKER_H_
#define CERTBRIDGE_TESTS_TOOLS_CERTBRIDGECTL_FAKE_BROKER_H_

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "certbridge/v1/admin.grpc.pb.h"
#include "certbridge/v1/certificate.grpc.pb.h"
#include "common/clock.h"
#include "gtest/gtest.h"
#include "tools/certbridgectl/commands.h"

namespace certbridge::ctl::fakes {

inline constexpr char kApiKey[] = "cbk_test_5ecret";

// What a fake received with one call. Calls without `Bearer kApiKey` are recorded and
// answered UNAUTHENTICATED.
struct Received {
  std::string method;
  std::string authorization;
  // The key field of the request: a registration code, a request's name, ...
  std::string registration_code;
  // InfiniteDuration when the call had no deadline.
  absl::Duration deadline_from_now;
};

inline grpc::Status RecordCall(grpc::ServerContext* context, std::string method,
                               std::string code, absl::Mutex& mu,
                               std::vector<Received>& calls) {
  Received received;
  received.method = std::move(method);
  received.registration_code = std::move(code);
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    received.authorization = std::string(it->second.data(), it->second.size());
  }
  received.deadline_from_now =
      context->deadline() == std::chrono::system_clock::time_point::max()
          ? absl::InfiniteDuration()
          : absl::FromChrono(context->deadline()) - absl::Now();
  const bool authorized = received.authorization == absl::StrCat("Bearer ", kApiKey);
  {
    absl::MutexLock lock(&mu);
    calls.push_back(std::move(received));
  }
  if (!authorized) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "API key not recognised");
  }
  return grpc::Status::OK;
}

// Answers like a broker with one pending connector whose registration code is "K7XQ-2M9P".
// Thread-safe: gRPC runs the handlers on its own threads.
class FakeAdminService final : public v1::AdminService::Service {
 public:
  grpc::Status ApproveConnector(grpc::ServerContext* context,
                                const v1::ApproveConnectorRequest* request,
                                v1::Connector* response) override {
    if (grpc::Status status = Record(context, "ApproveConnector", request->registration_code());
        !status.ok()) {
      return status;
    }
    if (request->registration_code() != "K7XQ-2M9P") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrFormat("registration code \"%s\" not found or expired",
                                          request->registration_code()));
    }
    response->set_connector_id("c-42");
    response->set_state(v1::Connector::STATE_ACTIVE);
    response->set_host("adcs01.corp.example.com");
    return grpc::Status::OK;
  }

  grpc::Status ListConnectors(grpc::ServerContext* context, const v1::ListConnectorsRequest*,
                              v1::ListConnectorsResponse* response) override {
    if (grpc::Status status = Record(context, "ListConnectors", ""); !status.ok()) {
      return status;
    }
    v1::Connector* connector = response->add_connectors();
    connector->set_connector_id("c-42");
    connector->set_state(v1::Connector::STATE_ACTIVE);
    return grpc::Status::OK;
  }

  grpc::Status CreateEnrollmentToken(grpc::ServerContext* context,
                                     const v1::CreateEnrollmentTokenRequest*,
                                     v1::CreateEnrollmentTokenResponse* response) override {
    if (grpc::Status status = Record(context, "CreateEnrollmentToken", ""); !status.ok()) {
      return status;
    }
    response->set_token("cbe_one_time_token");
    return grpc::Status::OK;
  }

  grpc::Status SetDeliveryCertificate(grpc::ServerContext* context,
                                      const v1::SetDeliveryCertificateRequest* request,
                                      v1::DeliveryCertificate* response) override {
    if (grpc::Status status = Record(context, "SetDeliveryCertificate", ""); !status.ok()) {
      return status;
    }
    absl::MutexLock lock(&mu_);
    delivery_certificate_pem_ = request->certificate_pem();
    response->set_certificate_pem(request->certificate_pem());
    response->set_subject("CN=Acme MDM delivery");
    return grpc::Status::OK;
  }

  std::vector<Received> received() const {
    absl::MutexLock lock(&mu_);
    return received_;
  }

  std::string delivery_certificate_pem() const {
    absl::MutexLock lock(&mu_);
    return delivery_certificate_pem_;
  }

 private:
  // RecordCall locks mu_ itself; the analysis cannot see through the reference.
  grpc::Status Record(grpc::ServerContext* context, std::string method, std::string code)
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return RecordCall(context, std::move(method), std::move(code), mu_, received_);
  }

  mutable absl::Mutex mu_;
  std::vector<Received> received_ ABSL_GUARDED_BY(mu_);
  std::string delivery_certificate_pem_ ABSL_GUARDED_BY(mu_);
};

// Answers every unary call with the CertificateRequest the test set (`set_response`), and a
// watch with the events the test set followed by `watch_end` (or, with
// `set_watch_waits_for_cancel`, by waiting until the client cancels). Records every request
// it was sent. Thread-safe.
class FakeCertificateService final : public v1::CertificateService::Service {
 public:
  void set_response(v1::CertificateRequest response) {
    absl::MutexLock lock(&mu_);
    response_ = std::move(response);
  }
  void set_watch(std::vector<v1::CertificateRequestEvent> events, grpc::Status end) {
    absl::MutexLock lock(&mu_);
    watch_events_ = std::move(events);
    watch_end_ = std::move(end);
  }
  void set_watch_waits_for_cancel() {
    absl::MutexLock lock(&mu_);
    watch_waits_for_cancel_ = true;
  }

  grpc::Status CreateCertificateRequest(grpc::ServerContext* context,
                                        const v1::CreateCertificateRequestRequest* request,
                                        v1::CertificateRequest* response) override {
    // Answer runs `keep` with mu_ held.
    return Answer(context, "CreateCertificateRequest", request->request_id(), response,
                  [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { create_requests_.push_back(*request); });
  }

  grpc::Status GetCertificateRequest(grpc::ServerContext* context,
                                     const v1::GetCertificateRequestRequest* request,
                                     v1::CertificateRequest* response) override {
    return Answer(context, "GetCertificateRequest", request->name(), response, [] {});
  }

  grpc::Status RevokeCertificate(grpc::ServerContext* context,
                                 const v1::RevokeCertificateRequest* request,
                                 v1::CertificateRequest* response) override {
    return Answer(context, "RevokeCertificate", request->name(), response,
                  [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { revoke_requests_.push_back(*request); });
  }

  grpc::Status WatchCertificateRequests(
      grpc::ServerContext* context, const v1::WatchCertificateRequestsRequest* request,
      grpc::ServerWriter<v1::CertificateRequestEvent>* writer) override
      ABSL_NO_THREAD_SAFETY_ANALYSIS {  // RecordCall locks mu_ itself
    if (grpc::Status status = RecordCall(context, "WatchCertificateRequests",
                                         request->cursor(), mu_, received_);
        !status.ok()) {
      return status;
    }
    std::vector<v1::CertificateRequestEvent> events;
    grpc::Status end;
    bool wait_for_cancel = false;
    {
      absl::MutexLock lock(&mu_);
      events = watch_events_;
      end = watch_end_;
      wait_for_cancel = watch_waits_for_cancel_;
    }
    for (const v1::CertificateRequestEvent& event : events) {
      if (!writer->Write(event)) return grpc::Status::CANCELLED;
      absl::MutexLock lock(&mu_);
      ++events_written_;
    }
    if (wait_for_cancel) {
      // Polls the condition with a deadline, so a client that never cancels fails the test
      // instead of hanging it.
      const absl::Time deadline = absl::Now() + absl::Seconds(30);
      while (!context->IsCancelled() && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(5));
      }
      return context->IsCancelled() ? grpc::Status::CANCELLED
                                     : grpc::Status(grpc::StatusCode::INTERNAL, "never cancelled");
    }
    return end;
  }

  std::vector<Received> received() const {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  std::vector<v1::CreateCertificateRequestRequest> create_requests() const {
    absl::MutexLock lock(&mu_);
    return create_requests_;
  }
  std::vector<v1::RevokeCertificateRequest> revoke_requests() const {
    absl::MutexLock lock(&mu_);
    return revoke_requests_;
  }
  int events_written() const {
    absl::MutexLock lock(&mu_);
    return events_written_;
  }

 private:
  template <typename Keep>
  grpc::Status Answer(grpc::ServerContext* context, std::string method, std::string key,
                      v1::CertificateRequest* response, Keep keep)
      ABSL_NO_THREAD_SAFETY_ANALYSIS {  // RecordCall locks mu_ itself
    if (grpc::Status status = RecordCall(context, std::move(method), std::move(key), mu_,
                                         received_);
        !status.ok()) {
      return status;
    }
    absl::MutexLock lock(&mu_);
    keep();
    *response = response_;
    return grpc::Status::OK;
  }

  mutable absl::Mutex mu_;
  std::vector<Received> received_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::CreateCertificateRequestRequest> create_requests_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::RevokeCertificateRequest> revoke_requests_ ABSL_GUARDED_BY(mu_);
  v1::CertificateRequest response_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::CertificateRequestEvent> watch_events_ ABSL_GUARDED_BY(mu_);
  grpc::Status watch_end_ ABSL_GUARDED_BY(mu_);
  bool watch_waits_for_cancel_ ABSL_GUARDED_BY(mu_) = false;
  int events_written_ ABSL_GUARDED_BY(mu_) = 0;
};

inline std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

// A self-signed certificate for 127.0.0.1 and localhost, written as <name>.key/<name>.pem.
inline void MakeSelfSignedCertificate(const std::filesystem::path& dir,
                                      const std::string& name) {
  const std::string command = absl::StrFormat(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost "
      "-keyout '%s' -out '%s' >'%s' 2>&1",
      (dir / (name + ".key")).string(), (dir / (name + ".pem")).string(),
      (dir / "openssl.log").string());
  ASSERT_EQ(std::system(command.c_str()), 0) << ReadAll(dir / "openssl.log");
}

// Both fakes on one TLS port, a temporary directory (dir_), and Run(), which calls
// RunCertbridgectl with --broker and --ca-cert pointing at the fakes.
class BrokerCallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/certbridgectl.XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    ASSERT_NO_FATAL_FAILURE(MakeSelfSignedCertificate(dir_, "broker"));

    grpc::SslServerCredentialsOptions tls;
    tls.pem_key_cert_pairs.push_back(
        {ReadAll(dir_ / "broker.key"), ReadAll(dir_ / "broker.pem")});
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &port);
    builder.RegisterService(&admin_service_);
    builder.RegisterService(&certificate_service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    broker_ = absl::StrCat("127.0.0.1:", port);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::vector<std::string> FullArgs(const std::vector<std::string>& args) const {
    std::vector<std::string> full = {"--broker", broker_, "--ca-cert",
                                     (dir_ / "broker.pem").string()};
    full.insert(full.end(), args.begin(), args.end());
    return full;
  }

  int Run(const std::vector<std::string>& args, Interrupter* interrupter = nullptr) {
    out_.str("");
    err_.str("");
    return RunCertbridgectl(FullArgs(args), env_, clock_, out_, err_, interrupter);
  }

  std::filesystem::path dir_;
  FakeAdminService admin_service_;
  FakeCertificateService certificate_service_;
  std::unique_ptr<grpc::Server> server_;
  std::string broker_;
  Environment env_ = {{"CERTBRIDGE_API_KEY", kApiKey}};
  FakeClock clock_;
  std::ostringstream out_;
  std::ostringstream err_;
};

}  // namespace certbridge::ctl::fakes

#endif  // CERTBRIDGE_TESTS_TOOLS_CERTBRIDGECTL_FAKE_BROKER_H_
