// The one way the agent opens a channel to the broker's agent port: TLS that trusts only the
// broker's root (broker-ca.pem), optionally with the agent's client certificate, and
// keepalive settings that keep an idle stream alive through NATs and proxies for hours.
#ifndef CERTBRIDGE_AGENT_CLIENT_BROKER_CHANNEL_H_
#define CERTBRIDGE_AGENT_CLIENT_BROKER_CHANNEL_H_

#include <memory>
#include <string>

#include <grpcpp/channel.h>

namespace certbridge::agent {

struct BrokerChannelParams {
  std::string address;        // HOST:PORT
  std::string broker_ca_pem;  // trusted root for the broker's TLS certificate
  // Both empty for Register/GetRegistration; both set for Connect (mTLS).
  std::string client_key_pem;
  std::string client_chain_pem;
};

// Never fails: connection errors surface on the first call (UNAVAILABLE).
std::shared_ptr<grpc::Channel> CreateBrokerChannel(const BrokerChannelParams& params);

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_CLIENT_BROKER_CHANNEL_H_
