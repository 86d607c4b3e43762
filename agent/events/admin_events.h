// What the agent tells a Windows admin through the event log (agent/platform/event_log.h):
// one pure function per event, so that ids, types and texts are tested on every platform
// (Wine's event log is a stub). Ids are stable; docs/windows.md lists them. Texts name the
// object and end with the remedy; they never carry a secret (no registration code, token or
// key).
//
//   id    type         when
//   1000  information  registered; waiting for approval              (register)
//   1001  information  approved; agent certificate stored            (register)
//   1100  information  connected to the broker                       (run, first config)
//   1101  warning      a connected stream ended, with the reason     (run)
//   1200  information  agent certificate renewed                     (run)
//   1300  error        CA unreachable (RPC/DCOM or deadline)         (a job)
//   1301  error        job failed: the CA's HRESULT and disposition, or the agent's own
//                      error code, with the remedy                   (a job)
#ifndef CERTBRIDGE_AGENT_EVENTS_ADMIN_EVENTS_H_
#define CERTBRIDGE_AGENT_EVENTS_ADMIN_EVENTS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/platform/event_log.h"
#include "certbridge/v1/agent.pb.h"

namespace certbridge::agent {

inline constexpr uint32_t kEventRegistered = 1000;
inline constexpr uint32_t kEventApproved = 1001;
inline constexpr uint32_t kEventConnected = 1100;
inline constexpr uint32_t kEventDisconnected = 1101;
inline constexpr uint32_t kEventCertificateRenewed = 1200;
inline constexpr uint32_t kEventCaUnreachable = 1300;
inline constexpr uint32_t kEventJobFailed = 1301;

AdminEvent RegisteredEvent(absl::string_view broker, absl::string_view connector_id);
AdminEvent ApprovedEvent(absl::string_view connector_id, absl::string_view tenant_id,
                         absl::string_view serial_hex, absl::Time not_after);
// `proxy` empty when connected directly.
AdminEvent ConnectedEvent(absl::string_view broker, absl::string_view connector_id,
                          absl::string_view proxy);
// `code` is the gRPC status code's name ("UNAVAILABLE"), `message` its message.
AdminEvent DisconnectedEvent(absl::string_view broker, absl::string_view code,
                             absl::string_view message, absl::Duration retry_in);
AdminEvent CertificateRenewedEvent(absl::string_view serial_hex, absl::Time not_after);

// The event for a finished job, or nullopt when there is nothing to report (issued, taken
// under submission, revoked). CA unreachable (1300): HRESULT 0x800706BA, or no answer with
// UNAVAILABLE / DEADLINE_EXCEEDED. Everything else that failed (a denial, a CA error, a job
// the agent's own policy refused): 1301.
std::optional<AdminEvent> JobEvent(const v1::Job& job, const v1::JobResult& result);

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_EVENTS_ADMIN_EVENTS_H_
