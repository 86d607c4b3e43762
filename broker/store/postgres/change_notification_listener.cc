#include "broker/store/postgres/change_notification_listener.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "broker/store/postgres/notify_payload.h"

namespace certbridge::broker {
namespace {

// The reconnect backoff. The ceiling bounds how long wake-ups lag after the database
// comes back; an attempt at a server that is down is refused at once, so one a second per
// replica costs nothing.
constexpr absl::Duration kMinReconnectDelay = absl::Milliseconds(100);
constexpr absl::Duration kMaxReconnectDelay = absl::Seconds(1);

}  // namespace

ChangeNotificationListener::ChangeNotificationListener(Hooks hooks,
                                                       absl::Duration connect_timeout)
    : hooks_(std::move(hooks)), connect_timeout_(connect_timeout) {}

ChangeNotificationListener::~ChangeNotificationListener() {
  absl::MutexLock control(&control_mu_);
  Stop();
}

void ChangeNotificationListener::SetListener(ChangeListener* listener) {
  absl::MutexLock control(&control_mu_);
  if (listener == nullptr) {
    Stop();
    return;
  }
  {
    absl::MutexLock lock(&dispatch_mu_);
    listener_ = listener;
  }
  if (thread_.joinable()) return;
  if (pipe(wake_fds_) != 0) {
    // Without the pipe the thread could not be woken to stop; it is not started, and the
    // dispatcher's sweep still finds all work.
    wake_fds_[0] = wake_fds_[1] = -1;
    return;
  }
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
  absl::MutexLock lock(&listen_mu_);
  listen_mu_.AwaitWithTimeout(absl::Condition(&listening_), connect_timeout_);
}

void ChangeNotificationListener::Stop() {
  if (thread_.joinable()) {
    stop_ = true;
    const char byte = 0;
    while (write(wake_fds_[1], &byte, 1) < 0 && errno == EINTR) {
    }
    thread_.join();
    close(wake_fds_[0]);
    close(wake_fds_[1]);
    wake_fds_[0] = wake_fds_[1] = -1;
  }
  {
    absl::MutexLock lock(&listen_mu_);
    listening_ = false;
  }
  absl::MutexLock lock(&dispatch_mu_);
  listener_ = nullptr;
}

void ChangeNotificationListener::Deliver(const std::string& payload) {
  std::vector<NotifyConnectorChange> connectors;
  std::vector<NotifyCaChange> cas;
  std::vector<NotifyEvent> events = DecodeNotifyPayload(payload, &connectors, &cas);
  if (hooks_.ca_changed) {
    for (const NotifyCaChange& ca : cas) hooks_.ca_changed(ca.tenant_id, ca.ca_id);
    // Assignments changed (or the connector, with its assignments, was deleted).
    for (const NotifyConnectorChange& c : connectors) hooks_.ca_changed(c.tenant_id, "");
  }
  absl::MutexLock lock(&dispatch_mu_);
  if (listener_ == nullptr) return;
  for (const NotifyEvent& e : events) {
    if (!e.ca_id.empty()) listener_->OnJobsReady(e.tenant_id, e.ca_id);
    if (e.change_seq > 0) {
      // An unnamed (collapsed) change says nothing of one request's state; a state this
      // replica does not know (a newer one's) is unknown too: the waiter reads.
      std::optional<RequestState> state;
      if (!e.request_name.empty()) state = RequestStateFromName(e.state);
      listener_->OnRequestChanged(e.tenant_id, e.request_name, e.change_seq, state);
    }
  }
  for (const NotifyConnectorChange& c : connectors) {
    listener_->OnConnectorChanged(c.tenant_id, c.connector_id);
  }
}

void ChangeNotificationListener::Loop() {
  std::unique_ptr<NotificationChannel> channel;
  absl::Duration delay = kMinReconnectDelay;
  // The newest change number when LISTEN last took effect, and whether it had before: a
  // reconnect reports every tenant with a change numbered after it. (A change numbered
  // earlier by a transaction that was still open then, and that committed while the
  // connection was down, is not reported; Watch streams re-read every few seconds and
  // waiting calls answer at their deadline, so it is late, not lost.)
  int64_t seen_newest = 0;
  bool connected_before = false;
  // Waits up to `timeout` for the socket (or only the wake pipe when fd < 0); false when
  // asked to stop.
  auto wait = [this](int fd, absl::Duration timeout) {
    pollfd fds[2] = {{wake_fds_[0], POLLIN, 0}, {fd, POLLIN, 0}};
    const int ms = timeout == absl::InfiniteDuration()
                       ? -1
                       : static_cast<int>(absl::ToInt64Milliseconds(timeout));
    int n = poll(fds, fd < 0 ? 1 : 2, ms);
    return !(stop_ || (n > 0 && (fds[0].revents & POLLIN) != 0));
  };
  while (!stop_) {
    if (channel == nullptr) {
      absl::StatusOr<std::unique_ptr<NotificationChannel>> opened = hooks_.listen();
      absl::Status status = opened.status();
      // LISTEN first, then the reads: a change committed after them is notified, one
      // committed before them is in them (one in between is both: harmless). Changes
      // committed while this thread had no connection reached no one: each such tenant is
      // reported as "some requests changed, up to change_seq", which listeners handle by
      // reading ListRequestChanges from their own cursor. (READY jobs need no such
      // report: the dispatcher's sweep looks for them.)
      std::vector<std::pair<std::string, int64_t>> missed;
      if (status.ok()) {
        absl::StatusOr<int64_t> newest = hooks_.newest_change();
        status = newest.status();
        if (status.ok() && connected_before) {
          absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> changed =
              hooks_.tenants_changed_since(seen_newest);
          status = changed.status();
          if (status.ok()) missed = *std::move(changed);
        }
        if (status.ok()) seen_newest = std::max(seen_newest, *newest);
      }
      if (!status.ok()) {
        if (!wait(-1, delay)) break;
        delay = std::min(delay * 2, kMaxReconnectDelay);
        continue;
      }
      channel = *std::move(opened);
      delay = kMinReconnectDelay;
      connected_before = true;
      // What was notified while this thread was not listening is lost for caches too.
      if (hooks_.everything_may_have_changed) hooks_.everything_may_have_changed();
      {
        absl::MutexLock lock(&listen_mu_);
        listening_ = true;
      }
      absl::MutexLock lock(&dispatch_mu_);
      if (listener_ != nullptr) {
        for (const auto& [tenant_id, seq] : missed) {
          listener_->OnRequestChanged(tenant_id, "", seq, std::nullopt);
        }
      }
    }
    for (const std::string& payload : channel->TakeNotifications()) Deliver(payload);
    const int fd = channel->socket();
    if (fd >= 0 && !wait(fd, absl::InfiniteDuration())) break;
    if (fd < 0 || !channel->ConsumeInput()) {
      channel.reset();  // reconnect on the next turn
      absl::MutexLock lock(&listen_mu_);
      listening_ = false;
    }
  }
}

}  // namespace certbridge::broker
