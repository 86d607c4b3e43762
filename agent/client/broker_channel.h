// The one way the agent opens a channel to the broker's agent port: TLS that trusts only the
// broker's root (broker-ca.pem), optionally with the agent's client certificate, and
// keepalive settings that keep an idle stream alive through NATs and proxies for hours,
// optionally through an outbound HTTP proxy (HTTP CONNECT; TLS stays end to end between the
// agent and the broker, the proxy sees only the broker's host and port).
#ifndef CERTBRIDGE_AGENT_CLIENT_BROKER_CHANNEL_H_
#define CERTBRIDGE_AGENT_CLIENT_BROKER_CHANNEL_H_

#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace certbridge::agent {

struct BrokerChannelParams {
  std::string address;        // HOST:PORT
  std::string broker_ca_pem;  // trusted root for the broker's TLS certificate
  // Both empty for Register/GetRegistration; both set for Connect (mTLS).
  std::string client_key_pem;
  std::string client_chain_pem;
  // "http://HOST:PORT" (ParseProxyUrl): tunnel through this proxy with HTTP CONNECT.
  // Empty: gRPC's default, i.e. the https_proxy / grpc_proxy environment variables if set,
  // else a direct connection.
  std::string proxy;
};

// Checks an outbound proxy setting and returns it in the form gRPC takes
// ("http://HOST:PORT"). INVALID_ARGUMENT, with the expected form, for anything else:
// another scheme (gRPC speaks only plain-HTTP CONNECT to a proxy), a path, a missing port,
// or credentials in the URL (they would sit on a command line; not supported).
absl::StatusOr<std::string> ParseProxyUrl(absl::string_view url);

// Never fails: connection errors surface on the first call (UNAVAILABLE).
std::shared_ptr<grpc::Channel> CreateBrokerChannel(const BrokerChannelParams& params);

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_CLIENT_BROKER_CHANNEL_H_
