#include "tests/support/tcp_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace certbridge::testing {
namespace {

sockaddr_in LoopbackAddress(const std::string& host, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  return addr;
}

// Writes all of `data`; false if the peer is gone.
bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<TcpProxy::Upstream>> TcpProxy::ParseUpstreams(
    const std::vector<std::string>& upstreams) {
  std::vector<Upstream> out;
  for (const std::string& address : upstreams) {
    const size_t colon = address.rfind(':');
    Upstream u;
    in_addr ignored;
    if (colon == std::string::npos ||
        inet_pton(AF_INET, address.substr(0, colon).c_str(), &ignored) != 1 ||
        !absl::SimpleAtoi(address.substr(colon + 1), &u.port) || u.port <= 0 || u.port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("TcpProxy: upstream \"", address, "\" is not IPv4:PORT"));
    }
    u.host = address.substr(0, colon);
    out.push_back(u);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<TcpProxy>> TcpProxy::Start(
    const std::vector<std::string>& upstreams) {
  absl::StatusOr<std::vector<Upstream>> parsed = ParseUpstreams(upstreams);
  if (!parsed.ok()) return parsed.status();
  std::unique_ptr<TcpProxy> proxy(new TcpProxy());
  {
    absl::MutexLock lock(&proxy->mu_);
    proxy->upstreams_ = *std::move(parsed);
  }
  absl::Status listening = proxy->Listen();
  if (!listening.ok()) return listening;
  return proxy;
}

TcpProxy::~TcpProxy() { Cut(); }

absl::Status TcpProxy::SetUpstreams(const std::vector<std::string>& upstreams) {
  absl::StatusOr<std::vector<Upstream>> parsed = ParseUpstreams(upstreams);
  if (!parsed.ok()) return parsed.status();
  absl::MutexLock lock(&mu_);
  upstreams_ = *std::move(parsed);
  return absl::OkStatus();
}

absl::Status TcpProxy::Listen() {
  absl::MutexLock lock(&mu_);
  if (listen_fd_ >= 0) return absl::OkStatus();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("TcpProxy: socket failed");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr = LoopbackAddress("127.0.0.1", port_);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 64) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    close(fd);
    return absl::InternalError(
        absl::StrCat("TcpProxy: cannot listen on 127.0.0.1:", port_, ": errno ", err));
  }
  if (pipe2(wake_fds_, O_CLOEXEC) != 0) {
    close(fd);
    return absl::InternalError("TcpProxy: pipe failed");
  }
  port_ = ntohs(addr.sin_port);
  listen_fd_ = fd;
  const int wake = wake_fds_[0];
  accept_thread_ = std::thread([this, fd, wake] { AcceptLoop(fd, wake); });
  return absl::OkStatus();
}

void TcpProxy::AcceptLoop(int listen_fd, int wake_fd) {
  for (;;) {
    pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    int client = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    int upstream = ConnectUpstream();
    if (upstream < 0) {
      close(client);  // no upstream takes connections: the client sees its connection end
      continue;
    }
    int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto link = std::make_unique<Link>();
    link->client_fd = client;
    link->upstream_fd = upstream;
    Link* raw = link.get();
    absl::MutexLock lock(&mu_);
    ReapDoneLinksLocked();
    link->thread = std::thread([raw] { Forward(raw); });
    links_.push_back(std::move(link));
    forwarded_.fetch_add(1);
  }
}

int TcpProxy::ConnectUpstream() {
  std::vector<Upstream> upstreams;
  {
    absl::MutexLock lock(&mu_);
    upstreams = upstreams_;
  }
  for (const Upstream& u : upstreams) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_in addr = LoopbackAddress(u.host, u.port);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
    close(fd);
  }
  return -1;
}

void TcpProxy::Forward(Link* link) {
  char buffer[16384];
  for (;;) {
    pollfd fds[2] = {{link->client_fd, POLLIN, 0}, {link->upstream_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    bool open = true;
    for (int i = 0; i < 2 && open; ++i) {
      if (fds[i].revents == 0) continue;
      const int from = fds[i].fd;
      const int to = i == 0 ? link->upstream_fd : link->client_fd;
      ssize_t n = recv(from, buffer, sizeof(buffer), 0);
      if (n < 0 && errno == EINTR) continue;
      open = n > 0 && WriteAll(to, buffer, static_cast<size_t>(n));
    }
    if (!open) break;
  }
  // Either side ended: end both, so that each peer sees what a direct connection would.
  shutdown(link->client_fd, SHUT_RDWR);
  shutdown(link->upstream_fd, SHUT_RDWR);
  link->done = true;
}

void TcpProxy::ReapDoneLinksLocked() {
  for (auto it = links_.begin(); it != links_.end();) {
    if ((*it)->done) {
      (*it)->thread.join();
      close((*it)->client_fd);
      close((*it)->upstream_fd);
      it = links_.erase(it);
    } else {
      ++it;
    }
  }
}

void TcpProxy::Cut() {
  std::thread accept_thread;
  int listen_fd = -1;
  int wake_fds[2] = {-1, -1};
  std::vector<std::unique_ptr<Link>> links;
  {
    absl::MutexLock lock(&mu_);
    accept_thread = std::move(accept_thread_);
    listen_fd = listen_fd_;
    listen_fd_ = -1;
    wake_fds[0] = wake_fds_[0];
    wake_fds[1] = wake_fds_[1];
    wake_fds_[0] = wake_fds_[1] = -1;
  }
  if (accept_thread.joinable()) {
    const char byte = 0;
    while (write(wake_fds[1], &byte, 1) < 0 && errno == EINTR) {
    }
    accept_thread.join();
  }
  if (listen_fd >= 0) close(listen_fd);
  for (int fd : wake_fds) {
    if (fd >= 0) close(fd);
  }
  // The accept thread has stopped: no link is added any more.
  {
    absl::MutexLock lock(&mu_);
    links.swap(links_);
  }
  for (auto& link : links) {
    shutdown(link->client_fd, SHUT_RDWR);
    shutdown(link->upstream_fd, SHUT_RDWR);
  }
  for (auto& link : links) {
    link->thread.join();
    close(link->client_fd);
    close(link->upstream_fd);
  }
}

absl::Status TcpProxy::Restore() { return Listen(); }

}  // namespace certbridge::testing
