// TcpProxy: a small TCP forwarder on loopback that a test can cut, to partition a client
// from its servers, and that fails over between upstreams, as a load balancer in front of
// broker replicas would.
//
//   absl::StatusOr<std::unique_ptr<TcpProxy>> proxy =
//       TcpProxy::Start({broker1.agent_address(), broker2.agent_address()});
//   // the agent connects to (*proxy)->address() ...
//   (*proxy)->Cut();       // every forwarded connection closes; new ones are refused
//   (*proxy)->Restore();   // accepts again on the same port
//
// Each accepted connection goes to the first upstream, in order, that accepts a TCP
// connection; if none does, the client's connection is closed at once. Bytes are copied
// unchanged in both directions (TLS passes through); when either side closes, both close.
//
// Cut closes the listening socket, so new connections are refused (RST) rather than
// accepted and dropped, and shuts down every forwarded connection. It is a clean cut: both
// ends see their connection end. A black-hole partition (packets silently dropped) is not
// modelled.
//
// Thread-safety: all methods may be called from any thread. One thread per forwarded
// connection plus one accepting thread; the destructor stops and joins them all.
#ifndef CERTBRIDGE_TESTS_SUPPORT_TCP_PROXY_H_
#define CERTBRIDGE_TESTS_SUPPORT_TCP_PROXY_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace certbridge::testing {

class TcpProxy {
 public:
  // Listens on 127.0.0.1 at a free port. `upstreams` are "127.0.0.1:PORT" addresses.
  // Errors: INVALID_ARGUMENT an upstream is not HOST:PORT with a numeric IPv4 host;
  // INTERNAL the socket calls failed.
  static absl::StatusOr<std::unique_ptr<TcpProxy>> Start(const std::vector<std::string>& upstreams);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Replaces the upstream list for connections accepted from now on (e.g. a restarted
  // replica on new ports). Existing connections keep their upstream.
  absl::Status SetUpstreams(const std::vector<std::string>& upstreams);

  // Closes every forwarded connection and stops listening. Idempotent.
  void Cut();
  // Listens again on the same port. INTERNAL if the port cannot be bound again.
  absl::Status Restore();

  // Connections accepted and forwarded so far, in total (a reconnecting client shows here).
  int connections_forwarded() const { return forwarded_.load(); }

 private:
  struct Upstream {
    std::string host;
    int port = 0;
  };
  struct Link {
    int client_fd = -1;
    int upstream_fd = -1;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  TcpProxy() = default;
  static absl::StatusOr<std::vector<Upstream>> ParseUpstreams(
      const std::vector<std::string>& upstreams);
  absl::Status Listen();
  // Accepts on `listen_fd` until `wake_fd` becomes readable.
  void AcceptLoop(int listen_fd, int wake_fd);
  // A connected socket to the first upstream that accepts, or -1.
  int ConnectUpstream();
  // Copies bytes both ways until either side ends, then shuts both down. Closes nothing:
  // the fds are closed by whoever joins the thread.
  static void Forward(Link* link);
  // Joins and closes links whose forwarding ended.
  void ReapDoneLinksLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  int port_ = 0;  // set by the first Listen, kept across Cut/Restore
  std::atomic<int> forwarded_{0};
  absl::Mutex mu_;
  std::vector<Upstream> upstreams_ ABSL_GUARDED_BY(mu_);
  int listen_fd_ ABSL_GUARDED_BY(mu_) = -1;
  // A pipe per listening period: writing to it stops that period's accept thread.
  int wake_fds_[2] ABSL_GUARDED_BY(mu_) = {-1, -1};
  std::thread accept_thread_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Link>> links_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certbridge::testing

#endif  // CERTBRIDGE_TESTS_SUPPORT_TCP_PROXY_H_
