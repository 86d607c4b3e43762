// Checks of text fields that arrive from the network, shared by every API so that the
// same mistake gets the same words everywhere.
#ifndef CERTBRIDGE_BROKER_SERVICE_FIELD_CHECKS_H_
#define CERTBRIDGE_BROKER_SERVICE_FIELD_CHECKS_H_

#include <cstddef>
#include <string>

#include <grpcpp/server_context.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace certbridge::broker {

// INVALID_ARGUMENT "<field> is required" (reason FIELD_REQUIRED) / "<field> is N bytes; at
// most M" (FIELD_TOO_LONG) / "<field> contains a control character" (FIELD_INVALID), each
// with a BadRequest violation naming the field. Control characters are refused because
// these values end up in logs, tables and AD CS request attributes (where a newline would
// start a new attribute).
absl::Status CheckText(absl::string_view field, absl::string_view value, size_t max_bytes,
                       bool required);

// INVALID_ARGUMENT, reason FIELD_INVALID, with a BadRequest violation of `field`: the one
// shape of every other bad-input error of the APIs (docs/certificates.md, "Errors").
absl::Status InvalidField(absl::string_view field, absl::string_view message);

// The `authorization` metadata of a call, or "".
std::string AuthorizationHeader(const grpc::CallbackServerContext& context);

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_FIELD_CHECKS_H_
