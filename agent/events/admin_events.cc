#include "agent/events/admin_events.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/adcs/error_catalog.h"

namespace certbridge::agent {
namespace {

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

// "SUBMIT job 42 for request tenants/t-1/requests/r-7 on CA "adcs01\Corp CA""
std::string JobName(const v1::Job& job) {
  return absl::StrCat(absl::StripPrefix(v1::Job::Kind_Name(job.kind()), "KIND_"), " job ", job.job_id(), " for request ",
                      job.request_name(), " on CA \"", job.ca_config(), "\"");
}

std::string WithHint(std::string text, const v1::JobResult& result) {
  if (!result.hint().empty()) absl::StrAppend(&text, " ", result.hint());
  return text;
}

bool Succeeded(const v1::Job& job, const v1::JobResult& result) {
  if (!result.ca_answered()) return false;
  if (job.kind() == v1::Job::KIND_REVOKE) return result.revoke_hresult() == adcs::kHresultOk;
  switch (result.disposition()) {
    case adcs::kDispositionIssued:
    case adcs::kDispositionIssuedOutOfBand:
    case adcs::kDispositionUnderSubmission:
    case adcs::kDispositionRevoked:
      return true;
    default:
      return false;
  }
}

}  // namespace

AdminEvent RegisteredEvent(absl::string_view broker, absl::string_view connector_id) {
  return {kEventRegistered, AdminEventType::kInformation,
          absl::StrCat("certbridge agent registered with broker ", broker, " as connector ",
                       connector_id, "; waiting for approval. An admin of the tenant approves it with the "
                       "registration code that `certbridge-agent register` printed.")};
}

AdminEvent ApprovedEvent(absl::string_view connector_id, absl::string_view tenant_id,
                         absl::string_view serial_hex, absl::Time not_after) {
  return {kEventApproved, AdminEventType::kInformation,
          absl::StrCat("Connector ", connector_id, " of tenant ", tenant_id,
                       " approved; agent certificate ", serial_hex, " valid until ",
                       FormatUtc(not_after),
                       " stored. Start the service: sc start certbridge-agent")};
}

AdminEvent ConnectedEvent(absl::string_view broker, absl::string_view connector_id,
                          absl::string_view proxy) {
  return {kEventConnected, AdminEventType::kInformation,
          absl::StrCat("Connected to broker ", broker, " as connector ", connector_id,
                       proxy.empty() ? "" : absl::StrCat(" through proxy ", proxy), ".")};
}

AdminEvent DisconnectedEvent(absl::string_view broker, absl::string_view code,
                             absl::string_view message, absl::Duration retry_in) {
  return {kEventDisconnected, AdminEventType::kWarning,
          absl::StrCat("Disconnected from broker ", broker, ": ", code, ": ", message,
                       ". Reconnecting in ", absl::ToInt64Seconds(retry_in),
                       " s. If it does not come back, check that this server reaches the "
                       "broker on its port (outbound TCP; through --proxy if the network "
                       "requires one).")};
}

AdminEvent CertificateRenewedEvent(absl::string_view serial_hex, absl::Time not_after) {
  return {kEventCertificateRenewed, AdminEventType::kInformation,
          absl::StrCat("Agent certificate renewed: serial ", serial_hex, ", valid until ",
                       FormatUtc(not_after), ".")};
}

std::optional<AdminEvent> JobEvent(const v1::Job& job, const v1::JobResult& result) {
  if (Succeeded(job, result)) return std::nullopt;
  const uint32_t hresult =
      job.kind() == v1::Job::KIND_REVOKE ? result.revoke_hresult() : result.hresult();
  const bool unreachable =
      (result.ca_answered() && hresult == adcs::kRpcServerUnavailable) ||
      (!result.ca_answered() &&
       (result.error_code() == "UNAVAILABLE" || result.error_code() == "DEADLINE_EXCEEDED"));
  if (unreachable) {
    // The catalog's entry for 0x800706BA carries its own remedy.
    std::string why =
        result.ca_answered()
            ? adcs::Describe(hresult)
            : absl::StrCat(result.error_code(), ": ", result.error_message(),
                           ". Remedy: check the CA host name in the config string, that the "
                           "CA service runs (certutil -ping), and that the firewall allows RPC "
                           "(TCP 135 and the dynamic ports) from this server.");
    return AdminEvent{kEventCaUnreachable, AdminEventType::kError,
                      WithHint(absl::StrCat("CA \"", job.ca_config(), "\" unreachable (",
                                            JobName(job), "): ", why),
                               result)};
  }
  std::string text;
  if (result.ca_answered()) {
    const adcs::DispositionEntry* d = adcs::FindDisposition(result.disposition());
    text = absl::StrCat(JobName(job), " failed: the CA answered disposition ",
                        result.disposition(), d != nullptr ? absl::StrCat(" (", d->name, ")") : "",
                        " with ", adcs::Describe(hresult));
    if (!result.disposition_message().empty()) {
      absl::StrAppend(&text, " CA message: ", result.disposition_message());
    }
  } else {
    text = absl::StrCat(JobName(job), " failed before the CA answered: ", result.error_code(),
                        ": ", result.error_message());
  }
  return AdminEvent{kEventJobFailed, AdminEventType::kError, WithHint(std::move(text), result)};
}

}  // namespace certbridge::agent
