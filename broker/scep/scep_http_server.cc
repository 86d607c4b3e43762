// libmicrohttpd glue for the SCEP listener: address parsing, per-request body collection
// within kMaxScepMessageBytes, routing of /scep/<profile>/pkiclient.exe to ScepOperations.
#include "broker/scep/scep_http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/pki/scep_message.h"

namespace certbridge::broker::scep {
namespace {

constexpr absl::string_view kPathPrefix = "/scep/";
constexpr absl::string_view kPathSuffix = "/pkiclient.exe";
constexpr size_t kMaxProfileIdChars = 64;
// base64 of the largest message, with padding.
constexpr size_t kMaxBase64MessageChars = (pki::kMaxScepMessageBytes + 2) / 3 * 4;
// A connection's buffers (request line, headers, GET message= of up to ~88 KiB): bounded so
// max_connections connections hold at most max_connections * 256 KiB.
constexpr size_t kConnectionMemoryLimit = 256 * 1024;

// One request's state between libmicrohttpd's calls of the access handler.
struct RequestState {
  std::string body;
  bool too_large = false;
};

bool ValidProfileId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxProfileIdChars) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
           c == '.';
  });
}

MHD_Result Send(MHD_Connection* connection, const ScepHttpReply& reply) {
  MHD_Response* response = MHD_create_response_from_buffer(
      reply.body.size(), const_cast<char*>(reply.body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, reply.content_type.c_str());
  const MHD_Result queued =
      MHD_queue_response(connection, static_cast<unsigned int>(reply.status_code), response);
  MHD_destroy_response(response);
  return queued;
}

MHD_Result SendText(MHD_Connection* connection, int status_code, std::string text) {
  return Send(connection, ScepHttpReply{status_code, "text/plain", std::move(text)});
}

MHD_Result HandleRequest(void* cls, MHD_Connection* connection, const char* url,
                         const char* method, const char* /*version*/, const char* upload_data,
                         size_t* upload_data_size, void** request_cls) {
  auto* server = static_cast<ScepHttpServer*>(cls);
  const bool post = std::strcmp(method, MHD_HTTP_METHOD_POST) == 0;
  if (*request_cls == nullptr) {
    auto* state = new RequestState;
    *request_cls = state;
    if (!post && std::strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
      return SendText(connection, 405, "SCEP takes GET and POST\n");
    }
    // Refuse an announced oversize body before reading it.
    const char* length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t announced = 0;
    if (length != nullptr && absl::SimpleAtoi(length, &announced) &&
        announced > pki::kMaxScepMessageBytes) {
      return SendText(connection, 413,
                      absl::StrCat("SCEP message over ", pki::kMaxScepMessageBytes, " bytes\n"));
    }
    return MHD_YES;
  }
  auto* state = static_cast<RequestState*>(*request_cls);
  if (*upload_data_size != 0) {
    if (state->body.size() + *upload_data_size > pki::kMaxScepMessageBytes) {
      state->too_large = true;
    } else if (!state->too_large) {
      state->body.append(upload_data, *upload_data_size);
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (state->too_large) {
    return SendText(connection, 413,
                    absl::StrCat("SCEP message over ", pki::kMaxScepMessageBytes, " bytes\n"));
  }

  absl::string_view path(url);
  if (!absl::ConsumePrefix(&path, kPathPrefix) || !absl::ConsumeSuffix(&path, kPathSuffix) ||
      !ValidProfileId(path)) {
    return SendText(connection, 404,
                    "SCEP URLs have the form /scep/<profile>/pkiclient.exe?operation=...\n");
  }
  const char* operation_arg =
      MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "operation");
  const absl::string_view operation = operation_arg == nullptr ? "" : operation_arg;
  std::string message;
  if (operation == "PKIOperation") {
    if (post) {
      message = std::move(state->body);
    } else {
      const char* encoded =
          MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "message");
      if (encoded == nullptr) {
        return SendText(connection, 400, "GET PKIOperation needs a base64 message= parameter\n");
      }
      std::string base64(encoded);
      if (base64.size() > kMaxBase64MessageChars) {
        return SendText(connection, 413, absl::StrCat("SCEP message over ",
                                                      pki::kMaxScepMessageBytes, " bytes\n"));
      }
      // An unescaped '+' in a query string arrives as a space.
      std::replace(base64.begin(), base64.end(), ' ', '+');
      base64.erase(std::remove_if(base64.begin(), base64.end(),
                                  [](char c) { return c == '\r' || c == '\n'; }),
                   base64.end());
      if (!absl::Base64Unescape(base64, &message)) {
        return SendText(connection, 400, "message= is not base64\n");
      }
    }
  } else if (post) {
    return SendText(connection, 405, "only PKIOperation is sent by POST\n");
  }
  return Send(connection, server->operations().Handle(path, operation, message));
}

void RequestCompleted(void* /*cls*/, MHD_Connection* /*connection*/, void** request_cls,
                      MHD_RequestTerminationCode /*code*/) {
  delete static_cast<RequestState*>(*request_cls);
  *request_cls = nullptr;
}

struct ListenAddress {
  sockaddr_storage address{};
  bool ipv6 = false;
};

absl::StatusOr<ListenAddress> ParseListen(absl::string_view listen) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SCEP listen address \"", listen, "\" is not host:port (e.g. 0.0.0.0:8080, [::]:0)"));
  }
  std::string host(listen.substr(0, colon));
  ListenAddress out;
  if (absl::ConsumePrefix(&listen, "[")) {
    host = host.substr(1, host.size() >= 2 ? host.size() - 2 : 0);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out.address);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("SCEP listen address: \"", host, "\" is not an IPv6 address"));
    }
    out.ipv6 = true;
    return out;
  }
  auto* in4 = reinterpret_cast<sockaddr_in*>(&out.address);
  in4->sin_family = AF_INET;
  in4->sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &in4->sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SCEP listen address: \"", host, "\" is not an IPv4 address (or [IPv6])"));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ScepHttpServer>> ScepHttpServer::Start(
    const ScepHttpServerOptions& options, ScepEnrollment* enrollment) {
  absl::StatusOr<ListenAddress> address = ParseListen(options.listen);
  if (!address.ok()) return address.status();
  const bool tls = !options.tls_certificate_pem.empty() || !options.tls_private_key_pem.empty();
  if (tls && (options.tls_certificate_pem.empty() || options.tls_private_key_pem.empty())) {
    return absl::InvalidArgumentError("SCEP HTTPS needs both a certificate and its key");
  }
  if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
    return absl::FailedPreconditionError("this libmicrohttpd has no TLS support");
  }
  if (options.max_connections < 1 || options.max_connections_per_address < 1) {
    return absl::InvalidArgumentError("SCEP connection limits must be at least 1");
  }
  std::unique_ptr<ScepHttpServer> server(new ScepHttpServer(enrollment));
  server->tls_ = tls;
  server->tls_certificate_pem_ = options.tls_certificate_pem;
  server->tls_private_key_pem_ = options.tls_private_key_pem;

  unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                       MHD_USE_POLL;
  if (address->ipv6) flags |= MHD_USE_IPv6;
  if (tls) flags |= MHD_USE_TLS;
  const unsigned int timeout_seconds = static_cast<unsigned int>(
      std::max<int64_t>(1, absl::ToInt64Seconds(options.idle_timeout)));
  MHD_OptionItem tls_options[] = {
      {MHD_OPTION_HTTPS_MEM_CERT, 0, const_cast<char*>(server->tls_certificate_pem_.c_str())},
      {MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char*>(server->tls_private_key_pem_.c_str())},
      {MHD_OPTION_END, 0, nullptr}};
  MHD_OptionItem no_options[] = {{MHD_OPTION_END, 0, nullptr}};
  server->daemon_ = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &HandleRequest, server.get(),
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&address->address),
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned int>(options.max_connections),
      MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      static_cast<unsigned int>(options.max_connections_per_address),
      MHD_OPTION_CONNECTION_TIMEOUT, timeout_seconds,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, kConnectionMemoryLimit,
      MHD_OPTION_NOTIFY_COMPLETED, &RequestCompleted, nullptr,
      MHD_OPTION_ARRAY, tls ? tls_options : no_options,
      MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "cannot serve SCEP on ", options.listen,
        tls ? " (port in use, or the TLS certificate/key is not valid PEM?)" : " (port in use?)"));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(server->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  server->port_ = info == nullptr ? 0 : info->port;
  return server;
}

namespace {

absl::StatusOr<std::string> ReadPemFile(const std::string& path, absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  if (in.is_open()) contents << in.rdbuf();
  if (!in.is_open() || in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read \"", path, "\" (missing or unreadable)"));
  }
  if (contents.str().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": \"", path, "\" is empty"));
  }
  return contents.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ScepHttpServer>> StartScepServer(const ScepListenerConfig& config,
                                                                ScepEnrollment* enrollment) {
  ScepHttpServerOptions options;
  options.listen = config.listen;
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--scep_tls_cert_file and --scep_tls_key_file go together (both for HTTPS, neither "
        "for HTTP)");
  }
  if (!config.tls_cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadPemFile(config.tls_cert_file, "--scep_tls_cert_file");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPemFile(config.tls_key_file, "--scep_tls_key_file");
    if (!key.ok()) return key.status();
    options.tls_certificate_pem = std::move(*cert);
    options.tls_private_key_pem = std::move(*key);
  }
  return ScepHttpServer::Start(options, enrollment);
}

ScepHttpServer::~ScepHttpServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

}  // namespace certbridge::broker::scep
