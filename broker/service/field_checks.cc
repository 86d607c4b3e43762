#include "broker/service/field_checks.h"

#include "absl/strings/str_cat.h"
#include "common/api_error.h"

namespace certbridge::broker {

absl::Status CheckText(absl::string_view field, absl::string_view value, size_t max_bytes,
                       bool required) {
  if (required && value.empty()) {
    const std::string message = absl::StrCat(field, " is required");
    return ApiError(absl::StatusCode::kInvalidArgument, "FIELD_REQUIRED", message)
        .Field(field, message);
  }
  if (value.size() > max_bytes) {
    const std::string message =
        absl::StrCat(field, " is ", value.size(), " bytes; at most ", max_bytes);
    return ApiError(absl::StatusCode::kInvalidArgument, "FIELD_TOO_LONG", message)
        .Field(field, message)
        .Metadata("max_bytes", absl::StrCat(max_bytes));
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      return InvalidField(field, absl::StrCat(field, " contains a control character"));
    }
  }
  return absl::OkStatus();
}

absl::Status InvalidField(absl::string_view field, absl::string_view message) {
  return ApiError(absl::StatusCode::kInvalidArgument, "FIELD_INVALID", message)
      .Field(field, message);
}

std::string AuthorizationHeader(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  return it == metadata.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

}  // namespace certbridge::broker
