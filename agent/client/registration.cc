#include "agent/client/registration.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/client_context.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "agent/client/agent_info.h"
#include "agent/client/backoff.h"
#include "agent/client/broker_channel.h"
#include "agent/events/admin_events.h"
#include "agent/jobs/agent_policy.h"
#include "agent/jobs/agent_policy_state.h"
#include "certbridge/v1/agent.grpc.pb.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace certbridge::agent {
namespace {

namespace v1 = ::certbridge::v1;

absl::Time FromProtoTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::string HumanDuration(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return "already expired";
  int64_t minutes = absl::ToInt64Minutes(d + absl::Seconds(59));
  if (minutes < 120) return absl::StrCat("in ", minutes, minutes == 1 ? " minute" : " minutes");
  return absl::StrCat("in ", absl::ToInt64Hours(d), " hours");
}

// Wraps a broker error with what the person at the console should do next.
absl::Status WithRemedy(const grpc::Status& s, absl::string_view during) {
  std::string message = absl::StrCat(during, ": ", s.error_message());
  switch (s.error_code()) {
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::UNAUTHENTICATED:
      // The broker's own message usually says this already; do not say it twice.
      if (!absl::StrContains(s.error_message(), "token")) {
        absl::StrAppend(&message,
                        ". Ask a tenant admin for a new enrollment token "
                        "(`certbridgectl enrollment-tokens create`) and run register again.");
      }
      break;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      absl::StrAppend(&message,
                      ". Check --broker, outbound TCP to the broker, and that --broker-ca is "
                      "the root of the broker's TLS certificate.");
      break;
    default:
      break;
  }
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), message);
}

bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::RESOURCE_EXHAUSTED || code == grpc::StatusCode::INTERNAL ||
         code == grpc::StatusCode::ABORTED;
}

}  // namespace

std::string FormatApprovalBox(absl::string_view code, absl::string_view url,
                              absl::Time expire_time, absl::Time now) {
  std::vector<std::string> lines = {
      "Approve this certbridge agent",
      "",
      absl::StrCat("Registration code:  ", code),
      absl::StrCat("Approve at:         ", url),
      absl::StrCat("Code expires:       ",
                   absl::FormatTime("%Y-%m-%d %H:%M UTC", expire_time, absl::UTCTimeZone()), " (",
                   HumanDuration(expire_time - now), ")"),
      "",
      absl::StrCat("or run:  certbridgectl connectors approve ", code),
  };
  size_t width = 0;
  for (const auto& l : lines) width = std::max(width, l.size());
  std::string border = absl::StrCat("+", std::string(width + 4, '-'), "+\n");
  std::string box = border;
  for (const auto& l : lines) {
    absl::StrAppend(&box, "|  ", l, std::string(width - l.size(), ' '), "  |\n");
  }
  box += border;
  return box;
}

