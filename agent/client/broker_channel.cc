#include "agent/client/broker_channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

namespace certbridge::agent {

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
  return grpc::CreateCustomChannel(params.address, grpc::SslCredentials(ssl), args);
}

}  // namespace certbridge::agent
