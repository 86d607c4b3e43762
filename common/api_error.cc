#include "common/api_error.h"

#include <optional>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace certbridge {
namespace {

constexpr char kTypeUrlPrefix[] = "type.googleapis.com/";

template <typename Message>
std::string TypeUrl() {
  return std::string(kTypeUrlPrefix) + Message::descriptor()->full_name();
}

template <typename Message>
std::optional<Message> PayloadOf(const absl::Status& status) {
  auto payload = status.GetPayload(TypeUrl<Message>());
  if (!payload) return std::nullopt;
  Message message;
  if (!message.ParseFromString(std::string(*payload))) return std::nullopt;
  return message;
}

template <typename Message>
void SetPayload(absl::Status& status, const Message& message) {
  status.SetPayload(TypeUrl<Message>(), absl::Cord(message.SerializeAsString()));
}

bool WantsRetryInfo(absl::StatusCode code) {
  return code == absl::StatusCode::kResourceExhausted || code == absl::StatusCode::kUnavailable;
}

}  // namespace

ApiError::ApiError(absl::StatusCode code, absl::string_view reason, absl::string_view message)
    : code_(code == absl::StatusCode::kOk ? absl::StatusCode::kInternal : code),
      reason_(reason),
      message_(message) {}

ApiError& ApiError::Field(absl::string_view field, absl::string_view description) {
  field_violations_.emplace_back(std::string(field), std::string(description));
  metadata_["field"] = std::string(field);
  return *this;
}

ApiError& ApiError::Metadata(absl::string_view key, absl::string_view value) {
  metadata_[std::string(key)] = std::string(value);
  return *this;
}

ApiError& ApiError::RetryAfter(absl::Duration delay) {
  retry_delay_ = delay;
  return *this;
}

ApiError& ApiError::Precondition(absl::string_view type, absl::string_view subject,
                                 absl::string_view description) {
  preconditions_.push_back(
      {std::string(type), std::string(subject), std::string(description)});
  return *this;
}

absl::Status ApiError::status() const {
  absl::Status status(code_, message_);
  google::rpc::ErrorInfo info;
  info.set_reason(reason_);
  info.set_domain(kErrorDomain);
  info.mutable_metadata()->insert(metadata_.begin(), metadata_.end());
  SetPayload(status, info);
  if (!field_violations_.empty()) {
    google::rpc::BadRequest bad_request;
    for (const auto& [field, description] : field_violations_) {
      google::rpc::BadRequest::FieldViolation* v = bad_request.add_field_violations();
      v->set_field(field);
      v->set_description(description);
    }
    SetPayload(status, bad_request);
  }
  if (retry_delay_ > absl::ZeroDuration()) {
    google::rpc::RetryInfo retry;
    const int64_t millis = absl::ToInt64Milliseconds(absl::Ceil(retry_delay_, absl::Milliseconds(1)));
    retry.mutable_retry_delay()->set_seconds(millis / 1000);
    retry.mutable_retry_delay()->set_nanos(static_cast<int32_t>(millis % 1000) * 1000000);
    SetPayload(status, retry);
  }
  if (!preconditions_.empty()) {
    google::rpc::PreconditionFailure failure;
    for (const PreconditionViolation& p : preconditions_) {
      google::rpc::PreconditionFailure::Violation* v = failure.add_violations();
      v->set_type(p.type);
      v->set_subject(p.subject);
      v->set_description(p.description);
    }
    SetPayload(status, failure);
  }
  return status;
}

absl::Status WithReason(absl::Status status, absl::string_view reason,
                        const std::map<std::string, std::string>& metadata) {
  if (status.ok() || PayloadOf<google::rpc::ErrorInfo>(status)) return status;
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(kErrorDomain);
  info.mutable_metadata()->insert(metadata.begin(), metadata.end());
  SetPayload(status, info);
  return status;
}

std::string ApiErrorDetails::Remedy() const {
  auto it = metadata.find(kRemedyMetadataKey);
  return it == metadata.end() ? std::string() : it->second;
}

ApiErrorDetails DetailsOf(const absl::Status& status) {
  ApiErrorDetails out;
  if (std::optional<google::rpc::ErrorInfo> info = PayloadOf<google::rpc::ErrorInfo>(status)) {
    out.reason = info->reason();
    out.domain = info->domain();
    out.metadata.insert(info->metadata().begin(), info->metadata().end());
  }
  if (auto bad_request = PayloadOf<google::rpc::BadRequest>(status)) {
    for (const auto& v : bad_request->field_violations()) {
      out.field_violations.emplace_back(v.field(), v.description());
    }
  }
  if (auto retry = PayloadOf<google::rpc::RetryInfo>(status)) {
    out.retry_delay = absl::Seconds(retry->retry_delay().seconds()) +
                      absl::Nanoseconds(retry->retry_delay().nanos());
  }
  if (auto failure = PayloadOf<google::rpc::PreconditionFailure>(status)) {
    for (const auto& v : failure->violations()) out.precondition_types.push_back(v.type());
  }
  return out;
}

ApiErrorDetails DetailsOf(const grpc::Status& status) {
  return DetailsOf(FromGrpcStatusWithDetails(status));
}

grpc::Status ToGrpcStatusWithDetails(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  absl::Status full = WithReason(status, absl::StatusCodeToString(status.code()));
  if (WantsRetryInfo(full.code()) && !PayloadOf<google::rpc::RetryInfo>(full)) {
    google::rpc::RetryInfo retry;
    retry.mutable_retry_delay()->set_seconds(1);
    SetPayload(full, retry);
  }
  google::rpc::Status details;
  details.set_code(static_cast<int>(full.code()));
  details.set_message(std::string(full.message()));
  full.ForEachPayload([&details](absl::string_view type_url, const absl::Cord& payload) {
    if (!absl::StartsWith(type_url, "type.googleapis.com/google.rpc.")) return;
    google::protobuf::Any* any = details.add_details();
    any->set_type_url(std::string(type_url));
    any->set_value(std::string(payload));
  });
  return grpc::Status(static_cast<grpc::StatusCode>(full.code()), std::string(full.message()),
                      details.SerializeAsString());
}

absl::Status FromGrpcStatusWithDetails(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  google::rpc::Status details;
  // Bounded by gRPC's metadata limit (16 KiB by default) before it reaches us.
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
    return out;
  }
  for (const google::protobuf::Any& any : details.details()) {
    if (!absl::StartsWith(any.type_url(), "type.googleapis.com/google.rpc.")) continue;
    out.SetPayload(any.type_url(), absl::Cord(any.value()));
  }
  return out;
}

}  // namespace certbridge
