// How certbridgectl prints AdminService responses and errors. Pure functions of their
// inputs (the current time is a parameter), so every format is unit-tested without a
// server. Thread-safe.
#ifndef CERTBRIDGE_TOOLS_CERTBRIDGECTL_OUTPUT_H_
#define CERTBRIDGE_TOOLS_CERTBRIDGECTL_OUTPUT_H_

#include <string>

#include <google/protobuf/timestamp.pb.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/certbridgectl/admin_messages.h"

namespace certbridge::ctl {

// Human-readable output for `response`, the answer to `request`: aligned tables for lists
// ("No connectors." when empty), a "Key: value" block for single objects, one sentence for
// deletions. Times are RFC 3339 in UTC; ages ("12s ago") are measured from `now`. Includes
// secrets that the response carries (API key secret, enrollment token) but not the
// shown-once notice: see ShownOnceNotice.
std::string RenderTable(const AdminRequest& request, const AdminResponse& response,
                        absl::Time now);

// The response message as protobuf JSON (proto field names, fields with default values
// included, two-space indentation), ending in '\n'. Internal if protobuf cannot print it.
absl::StatusOr<std::string> RenderJson(const AdminResponse& response);

// One line telling the user that the secret in `response` is shown only now, or "" when
// the response carries no secret.
std::string ShownOnceNotice(const AdminResponse& response);

// "error: <CODE>: <message>\n", plus a "hint: ..." line for UNAVAILABLE (broker address and
// CA certificate), UNAUTHENTICATED (API key), PERMISSION_DENIED and DEADLINE_EXCEEDED.
// REQUIRES: !status.ok().
std::string FormatCallError(const absl::Status& status);

// "CONNECTED 12s ago", "DISCONNECTED 3h ago" (since last seen), "NEVER CONNECTED".
std::string ConnectivityText(const v1::Connector& connector, absl::Time now);

absl::Time ToAbslTime(const google::protobuf::Timestamp& timestamp);

}  // namespace certbridge::ctl

#endif  // CERTBRIDGE_TOOLS_CERTBRIDGECTL_OUTPUT_H_
