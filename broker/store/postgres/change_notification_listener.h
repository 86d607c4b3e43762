// ChangeNotificationListener: the thread behind PostgresStore::SetChangeListener. It
// holds one connection that LISTENs on "certbridge_events", decodes every NOTIFY payload
// (notify_payload.h) and calls the ChangeListener for each record. When the connection
// drops it reconnects with backoff (100 ms doubling to 1 s), and reports every tenant whose
// requests changed while it was away as OnRequestChanged(tenant, "", newest change_seq).
//
// The database is reached only through NotificationChannel and the Hooks, so the loop is
// unit-tested without PostgreSQL (tests/broker/store/change_notification_listener_test.cc);
// PostgresStore supplies libpq ones.
//
//   ChangeNotificationListener notifications(hooks, connect_timeout);
//   notifications.SetListener(&fanout);   // returns once LISTEN is in effect (or timed out)
//   ...
//   notifications.SetListener(nullptr);   // stops and joins the thread
//
// Thread-safety: SetListener may be called from any thread, but not from inside a listener
// call. Listener calls and hooks run on the thread.
#ifndef CERTBRIDGE_BROKER_STORE_POSTGRES_CHANGE_NOTIFICATION_LISTENER_H_
#define CERTBRIDGE_BROKER_STORE_POSTGRES_CHANGE_NOTIFICATION_LISTENER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/store/certificate_store.h"

namespace certbridge::broker {

// A connection that LISTENs. PostgresStore's wraps a pg::Connection.
class NotificationChannel {
 public:
  virtual ~NotificationChannel() = default;
  // The descriptor to poll for input; < 0 when the connection is broken.
  virtual int socket() = 0;
  // Reads what arrived; false when the connection broke.
  virtual bool ConsumeInput() = 0;
  // The payloads received so far, oldest first; each is returned once.
  virtual std::vector<std::string> TakeNotifications() = 0;
};

class ChangeNotificationListener {
 public:
  struct Hooks {
    // Opens the connection and makes it LISTEN. Required.
    std::function<absl::StatusOr<std::unique_ptr<NotificationChannel>>()> listen;
    // Run after each LISTEN took effect, on another connection. Required.
    // The newest change number now:
    std::function<absl::StatusOr<int64_t>()> newest_change;
    // Per tenant, its newest change numbered after `change_seq`:
    std::function<absl::StatusOr<std::vector<std::pair<std::string, int64_t>>>(int64_t)>
        tenants_changed_since;
    // Told what may have changed a cached certificate authority record: a CA ("A"
    // records), every CA of a tenant (ca_id empty: a connector change, which may be an
    // assignment), or anything (LISTEN took effect again after a gap). Optional.
    std::function<void(const std::string& tenant_id, const std::string& ca_id)> ca_changed;
    std::function<void()> everything_may_have_changed;
  };

  ChangeNotificationListener(Hooks hooks, absl::Duration connect_timeout);
  // Stops the thread.
  ~ChangeNotificationListener();
  ChangeNotificationListener(const ChangeNotificationListener&) = delete;
  ChangeNotificationListener& operator=(const ChangeNotificationListener&) = delete;

  // Not owned. Starts the thread on first use and returns once LISTEN is in effect, or
  // after connect_timeout (the thread keeps trying). nullptr stops the thread; when that
  // returns, no call to the old listener is running or will be made.
  void SetListener(ChangeListener* listener);

 private:
  void Loop();
  void Stop() ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  // Decodes one payload and calls the hooks and the listener.
  void Deliver(const std::string& payload);

  const Hooks hooks_;
  const absl::Duration connect_timeout_;

  // Held while the listener is called, so that SetListener(nullptr) can wait for a call
  // in progress.
  absl::Mutex dispatch_mu_;
  ChangeListener* listener_ ABSL_GUARDED_BY(dispatch_mu_) = nullptr;
  absl::Mutex listen_mu_;
  bool listening_ ABSL_GUARDED_BY(listen_mu_) = false;  // LISTEN in effect
  // Serialises SetListener and the destructor, which start and stop the thread.
  absl::Mutex control_mu_;
  std::thread thread_ ABSL_GUARDED_BY(control_mu_);
  std::atomic<bool> stop_{false};
  int wake_fds_[2] = {-1, -1};  // a pipe: writing wakes the thread to stop
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_POSTGRES_CHANGE_NOTIFICATION_LISTENER_H_
