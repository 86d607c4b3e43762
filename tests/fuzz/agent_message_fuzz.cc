// The broker's handling of what an agent sends on its stream: the bytes of one serialized
// v1::AgentMessage (as the agent port reads it), then what AgentGrpcService does with each
// kind of message, at the level of its decisions, without threads or network:
//   job_result / hello.journal_results -> CheckResultSender and OutcomeOfJob, as
//     JobDispatcher::HandleResult uses them, for a SUBMIT (CSR mode and key-generation
//     mode), a RETRIEVE and a REVOKE job of fixed requests;
//   hello            -> AgentApi::RecordHello against the FakeStore;
//   heartbeat        -> AgentApi::RecordHeartbeat;
//   renewal_request  -> AgentApi::Renew (the connector CA signs the CSR).
// Properties: every result ends in a completion the store accepts: OutcomeOfJob either
// decides or refuses with INVALID_ARGUMENT, and then the dispatcher's replacement result
// (error_code INVALID_ARGUMENT) always decides; the job stays the job reported on; an
// issued certificate in CSR mode is for the CSR's key; a follow-up job passes ValidateJob.
// Hello and renewal answer OK or the documented INVALID_ARGUMENT / FAILED_PRECONDITION;
// what Hello records is what it sent; a renewed chain verifies and names the connector.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "broker/service/agent_api.h"
#include "broker/service/connector_ca.h"
#include "broker/service/job_outcome.h"
#include "broker/store/fake/fake_store.h"
#include "broker/store/record_validation.h"
#include "certbridge/v1/agent.pb.h"
#include "common/adcs/error_catalog.h"
#include "common/clock.h"
#include "common/pki/pki.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/stubs/logging.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace certbridge::broker;  // NOLINT: the target exercises this namespace only
namespace pki = certbridge::pki;
namespace v1 = certbridge::v1;

// The key of the CSR-mode request (a test key; the seed corpus holds certificates for it).
constexpr char kRequestKeyPem[] = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJveYPCs8W/7rgDWu
WsYd0UdEh9wuIg4ar7W+OZI+E8ihRANCAAQeMgz/b49fEFRQiY1zf4aUIA1rW7XR
pOSq3M38TlblpPTZhuT98W45aI+HHMKvACGRKd587PXEQtE78b08/9Dj
-----END PRIVATE KEY-----
)";

constexpr char kTenant[] = "t-1";
constexpr char kConnector[] = "conn-1";
constexpr char kCaIdentity[] = "CORP\\ADCS01$";

// What every input shares (the connector CA's key is generated once) ...
struct Fixed {
  certbridge::FakeClock clock;
  std::unique_ptr<ConnectorCa> connector_ca;
  std::string csr_public_key;
  std::vector<CertificateRequestRecord> requests;  // CSR mode, key-generation mode
  std::vector<JobRecord> jobs;                     // leased to kConnector
};

// ... and what each input gets new, so that its outcome does not depend on the inputs
// before it: a store holding the tenant and its ACTIVE connector, and the AgentApi on it.
struct Broker {
  const Fixed& fixed;
  FakeStore store;
  std::unique_ptr<AgentApi> api;
  ConnectorRecord connector;
  absl::Time connect_time;  // of the one stream the message arrives on
};

JobRecord LeasedJob(int64_t id, JobKind kind) {
  JobRecord job;
  job.job_id = id;
  job.tenant_id = kTenant;
  job.request_name = "req-1";
  job.ca_id = "ca-1";
  job.kind = kind;
  job.state = JobState::kLeased;
  job.connector_id = kConnector;
  job.attempts = 1 + static_cast<int>(id % 6);  // below and at max_unreachable_attempts
  job.revocation_reason = 4;
  return job;
}

