#include "tools/bench/certificate_client.h"

#include <atomic>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/pki/pki.h"

namespace certbridge::bench {
namespace {

using testing::BrokerProcess;
using testing::CallContext;
using testing::TestStack;
using v1::CertificateRequest;

bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::ABORTED || code == grpc::StatusCode::CANCELLED ||
         code == grpc::StatusCode::UNKNOWN || code == grpc::StatusCode::INTERNAL;
}

}  // namespace

// By name without the "STATE_" prefix the proto's enum values are gaining, so that this
// reads the same on both sides of that rename.
bool Issued(const Outcome& outcome) {
  return outcome.error.empty() &&
         absl::StripPrefix(CertificateRequest::State_Name(outcome.request.state()), "STATE_") ==
             "ISSUED";
}

absl::StatusOr<std::vector<std::string>> MakeCsrs(int count, const std::string& prefix) {
  std::vector<std::string> csrs;
  csrs.reserve(count);
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> csr =
        pki::CreateCsrPem(*key, {.subject = absl::StrCat("CN=", prefix, "-", i, ",O=Bench")});
    if (!csr.ok()) return csr.status();
    csrs.push_back(*std::move(csr));
  }
  return csrs;
}

absl::StatusOr<Tenant> CreateTenant(TestStack& stack, const BrokerProcess& broker) {
  auto admin = stack.AdminStub(broker);
  v1::CreateTenantRequest create;
  create.set_display_name("bench");
  v1::Tenant tenant;
  grpc::Status s = admin->CreateTenant(CallContext(stack.operator_key()).get(), create, &tenant);
  if (!s.ok()) return absl::InternalError("CreateTenant: " + s.error_message());
  v1::CreateApiKeyRequest key_request;
  key_request.set_tenant_id(tenant.tenant_id());
  key_request.add_scopes("admin,certificates");
  v1::CreateApiKeyResponse key;
  s = admin->CreateApiKey(CallContext(stack.operator_key()).get(), key_request, &key);
  if (!s.ok()) return absl::InternalError("CreateApiKey: " + s.error_message());
  v1::CreateCertificateAuthorityRequest ca_request;
  ca_request.set_config_string(kCaConfig);
  v1::CertificateAuthority ca;
  s = admin->CreateCertificateAuthority(CallContext(key.secret()).get(), ca_request, &ca);
  if (!s.ok()) return absl::InternalError("CreateCertificateAuthority: " + s.error_message());
  return Tenant{key.secret(), ca.ca_id()};
}

absl::Status WaitConnected(TestStack& stack, const BrokerProcess& broker, const Tenant& tenant,
                           const std::string& connector_id) {
  auto admin = stack.AdminStub(broker);
  const bool connected = testing::WaitUntil(
      [&] {
        v1::GetConnectorRequest get;
        get.set_connector_id(connector_id);
        v1::Connector c;
        return admin->GetConnector(CallContext(tenant.key).get(), get, &c).ok() &&
               absl::StripPrefix(v1::Connector::Connectivity_Name(c.connectivity()),
                                 "CONNECTIVITY_") == "CONNECTED";
      },
      absl::Seconds(60));
  if (!connected) return absl::DeadlineExceededError("connector " + connector_id + " never connected");
  return absl::OkStatus();
}

std::unique_ptr<v1::CertificateService::Stub> CertificateClient(const std::string& tls_root_pem,
                                                                const std::string& address) {
  static std::atomic<int> channel_number{0};
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = tls_root_pem;
  grpc::ChannelArguments args;
  args.SetInt("certbridge.bench.channel", channel_number.fetch_add(1));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 250);
  return v1::CertificateService::NewStub(
      grpc::CreateCustomChannel(address, grpc::SslCredentials(tls), args));
}

// After a failed call the retries go over a channel of their own: gRPC 1.51's channel to a
// broker that was killed and restarted on the same port was seen to stay in
// TRANSIENT_FAILURE ("failed to connect to all addresses") for minutes, and a fresh channel
// is what a client that reconnects would use anyway.
Outcome CreateUntilTerminal(v1::CertificateService::Stub& shared, const ClientConfig& client,
                            const v1::CreateCertificateRequestRequest& request,
                            absl::Duration budget) {
  Outcome outcome;
  std::unique_ptr<v1::CertificateService::Stub> own;
  const absl::Time deadline = absl::Now() + budget;
  while (absl::Now() < deadline) {
    outcome.last_attempt_start = absl::Now();
    v1::CertificateService::Stub& stub = own != nullptr ? *own : shared;
    grpc::Status s = stub.CreateCertificateRequest(
        CallContext(client.api_key, absl::Seconds(45)).get(), request, &outcome.request);
    if (s.ok() && testing::IsTerminal(outcome.request.state())) {
      outcome.error.clear();
      return outcome;
    }
    if (!s.ok()) {
      outcome.error = absl::StrCat("status ", s.error_code(), ": ", s.error_message());
      if (!Retryable(s.error_code())) return outcome;
      if (client.verbose) {
        std::fprintf(stderr, "retrying %s: %s\n", request.request_id().c_str(), outcome.error.c_str());
      }
      // The broker is down or restarting: retry soon (backoff, not synchronisation).
      absl::SleepFor(absl::Milliseconds(50));
      own = CertificateClient(client.tls_root_pem, client.address);
    } else {
      outcome.error = "still " + CertificateRequest::State_Name(outcome.request.state());
    }
  }
  return outcome;
}

v1::CreateCertificateRequestRequest CsrRequest(const Tenant& tenant, const std::string& id,
                                               const std::string& csr) {
  v1::CreateCertificateRequestRequest r;
  r.set_request_id(id);
  r.set_ca_id(tenant.ca_id);
  r.set_template_name(kTemplate);
  r.set_csr_pem(csr);
  r.mutable_wait_timeout()->set_seconds(30);
  return r;
}

void IssuedLedger::Record(int index, const Outcome& outcome) {
  absl::MutexLock lock(&mu_);
  if (Issued(outcome)) {
    if (!serials_.insert(outcome.request.serial_number()).second) ++duplicates_;
  } else {
    ++not_issued_;
    if (first_errors_.size() < 5) {
      first_errors_.push_back(absl::StrCat(
          "request ", index, ": ",
          outcome.error.empty() ? CertificateRequest::State_Name(outcome.request.state())
                                : outcome.error,
          " ", outcome.request.error_message()));
    }
  }
}

int IssuedLedger::duplicates() const {
  absl::MutexLock lock(&mu_);
  return duplicates_;
}

int IssuedLedger::not_issued() const {
  absl::MutexLock lock(&mu_);
  return not_issued_;
}

void IssuedLedger::PrintErrors() const {
  absl::MutexLock lock(&mu_);
  for (const std::string& e : first_errors_) std::fprintf(stderr, "  %s\n", e.c_str());
}

}  // namespace certbridge::bench
