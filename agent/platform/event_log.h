// The operating system's log for the events a Windows admin looks for (docs/windows.md
// lists them; agent/events/admin_events.h decides what each one says). One implementation
// per platform:
//   event_log_windows.cc  the Application log, source "certbridge-agent": RegisterEventSourceW
//                         once, ReportEventW with the event's text as its one insertion
//                         string. The MSI registers the source with certbridge-agent.exe as
//                         its message file (a message table whose every entry is "%1").
//   event_log_posix.cc    nothing: on Linux the agent's JSON lines on stderr (journald under
//                         systemd) are the log, and they already carry every event.
#ifndef CERTBRIDGE_AGENT_PLATFORM_EVENT_LOG_H_
#define CERTBRIDGE_AGENT_PLATFORM_EVENT_LOG_H_

#include <cstdint>
#include <memory>
#include <string>

namespace certbridge::agent {

enum class AdminEventType { kInformation, kWarning, kError };

struct AdminEvent {
  uint32_t id = 0;  // stable, documented (admin_events.h)
  AdminEventType type = AdminEventType::kInformation;
  std::string text;  // UTF-8; one or more sentences, the remedy last; never a secret
};

class EventLog {
 public:
  // Never fails: if the OS log cannot be opened, Report does nothing.
  static std::unique_ptr<EventLog> Open();
  virtual ~EventLog() = default;

  // Best effort: a log that cannot be written never stops the agent. Thread-safe.
  virtual void Report(const AdminEvent& event) = 0;

 protected:
  EventLog() = default;
};

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_PLATFORM_EVENT_LOG_H_
