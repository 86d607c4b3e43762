// The one place where absl::Status becomes grpc::Status and back. The codes are the same
// numbers; only the types differ.
#ifndef CERTBRIDGE_COMMON_GRPC_STATUS_H_
#define CERTBRIDGE_COMMON_GRPC_STATUS_H_

#include <string>

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace certbridge {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

inline absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

}  // namespace certbridge

#endif  // CERTBRIDGE_COMMON_GRPC_STATUS_H_
