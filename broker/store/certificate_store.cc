#include "broker/store/certificate_store.h"

#include "absl/strings/str_cat.h"
#include "broker/store/record_validation.h"
#include "common/status_macros.h"

namespace certbridge::broker {
namespace {

constexpr RequestState kAllRequestStates[] = {
    RequestState::kQueued,  RequestState::kDispatched, RequestState::kPendingApproval,
    RequestState::kIssued,  RequestState::kDenied,     RequestState::kFailed,
    RequestState::kRevoked, RequestState::kExpired,    RequestState::kCancelled,
};

// Stored joined by control characters (see ValidateCertificateRequest).
absl::Status ValidateText(absl::string_view what, absl::string_view name, absl::string_view text) {
  for (char c : text) {
    if (c == '\x1e' || c == '\x1f' || c == '\0') {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate request \"", name, "\": ", what,
                       " contains a control character"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view RequestStateName(RequestState state) {
  switch (state) {
    case RequestState::kQueued:
      return "QUEUED";
    case RequestState::kDispatched:
      return "DISPATCHED";
    case RequestState::kPendingApproval:
      return "PENDING_APPROVAL";
    case RequestState::kIssued:
      return "ISSUED";
    case RequestState::kDenied:
      return "DENIED";
    case RequestState::kFailed:
      return "FAILED";
    case RequestState::kRevoked:
      return "REVOKED";
    case RequestState::kExpired:
      return "EXPIRED";
    case RequestState::kCancelled:
      return "CANCELLED";
  }
  return "UNKNOWN";
}

std::optional<RequestState> RequestStateFromName(absl::string_view name) {
  for (RequestState s : kAllRequestStates) {
    if (RequestStateName(s) == name) return s;
  }
  return std::nullopt;
}

bool IsTerminal(RequestState state) {
  switch (state) {
    case RequestState::kIssued:
    case RequestState::kDenied:
    case RequestState::kFailed:
    case RequestState::kRevoked:
    case RequestState::kExpired:
    case RequestState::kCancelled:
      return true;
    case RequestState::kQueued:
    case RequestState::kDispatched:
    case RequestState::kPendingApproval:
      return false;
  }
  return false;
}

absl::string_view JobKindName(JobKind kind) {
  switch (kind) {
    case JobKind::kSubmit:
      return "SUBMIT";
    case JobKind::kRetrieve:
      return "RETRIEVE";
    case JobKind::kRevoke:
      return "REVOKE";
  }
  return "UNKNOWN";
}

std::optional<JobKind> JobKindFromName(absl::string_view name) {
  for (JobKind k : {JobKind::kSubmit, JobKind::kRetrieve, JobKind::kRevoke}) {
    if (JobKindName(k) == name) return k;
  }
  return std::nullopt;
}

absl::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kReady:
      return "READY";
    case JobState::kLeased:
      return "LEASED";
    case JobState::kDone:
      return "DONE";
    case JobState::kFailed:
      return "FAILED";
  }
  return "UNKNOWN";
}

std::optional<JobState> JobStateFromName(absl::string_view name) {
  for (JobState s : {JobState::kReady, JobState::kLeased, JobState::kDone, JobState::kFailed}) {
    if (JobStateName(s) == name) return s;
  }
  return std::nullopt;
}

absl::Status ValidateCertificateRequest(const CertificateRequestRecord& request) {
  RETURN_IF_ERROR(ValidateId("certificate request name", request.name));
  RETURN_IF_ERROR(ValidateId("tenant id", request.tenant_id));
  RETURN_IF_ERROR(ValidateId("request id", request.request_id));
  RETURN_IF_ERROR(ValidateId("certificate authority id", request.ca_id));
  for (const std::string& san : request.subject_alt_names) {
    if (san.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "certificate request \"", request.name, "\": a subject alternative name is empty"));
    }
    RETURN_IF_ERROR(ValidateText("a subject alternative name", request.name, san));
  }
  for (const auto& [key, value] : request.labels) {
    if (key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate request \"", request.name, "\": a label key is empty"));
    }
    RETURN_IF_ERROR(ValidateText("a label", request.name, key));
    RETURN_IF_ERROR(ValidateText("a label", request.name, value));
  }
  return absl::OkStatus();
}

absl::Status ValidateWaitingState(RequestState state) {
  if (state == RequestState::kDispatched || state == RequestState::kPendingApproval) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "requests waiting at the CA are DISPATCHED or PENDING_APPROVAL, not ",
      RequestStateName(state)));
}

absl::Status ValidateJob(const JobRecord& job) {
  RETURN_IF_ERROR(ValidateId("tenant id", job.tenant_id));
  RETURN_IF_ERROR(ValidateId("certificate request name", job.request_name));
  RETURN_IF_ERROR(ValidateId("certificate authority id", job.ca_id));
  if (job.state != JobState::kReady) {
    return absl::InvalidArgumentError(absl::StrCat("new job for certificate request \"",
                                                   job.request_name, "\": state is ",
                                                   JobStateName(job.state), ", not READY"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePageSize(absl::string_view what, int limit) {
  if (limit <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " page size must be positive, got ", limit));
  }
  return absl::OkStatus();
}

}  // namespace certbridge::broker