Fixed* NewFixed() {
  auto* f = new Fixed;
  const absl::Time now = f->clock.Now();
  auto ca = pki::SigningCa::CreateSelfSigned("CN=Fuzz Connector CA", pki::KeyType::kEcP256,
                                             now - absl::Hours(1), now + absl::Hours(24 * 365));
  FUZZ_CHECK(ca.ok());
  f->connector_ca = std::make_unique<ConnectorCa>(*std::move(ca), absl::Hours(24 * 7));

  auto key = pki::PrivateKey::FromPem(kRequestKeyPem);
  FUZZ_CHECK(key.ok());
  auto csr = pki::CreateCsrPem(*key, {"CN=device-42", {}});
  FUZZ_CHECK(csr.ok());
  auto csr_info = pki::ParseCsr(*csr);
  FUZZ_CHECK(csr_info.ok());
  f->csr_public_key = csr_info->public_key_der;

  CertificateRequestRecord request;
  request.name = "req-1";
  request.tenant_id = kTenant;
  request.request_id = "mdm-1";
  request.ca_id = "ca-1";
  request.template_name = "CertbridgeDevice";
  request.state = RequestState::kDispatched;
  request.create_time = now - absl::Minutes(3);
  request.update_time = now - absl::Minutes(1);
  request.csr_pem = *csr;
  f->requests.push_back(request);
  request.csr_pem.clear();
  request.key_type = "EC-P256";
  request.subject = "CN=device-42";
  request.pkcs12_profile = "MODERN";
  f->requests.push_back(request);
  f->jobs = {LeasedJob(11, JobKind::kSubmit), LeasedJob(12, JobKind::kRetrieve),
             LeasedJob(13, JobKind::kRevoke)};
  return f;
}

const Fixed& FixedInstance() {
  static const Fixed* f = [] {
    // Invalid UTF-8 in a string field makes protobuf log an error per input; the parse
    // failing is all that matters here.
    google::protobuf::SetLogHandler(nullptr);
    return NewFixed();
  }();
  return *f;
}

void SetUpBroker(Broker& b) {
  const absl::Time now = b.fixed.clock.Now();
  b.connect_time = now;
  b.api = std::make_unique<AgentApi>(&b.store, &b.fixed.clock, b.fixed.connector_ca.get(),
                                     AgentApiOptions{});
  FUZZ_CHECK(b.store.CreateTenant({kTenant, "Tenant one", now}).ok());
  EnrollmentTokenRecord token;
  token.token_hash = "token-hash";
  token.tenant_id = kTenant;
  token.create_time = now;
  token.expire_time = now + absl::Hours(1);
  FUZZ_CHECK(b.store.CreateEnrollmentToken(token).ok());
  ConnectorRecord connector;
  connector.connector_id = kConnector;
  connector.host = "adcs01";
  connector.ca_identity = kCaIdentity;
  connector.registration_code_hash = "code-hash";
  connector.registration_code_expire_time = now + absl::Hours(1);
  connector.poll_secret_hash = pki::Sha256Hex("poll-secret");
  connector.create_time = now;
  FUZZ_CHECK(b.store.RegisterConnector("token-hash", now, connector).ok());
  FUZZ_CHECK(b.store.ApproveConnector(kTenant, kConnector, now, "", "1", now + absl::Hours(1))
                 .ok());
  auto stored = b.store.GetConnector(kTenant, kConnector, now);
  FUZZ_CHECK(stored.ok());
  b.connector = *stored;  // its chain is empty: Renew has no renewal interval to wait for
}

void CheckCompletion(const Broker& b, const CertificateRequestRecord& request,
                     const JobRecord& job, const JobCompletion& c) {
  FUZZ_CHECK(c.job_id == job.job_id && c.tenant_id == job.tenant_id);
  FUZZ_CHECK(c.connector_id == kConnector);
  FUZZ_CHECK(c.expected_request_state == request.state);
  FUZZ_CHECK(c.request.name == request.name && c.request.tenant_id == request.tenant_id);
  FUZZ_CHECK(c.job_state == JobState::kDone || c.job_state == JobState::kFailed ||
             c.job_state == JobState::kReady);
  if (c.request.state == RequestState::kIssued && request.state != RequestState::kIssued &&
      !request.csr_pem.empty()) {
    auto cert = pki::ParseCertificate(c.request.certificate_pem);
    FUZZ_CHECK(cert.ok() && pki::SamePublicKey(cert->public_key_der, b.fixed.csr_public_key));
    FUZZ_CHECK(cert->serial_hex == c.request.serial_hex);
  }
  if (c.follow_up.has_value()) {
    FUZZ_CHECK(ValidateJob(*c.follow_up).ok());
    // A RETRIEVE after UNDER_SUBMISSION, or a SUBMIT's retry (this job ends) after the CA
    // was unreachable: both pinned to the reporting identity, and in key-generation mode to
    // the connector that holds the key.
    FUZZ_CHECK(c.follow_up->kind == JobKind::kRetrieve ||
               (c.follow_up->kind == JobKind::kSubmit && job.kind == JobKind::kSubmit &&
                c.job_state == JobState::kFailed));
    FUZZ_CHECK(c.follow_up->required_identity ==
               (request.key_type.empty() ? std::string(kCaIdentity)
                                         : ConnectorBoundIdentity(kCaIdentity, kConnector)));
  }
}

