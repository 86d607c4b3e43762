// The broker's SCEP listener: HTTP or HTTPS on its own port, serving
// /scep/<profile>/pkiclient.exe?operation=GetCACaps|GetCACert|PKIOperation (PKIOperation by
// POST with the DER body, or by GET with a base64 message= parameter) through
// ScepOperations.
//
// Built on GNU libmicrohttpd (Debian's libmicrohttpd-dev) rather than a hand-written parser
// or Boost.Beast: it is a small, long-maintained C library whose connection limit, per-IP
// limit, idle timeout and per-connection memory limit are options rather than code of ours,
// it serves TLS through GnuTLS, and it compiles in seconds on the 2-core CI machine (Beast's
// templates take minutes). Each connection gets its own thread (MHD_USE_THREAD_PER_CONNECTION),
// so Enroll/Poll block on that thread and never on the listener's event loop; the connection
// limit bounds those threads.
//
//   ASSIGN_OR_RETURN(auto server, ScepHttpServer::Start({.listen = "0.0.0.0:0"}, &enrollment));
//   int port = server->port();   // the bound port, for --port_file's scep=N
//   ...                          // the destructor stops accepting and joins the threads
#ifndef CERTBRIDGE_BROKER_SCEP_SCEP_HTTP_SERVER_H_
#define CERTBRIDGE_BROKER_SCEP_SCEP_HTTP_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "broker/scep/scep_enrollment.h"
#include "broker/scep/scep_operations.h"

struct MHD_Daemon;

namespace certbridge::broker::scep {

struct ScepHttpServerOptions {
  // host:port; IPv4 ("0.0.0.0:8080", "127.0.0.1:0") or bracketed IPv6 ("[::]:8080").
  // Port 0 picks a free port.
  std::string listen = {};
  // PEM certificate chain and key for HTTPS; both empty: plain HTTP (behind a TLS-terminating
  // load balancer, or for devices that only speak HTTP: SCEP protects its payload itself).
  std::string tls_certificate_pem = {};
  std::string tls_private_key_pem = {};
  // Connections open at once (each holds a thread while its Enroll waits). Default 256.
  int max_connections = 256;
  // Connections open at once from one client address. Default 32 (MDMs behind NAT share one).
  int max_connections_per_address = 32;
  // An idle connection is closed after this. Default 60 s: micromdm's scepclient sleeps a
  // fixed 30 s after PENDING and then polls on the same keep-alive connection, so a 30 s
  // timeout raced it and the poll failed with EOF (seen in scep_enrollment_test).
  absl::Duration idle_timeout = absl::Seconds(60);
};

class ScepHttpServer {
 public:
  // Binds and starts serving. INVALID_ARGUMENT for a malformed listen address or TLS
  // material; UNAVAILABLE when the port cannot be bound. `enrollment` must outlive the server.
  static absl::StatusOr<std::unique_ptr<ScepHttpServer>> Start(
      const ScepHttpServerOptions& options, ScepEnrollment* enrollment);

  ScepHttpServer(const ScepHttpServer&) = delete;
  ScepHttpServer& operator=(const ScepHttpServer&) = delete;
  // Stops accepting, closes connections and joins their threads (an Enroll in progress is
  // waited for).
  ~ScepHttpServer();

  int port() const { return port_; }
  bool tls() const { return tls_; }

  // Internal: called by libmicrohttpd's access handler.
  ScepOperations& operations() { return operations_; }

 private:
  explicit ScepHttpServer(ScepEnrollment* enrollment) : operations_(enrollment) {}

  ScepOperations operations_;
  std::string tls_certificate_pem_;  // libmicrohttpd reads these for the daemon's lifetime
  std::string tls_private_key_pem_;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
  bool tls_ = false;
};

// The broker's --scep_listen, --scep_tls_cert_file and --scep_tls_key_file.
struct ScepListenerConfig {
  std::string listen = {};         // empty: no SCEP listener
  std::string tls_cert_file = {};  // PEM chain; with tls_key_file: HTTPS
  std::string tls_key_file = {};
};

// Reads the TLS files once (the key stays in memory only) and starts the listener.
// INVALID_ARGUMENT when only one TLS file is given or a file cannot be read (the message
// names the file, never its contents); otherwise as ScepHttpServer::Start.
absl::StatusOr<std::unique_ptr<ScepHttpServer>> StartScepServer(const ScepListenerConfig& config,
                                                                ScepEnrollment* enrollment);

}  // namespace certbridge::broker::scep

#endif  // CERTBRIDGE_BROKER_SCEP_SCEP_HTTP_SERVER_H_
