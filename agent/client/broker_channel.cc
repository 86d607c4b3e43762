#include "agent/client/broker_channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace certbridge::agent {

absl::StatusOr<std::string> ParseProxyUrl(absl::string_view url) {
  // Whatever precedes an '@' may be a password: never echoed.
  const size_t at = url.rfind('@');
  const std::string shown =
      at == absl::string_view::npos ? std::string(url) : absl::StrCat("...@", url.substr(at + 1));
  const auto invalid = [&shown](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("proxy \"", shown, "\": ", why,
                                                   "; expected http://HOST:PORT, e.g. "
                                                   "http://proxy.corp:3128"));
  };
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return invalid(absl::StartsWith(url, "https://")
                       ? "only http:// proxies are supported (the tunnel carries TLS to the broker)"
                       : "no http:// scheme");
  }
  absl::ConsumeSuffix(&rest, "/");
  if (rest.find('@') != absl::string_view::npos) {
    return invalid("credentials in the proxy URL are not supported");
  }
  if (rest.find_first_of("/?#") != absl::string_view::npos) return invalid("unexpected path");
  const size_t colon = rest.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(rest.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return invalid("needs a host and a port");
  }
  return absl::StrCat("http://", rest);
}

std::shared_ptr<grpc::Channel> CreateBrokerChannel(const BrokerChannelParams& params) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = params.broker_ca_pem;
  ssl.pem_private_key = params.client_key_pem;
  ssl.pem_cert_chain = params.client_chain_pem;
  grpc::ChannelArguments args;
  // Pings every 30 s even with no call data, and no limit on pings without data: the
  // stream is idle most of the time, and without these gRPC stops pinging and idle-timeout
  // middleboxes silently drop the connection. The broker allows this rate.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // The agent makes a new channel per connection attempt (the certificate may have been
  // renewed) and runs its own backoff: a private subchannel pool keeps a new channel from
  // inheriting an old one's connection or its reconnect backoff.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (!params.proxy.empty()) {
    // gRPC's HTTP CONNECT handshaker (src/core/ext/filters/client_channel/http_proxy.cc in
    // 1.51): the channel arg wins over the environment.
    args.SetString(GRPC_ARG_HTTP_PROXY, params.proxy);
  }
  return grpc::CreateCustomChannel(params.address, grpc::SslCredentials(ssl), args);
}

}  // namespace certbridge::agent
