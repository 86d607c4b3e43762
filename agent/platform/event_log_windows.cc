// The Application event log through ReportEventW. The source handle is opened once and is
// safe to use from several threads (ReportEventW is thread-safe).
#include "agent/platform/event_log.h"

#include <windows.h>

#include <string>

namespace certbridge::agent {
namespace {

constexpr wchar_t kSourceName[] = L"certbridge-agent";

std::wstring Wide(const std::string& utf8) {
  if (utf8.empty()) return std::wstring();
  int n = MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), nullptr, 0);
  std::wstring out(static_cast<size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), out.data(), n);
  return out;
}

WORD WindowsType(AdminEventType type) {
  switch (type) {
    case AdminEventType::kWarning:
      return EVENTLOG_WARNING_TYPE;
    case AdminEventType::kError:
      return EVENTLOG_ERROR_TYPE;
    case AdminEventType::kInformation:
      break;
  }
  return EVENTLOG_INFORMATION_TYPE;
}

class WindowsEventLog : public EventLog {
 public:
  WindowsEventLog() : source_(RegisterEventSourceW(nullptr, kSourceName)) {}
  ~WindowsEventLog() override {
    if (source_ != nullptr) DeregisterEventSource(source_);
  }

  void Report(const AdminEvent& event) override {
    if (source_ == nullptr) return;
    const std::wstring text = Wide(event.text);
    const wchar_t* strings[] = {text.c_str()};
    ReportEventW(source_, WindowsType(event.type), /*category=*/0, event.id, /*sid=*/nullptr,
                 1, 0, strings, nullptr);
  }

 private:
  HANDLE source_;
};

}  // namespace

std::unique_ptr<EventLog> EventLog::Open() { return std::make_unique<WindowsEventLog>(); }

}  // namespace certbridge::agent