void HandleResult(Broker& b, const v1::JobResult& result) {
  const std::vector<std::string> ca_ids = {"ca-1"};
  const absl::Time now = b.fixed.clock.Now();
  for (const JobRecord& job : b.fixed.jobs) {
    FUZZ_CHECK(CheckResultSender(job, kConnector, ca_ids).ok());
    FUZZ_CHECK(absl::IsPermissionDenied(CheckResultSender(job, "conn-2", ca_ids)));
    for (const CertificateRequestRecord& request : b.fixed.requests) {
      absl::StatusOr<JobCompletion> c = OutcomeOfJob(request, job, result, kConnector,
                                                     kCaIdentity, now, {});
      if (!c.ok()) {
        FUZZ_CHECK(absl::IsInvalidArgument(c.status()));
        v1::JobResult failed;
        failed.set_job_id(result.job_id());
        failed.set_error_code("INVALID_ARGUMENT");
        failed.set_error_message(std::string(c.status().message()));
        c = OutcomeOfJob(request, job, failed, kConnector, kCaIdentity, now, {});
        FUZZ_CHECK(c.ok());
      }
      CheckCompletion(b, request, job, *c);
    }
  }
}

void HandleHello(Broker& b, const v1::Hello& hello) {
  for (const v1::JobResult& result : hello.journal_results()) HandleResult(b, result);
  const absl::Status status = b.api->RecordHello(b.connector, hello, "replica-1", b.connect_time);
  if (!status.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(status) || absl::IsFailedPrecondition(status));
    // Only a different CA identity is refused with FAILED_PRECONDITION.
    FUZZ_CHECK(absl::IsInvalidArgument(status) ||
               (!hello.ca_identity().empty() &&
                !absl::EqualsIgnoreCase(hello.ca_identity(), kCaIdentity)));
    return;
  }
  auto stored = b.store.GetConnector(kTenant, kConnector, b.connect_time - absl::Minutes(1));
  FUZZ_CHECK(stored.ok());
  if (!hello.host().empty()) FUZZ_CHECK(stored->host == hello.host());
  if (!hello.os().empty()) FUZZ_CHECK(stored->os == hello.os());
  if (!hello.agent_version().empty()) FUZZ_CHECK(stored->agent_version == hello.agent_version());
  FUZZ_CHECK(stored->ca_identity == kCaIdentity);
  FUZZ_CHECK(stored->connected);
}

void HandleRenewal(Broker& b, const v1::RenewalRequest& renewal) {
  absl::StatusOr<v1::RenewedCertificate> renewed = b.api->Renew(b.connector, renewal);
  if (!renewed.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(renewed.status()));
    return;
  }
  auto identity = b.fixed.connector_ca->Verify(renewed->certificate_chain_pem(), b.fixed.clock.Now());
  FUZZ_CHECK(identity.ok());
  FUZZ_CHECK(identity->tenant_id == kTenant && identity->connector_id == kConnector);
  auto csr = pki::ParseCsr(renewal.csr_pem());
  auto chain = pki::SplitPemChain(renewed->certificate_chain_pem());
  FUZZ_CHECK(csr.ok() && chain.ok() && !chain->empty());
  auto leaf = pki::ParseCertificate((*chain)[0]);
  FUZZ_CHECK(leaf.ok() && pki::SamePublicKey(leaf->public_key_der, csr->public_key_der));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixed& fixed = FixedInstance();
  v1::AgentMessage message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;
  Broker b{fixed, {}, nullptr, {}, {}};
  SetUpBroker(b);
  switch (message.body_case()) {
    case v1::AgentMessage::kJobResult:
      HandleResult(b, message.job_result());
      break;
    case v1::AgentMessage::kHello:
      HandleHello(b, message.hello());
      break;
    case v1::AgentMessage::kHeartbeat:
      // Its fields are not read: it refreshes the session that the stream's Hello made.
      FUZZ_CHECK(b.api->RecordHello(b.connector, {}, "replica-1", b.connect_time).ok());
      FUZZ_CHECK(b.api->RecordHeartbeat(b.connector, "replica-1", b.connect_time).ok());
      break;
    case v1::AgentMessage::kRenewalRequest:
      HandleRenewal(b, message.renewal_request());
      break;
    case v1::AgentMessage::BODY_NOT_SET:
      break;
  }
  return 0;
}
