#include "broker/service/admin_grpc_service.h"

#include <string>
#include <utility>

#include "broker/service/field_checks.h"
#include "common/api_error.h"

namespace certbridge::broker {
namespace {


// Admits the call through the gate, runs `method` on the pool and finishes the call with
// its result.
template <typename Request, typename Response, typename Method>
grpc::ServerUnaryReactor* Dispatch(grpc::CallbackServerContext* context, ApiCallGate* gate,
                                   AdminApi* api, const Request* request, Response* response,
                                   Method method) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  gate->Run(context, reactor, [reactor, api, request, response, method](const Caller& caller) {
    absl::StatusOr<Response> result = (api->*method)(caller, *request);
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatusWithDetails(result.status()));
  });
  return reactor;
}

}  // namespace

#define CERTBRIDGE_DEFINE_ADMIN_RPC(Method, Request, Response)                              \
  grpc::ServerUnaryReactor* AdminGrpcService::Method(                                      \
      grpc::CallbackServerContext* context, const Request* request, Response* response) {  \
    return Dispatch(context, gate_, api_, request, response, &AdminApi::Method);            \
  }
CERTBRIDGE_ADMIN_RPCS(CERTBRIDGE_DEFINE_ADMIN_RPC)
#undef CERTBRIDGE_DEFINE_ADMIN_RPC

}  // namespace certbridge::broker
