// shutdown_signal.h on Windows: a console control handler sets an event that one thread
// waits for.
#include <windows.h>

#include <atomic>
#include <thread>

#include "agent/platform/shutdown_signal.h"

namespace certbridge::agent {
namespace {

// The console control handler is a plain function called on a thread the system creates,
// so the event it sets has to be reachable without an object: one per process, owned by
// the installed ConsoleShutdownSignal.
std::atomic<HANDLE> g_stop_requested{nullptr};

BOOL WINAPI OnConsoleControl(DWORD type) {
  switch (type) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
    case CTRL_CLOSE_EVENT:
    case CTRL_LOGOFF_EVENT:
    case CTRL_SHUTDOWN_EVENT:
      if (HANDLE event = g_stop_requested.load(); event != nullptr) SetEvent(event);
      return TRUE;
    default:
      return FALSE;
  }
}

class ConsoleShutdownSignal final : public ShutdownSignal {
 public:
  ConsoleShutdownSignal() : event_(CreateEventW(nullptr, TRUE, FALSE, nullptr)) {
    g_stop_requested.store(event_);
    SetConsoleCtrlHandler(OnConsoleControl, TRUE);
  }

  void OnShutdown(std::function<void()> on_shutdown) override {
    waiter_ = std::thread([this, on_shutdown = std::move(on_shutdown)] {
      WaitForSingleObject(event_, INFINITE);
      if (!done_.load()) on_shutdown();
    });
  }

  ~ConsoleShutdownSignal() override {
    SetConsoleCtrlHandler(OnConsoleControl, FALSE);
    g_stop_requested.store(nullptr);
    done_.store(true);
    SetEvent(event_);
    if (waiter_.joinable()) waiter_.join();
    CloseHandle(event_);
  }

 private:
  const HANDLE event_;
  std::atomic<bool> done_{false};
  std::thread waiter_;
};

}  // namespace

std::unique_ptr<ShutdownSignal> ShutdownSignal::Install() {
  return std::make_unique<ConsoleShutdownSignal>();
}

}  // namespace certbridge::agent
