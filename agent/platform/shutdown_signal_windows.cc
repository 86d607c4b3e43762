// shutdown_signal.h on Windows: a console control handler sets an event that one thread
// waits for.
#include <windows.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "agent/platform/shutdown_signal.h"

namespace certbridge::agent {
namespace {

// The console and service control handlers are plain functions called on threads the
// system creates, so the stop request has to be reachable without an object: one per
// process, the event owned by the installed ConsoleShutdownSignal.
std::mutex g_mu;
HANDLE g_stop_event = nullptr;  // guarded by g_mu
bool g_stop_requested = false;  // guarded by g_mu

void RequestStop() {
  std::lock_guard<std::mutex> lock(g_mu);
  g_stop_requested = true;
  if (g_stop_event != nullptr) SetEvent(g_stop_event);
}

BOOL WINAPI OnConsoleControl(DWORD type) {
  switch (type) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
    case CTRL_CLOSE_EVENT:
    case CTRL_LOGOFF_EVENT:
    case CTRL_SHUTDOWN_EVENT:
      RequestStop();
      return TRUE;
    default:
      return FALSE;
  }
}

class ConsoleShutdownSignal final : public ShutdownSignal {
 public:
  ConsoleShutdownSignal() : event_(CreateEventW(nullptr, TRUE, FALSE, nullptr)) {
    {
      std::lock_guard<std::mutex> lock(g_mu);
      g_stop_event = event_;
      if (g_stop_requested) SetEvent(event_);
    }
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
    {
      std::lock_guard<std::mutex> lock(g_mu);
      g_stop_event = nullptr;
    }
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

void ShutdownSignal::Request() { RequestStop(); }

std::unique_ptr<ShutdownSignal> ShutdownSignal::Install() {
  return std::make_unique<ConsoleShutdownSignal>();
}

}  // namespace certbridge::agent
