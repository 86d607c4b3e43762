// How certbridgectl prints broker responses and errors. Pure functions of their
// inputs (the current time is a parameter), so every format is unit-tested without a
// server. Thread-safe.
#ifndef CERTBRIDGE_TOOLS_CERTBRIDGECTL_OUTPUT_H_
#define CERTBRIDGE_TOOLS_CERTBRIDGECTL_OUTPUT_H_

#include <string>

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/certbridgectl/broker_messages.h"

namespace certbridge::ctl {

// Human-readable output for `response`, the answer to `request`: aligned tables for lists
// ("No connectors." when empty), a "Key: value" block for single objects, one sentence for
// deletions. Times are RFC 3339 in UTC; ages ("12s ago") are measured from `now`. Includes
// secrets that the response carries (API key secret, enrollment token) but not the
// shown-once notice: see ShownOnceNotice.
std::string RenderTable(const BrokerRequest& request, const BrokerResponse& response,
                        absl::Time now);

// The response message as protobuf JSON (proto field names, fields with default values
// included, two-space indentation), ending in '\n'. Internal if protobuf cannot print it.
absl::StatusOr<std::string> RenderJson(const BrokerResponse& response);

// The response message as protobuf JSON on one line ending in '\n' (same options as
// RenderJson otherwise): one `certificates watch` event per line. Internal on failure.
absl::StatusOr<std::string> RenderJsonLine(const google::protobuf::Message& message);

// One line per `certificates watch` event, ending in '\n':
// "2026-11-22T11:40:02Z cr-81 ISSUED ca=ca-1 template=WebServer serial=4F1C cursor=c-9".
// device=, serial= and error= appear only when set.
std::string RenderWatchLine(const v1::CertificateRequestEvent& event);

// One line telling the user that the secret in `response` is shown only now, or "" when
// the response carries no secret.
std::string ShownOnceNotice(const BrokerResponse& response);

// "error: <CODE>: <message>\n", plus a "hint: ..." line for UNAVAILABLE (broker address and
// CA certificate), UNAUTHENTICATED (API key), PERMISSION_DENIED (which key and scope
// `command` needs), DEADLINE_EXCEEDED, and for `certificates` commands ALREADY_EXISTS
// (request ID reused) and FAILED_PRECONDITION (wrong state, delivery certificate).
// `command` is the command as typed, e.g. "certificates request"; may be empty.
// REQUIRES: !status.ok().
std::string FormatCallError(const absl::Status& status, absl::string_view command = "");

// "CONNECTED 12s ago", "DISCONNECTED 3h ago" (since last seen), "NEVER CONNECTED".
std::string ConnectivityText(const v1::Connector& connector, absl::Time now);

absl::Time ToAbslTime(const google::protobuf::Timestamp& timestamp);

}  // namespace certbridge::ctl

#endif  // CERTBRIDGE_TOOLS_CERTBRIDGECTL_OUTPUT_H_
