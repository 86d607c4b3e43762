// Errors an API client can act on: an absl::Status that also carries the google.rpc error
// details a program reads instead of parsing English (docs/certificates.md, "Errors").
//
// The details travel as payloads of the absl::Status, keyed by their type URL and holding
// the serialized google.rpc message, so they survive RETURN_IF_ERROR / StatusOr unchanged;
// ToGrpcStatusWithDetails packs them into the google.rpc.Status sent as
// grpc-status-details-bin at the gRPC boundary of CertificateService and AdminService.
//
//   return ApiError(absl::StatusCode::kNotFound, "CA_NOT_FOUND",
//                   absl::StrCat("certificate authority \"", id, "\" not found"))
//       .Metadata("ca_id", id)
//       .Remedy("list the CAs with `certbridgectl cas list`");
//
// What a client gets:
//  - ErrorInfo on every error: reason = a stable UPPER_SNAKE code (kErrorDomain), metadata
//    with the objects involved (ca_id, connector_id, hresult, field, ...) and, where a
//    person must do something outside the API, "remedy": one sentence saying what. The
//    message itself describes the API call, never a command line, because MDMs show it in
//    their own UI.
//  - BadRequest (field + description) on INVALID_ARGUMENT.
//  - RetryInfo on RESOURCE_EXHAUSTED and UNAVAILABLE: the delay the limiter computed, or
//    one second when nothing better is known.
//  - PreconditionFailure on FAILED_PRECONDITION where a named state must change first.
// An error made without ApiError (a store failure, say) gets ErrorInfo with the code's
// name as reason (e.g. "UNAVAILABLE"), so no error reaches a client without one.
#ifndef CERTBRIDGE_COMMON_API_ERROR_H_
#define CERTBRIDGE_COMMON_API_ERROR_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace certbridge {

inline constexpr char kErrorDomain[] = "certbridge.io";
// The ErrorInfo metadata key of the remedy sentence.
inline constexpr char kRemedyMetadataKey[] = "remedy";

// Builds an error; converts implicitly to absl::Status (and so to any StatusOr). An OK
// code is a programming error and becomes INTERNAL.
class ApiError {
 public:
  ApiError(absl::StatusCode code, absl::string_view reason, absl::string_view message);

  // A BadRequest field violation; also sets ErrorInfo metadata "field".
  ApiError& Field(absl::string_view field, absl::string_view description);
  ApiError& Metadata(absl::string_view key, absl::string_view value);
  ApiError& Remedy(absl::string_view remedy) { return Metadata(kRemedyMetadataKey, remedy); }
  ApiError& RetryAfter(absl::Duration delay);
  // A PreconditionFailure violation, e.g. ("STATE", "requests/<name>", "not ISSUED").
  ApiError& Precondition(absl::string_view type, absl::string_view subject,
                         absl::string_view description);

  absl::Status status() const;
  operator absl::Status() const { return status(); }  // NOLINT: meant to be implicit

 private:
  absl::StatusCode code_;
  std::string reason_;
  std::string message_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::pair<std::string, std::string>> field_violations_;
  absl::Duration retry_delay_ = absl::ZeroDuration();
  struct PreconditionViolation {
    std::string type, subject, description;
  };
  std::vector<PreconditionViolation> preconditions_;
};

// `status` with ErrorInfo `reason` (and metadata) added when it has none yet: for errors
// made elsewhere (the store's NOT_FOUND) that an API call knows more about. OK stays OK.
absl::Status WithReason(absl::Status status, absl::string_view reason,
                        const std::map<std::string, std::string>& metadata = {});

// What a client reads back from an error (either side of the wire).
struct ApiErrorDetails {
  std::string reason;  // "" when the error carries no ErrorInfo
  std::string domain;
  std::map<std::string, std::string> metadata;
  std::vector<std::pair<std::string, std::string>> field_violations;  // field, description
  absl::Duration retry_delay = absl::ZeroDuration();
  std::vector<std::string> precondition_types;
  std::string Remedy() const;
};
ApiErrorDetails DetailsOf(const absl::Status& status);
ApiErrorDetails DetailsOf(const grpc::Status& status);

// At the gRPC boundary: the code, the message and a google.rpc.Status with every detail
// (ErrorInfo always; RetryInfo always on RESOURCE_EXHAUSTED / UNAVAILABLE).
grpc::Status ToGrpcStatusWithDetails(const absl::Status& status);
// A client's view: the code and message, with the details back as payloads.
absl::Status FromGrpcStatusWithDetails(const grpc::Status& status);

}  // namespace certbridge

#endif  // CERTBRIDGE_COMMON_API_ERROR_H_