absl::StatusOr<RegistrationResult> RegisterAgent(const RegistrationParams& params,
                                                 const Clock& clock, std::ostream& out) {
  if (params.broker_address.empty() || params.enrollment_token.empty() ||
      params.state_dir.empty() || params.broker_ca_pem.empty()) {
    return absl::InvalidArgumentError(
        "register needs --broker, --broker-ca, --token and --state-dir");
  }
  StateDir dir(params.state_dir);
  // Checked before Register so that a mistake does not burn the single-use token.
  if (!params.overwrite && dir.HasRegistration()) {
    return absl::AlreadyExistsError(absl::StrCat(
        "state dir \"", params.state_dir,
        "\" already holds a registration; pass --force to replace it (the old connector "
        "stays in the broker until an admin deletes it)"));
  }
  std::string host = params.host.empty() ? LocalHostName() : params.host;
  std::string ca_identity =
      params.ca_identity.empty() ? DefaultCaIdentity(host) : params.ca_identity;

  ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::Generate(pki::KeyType::kEcP256));
  ASSIGN_OR_RETURN(std::string csr,
                   pki::CreateCsrPem(key, {.subject = absl::StrCat("CN=", host), .sans = {}}));

  auto channel = CreateBrokerChannel({.address = params.broker_address,
                                      .broker_ca_pem = params.broker_ca_pem,
                                      .client_key_pem = "",
                                      .client_chain_pem = "",
                                      .proxy = params.proxy});
  auto stub = v1::AgentService::NewStub(channel);

  v1::RegisterRequest request;
  request.set_enrollment_token(params.enrollment_token);
  request.set_csr_pem(csr);
  request.set_host(host);
  request.set_os(OsDescription());
  request.set_agent_version(AgentVersion());
  request.set_ca_identity(ca_identity);
  v1::RegisterResponse registered;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    grpc::Status s = stub->Register(&ctx, request, &registered);
    if (!s.ok()) return WithRemedy(s, "register with the broker");
  }
  LogInfo("agent.registration_pending",
          {{"connector_id", registered.connector_id()}, {"host", host},
           {"ca_identity", ca_identity}});
  if (params.event_log != nullptr) {
    params.event_log->Report(RegisteredEvent(params.broker_address, registered.connector_id()));
  }
  absl::Time code_expires = FromProtoTime(registered.code_expire_time());
  out << "\n"
      << FormatApprovalBox(registered.registration_code(), registered.registration_url(),
                           code_expires, clock.Now())
      << "\nWaiting for approval (Ctrl-C to give up)...\n"
      << std::flush;

  ReconnectBackoff backoff({.base = params.retry_base, .max = params.retry_max,
                            .reset_after = absl::ZeroDuration()},
                           DefaultUniform01());
  int wait_seconds = std::clamp(params.wait_seconds, 1, 60);
  v1::GetRegistrationResponse approved;
  while (true) {
    v1::GetRegistrationRequest poll;
    poll.set_connector_id(registered.connector_id());
    poll.set_poll_secret(registered.poll_secret());
    poll.set_wait_seconds(wait_seconds);
    grpc::ClientContext ctx;
    absl::Time started = absl::Now();
    ctx.set_deadline(absl::ToChronoTime(started + absl::Seconds(wait_seconds + 10)));
    v1::GetRegistrationResponse response;
    grpc::Status s = stub->GetRegistration(&ctx, poll, &response);
    if (s.ok()) {
      backoff.Reset();
      if (response.state() == v1::GetRegistrationResponse::STATE_APPROVED) {
        approved = std::move(response);
        break;
      }
      // Still PENDING: the broker normally did the waiting; if it answered early, do not
      // turn the long poll into a busy loop.
      absl::Duration elapsed = absl::Now() - started;
      if (elapsed < params.min_poll_interval) absl::SleepFor(params.min_poll_interval - elapsed);
      continue;
    }
    if (!Retryable(s.error_code())) return WithRemedy(s, "wait for approval");
    if (clock.Now() > code_expires + absl::Minutes(1)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the registration code expired while the broker was unreachable (last error: ",
          s.error_message(),
          "). Ask a tenant admin for a new enrollment token and run register again."));
    }
    absl::Duration delay = backoff.NextDelay();
    LogWarning("agent.registration_poll_failed",
               {{"connector_id", registered.connector_id()},
                {"code", std::to_string(static_cast<int>(s.error_code()))},
                {"message", s.error_message()},
                {"retry_in_ms", std::to_string(absl::ToInt64Milliseconds(delay))}});
    absl::SleepFor(delay);
  }

  ASSIGN_OR_RETURN(std::vector<std::string> chain,
                   pki::SplitPemChain(approved.certificate_chain_pem()));
  ASSIGN_OR_RETURN(pki::CertificateInfo leaf, pki::ParseCertificate(chain.front()));
  if (!pki::KeyMatchesCertificate(key, chain.front())) {
    return absl::InternalError(
        "the broker returned a certificate for a different key than this agent's; "
        "nothing was saved: ask the broker operator to check the connector CA");
  }
  // Pinned before the registration is saved: an agent that runs is never one whose pin
  // was skipped. The customer compares the fingerprint with what the MDM vendor publishes.
  ASSIGN_OR_RETURN(std::unique_ptr<AgentPolicyState> policy_state,
                   AgentPolicyState::Open(dir.FilePath("policy")));
  ASSIGN_OR_RETURN(std::optional<std::string> pinned,
                   policy_state->PinAtRegistration(approved.delivery_certificate_sha256(),
                                                   approved.delivery_certificate_pem()));
  RegistrationResult result;
  result.delivery_certificate_sha256 = pinned.value_or("");
  result.registration = {
      .broker_address = params.broker_address,
      .tenant_id = approved.tenant_id(),
      .connector_id = approved.connector_id().empty() ? registered.connector_id()
                                                      : approved.connector_id(),
      .host = host,
      .ca_identity = ca_identity,
      .proxy = params.proxy,
  };
  RETURN_IF_ERROR(dir.Save(result.registration,
                           {.key_pem = key.ToPem(),
                            .chain_pem = approved.certificate_chain_pem(),
                            .broker_ca_pem = params.broker_ca_pem},
                           params.overwrite));
  LogInfo("agent.registered", {{"connector_id", result.registration.connector_id},
                               {"tenant_id", result.registration.tenant_id},
                               {"serial", leaf.serial_hex},
                               {"delivery_certificate_sha256",
                                pinned.has_value()
                                    ? FormatSha256Fingerprint(*pinned)
                                    : "none (the tenant has no delivery certificate yet; the "
                                      "first key-generation job's is pinned)"},
                               {"not_after", absl::FormatTime(leaf.not_after)}});
  if (params.event_log != nullptr) {
    params.event_log->Report(ApprovedEvent(result.registration.connector_id,
                                           result.registration.tenant_id, leaf.serial_hex,
                                           leaf.not_after));
  }
  result.leaf = std::move(leaf);
  return result;
}

}  // namespace certbridge::agent
