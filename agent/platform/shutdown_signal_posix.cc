// shutdown_signal.h on POSIX: SIGTERM/SIGINT blocked in every thread and taken by one
// thread with sigwait.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "agent/platform/shutdown_signal.h"

namespace certbridge::agent {
namespace {

class SigwaitShutdownSignal final : public ShutdownSignal {
 public:
  SigwaitShutdownSignal() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGTERM);
    sigaddset(&signals_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
  }

  void OnShutdown(std::function<void()> on_shutdown) override {
    waiter_ = std::thread([this, on_shutdown = std::move(on_shutdown)] {
      int sig = 0;
      sigwait(&signals_, &sig);
      if (!done_.load()) on_shutdown();
    });
  }

  ~SigwaitShutdownSignal() override {
    if (!waiter_.joinable()) return;
    done_.store(true);
    // Wakes the waiter if no signal came (the session ended on its own).
    pthread_kill(waiter_.native_handle(), SIGTERM);
    waiter_.join();
  }

 private:
  sigset_t signals_;
  std::atomic<bool> done_{false};
  std::thread waiter_;
};

}  // namespace

// SIGTERM to ourselves: pending while blocked, taken by the sigwait thread.
void ShutdownSignal::Request() { kill(getpid(), SIGTERM); }

std::unique_ptr<ShutdownSignal> ShutdownSignal::Install() {
  return std::make_unique<SigwaitShutdownSignal>();
}

}  // namespace certbridge::agent
