// Linux has no event log to feed: the JSON log lines (journald under systemd) carry every
// event already, so Report does nothing.
#include "agent/platform/event_log.h"

namespace certbridge::agent {
namespace {

class NoEventLog : public EventLog {
 public:
  void Report(const AdminEvent&) override {}
};

}  // namespace

std::unique_ptr<EventLog> EventLog::Open() { return std::make_unique<NoEventLog>(); }

}  // namespace certbridge::agent
