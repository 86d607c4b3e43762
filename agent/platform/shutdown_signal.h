// How the operating system asks the agent to stop, turned into one callback.
//   POSIX (shutdown_signal_posix.cc): SIGTERM or SIGINT, taken by a thread with sigwait.
//   Windows (shutdown_signal_windows.cc): Ctrl+C, Ctrl+Break, closing the console, logoff
//   and system shutdown (SetConsoleCtrlHandler).
//
// Usage, as in agent/main.cc:
//   std::unique_ptr<ShutdownSignal> shutdown = ShutdownSignal::Install();  // first
//   ... create the threads, the session ...
//   shutdown->OnShutdown([&session] { session.Stop(); });
//   session.Run();
//   shutdown.reset();   // before the session goes away
//
// Not thread-safe: one owner calls Install, OnShutdown and the destructor.
#ifndef CERTBRIDGE_AGENT_PLATFORM_SHUTDOWN_SIGNAL_H_
#define CERTBRIDGE_AGENT_PLATFORM_SHUTDOWN_SIGNAL_H_

#include <functional>
#include <memory>

namespace certbridge::agent {

class ShutdownSignal {
 public:
  // Starts catching the stop request. Call before any other thread is started: on POSIX the
  // signals are blocked here and later threads inherit the mask. One per process.
  static std::unique_ptr<ShutdownSignal> Install();

  // Runs `on_shutdown` once, on a thread of its own, when a stop is requested (also when it
  // was requested before this call). REQUIRES: called at most once.
  virtual void OnShutdown(std::function<void()> on_shutdown) = 0;

  // Stops waiting; `on_shutdown` is not called after the destructor returns.
  virtual ~ShutdownSignal() = default;

  // Asks the process to stop as if the OS had (the Windows service control handler calls
  // it). Before Install, the request is kept and fires as soon as OnShutdown is called.
  // Thread-safe.
  static void Request();

 protected:
  ShutdownSignal() = default;
};

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_PLATFORM_SHUTDOWN_SIGNAL_H_
