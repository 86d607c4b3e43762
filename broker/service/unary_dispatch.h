// How every unary RPC of CertificateService and AdminService is served: the call passes
// the ApiCallGate (fair queue, API key, rate limits), its work runs on the worker pool with
// the admitted caller, and the call finishes with the work's result, errors carrying their
// google.rpc details (common/api_error.h). One path, so that auth, queueing and error
// details cannot differ between RPCs (docs/architecture.md, "The API layer").
//
//   grpc::ServerUnaryReactor* AdminGrpcService::GetConnector(
//       grpc::CallbackServerContext* context, const v1::GetConnectorRequest* request,
//       v1::Connector* response) {
//     return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
//       return api_->GetConnector(caller, *request);  // on the pool
//     });
//   }
//
// The work returns absl::StatusOr<Response>: the RPC's response message, as the API classes
// (AdminApi, CertificateApi) return it. A call that answers later (it waits for a state)
// passes `keep_open`, which runs after a successful result is in `*response` and returns
// true when it took the call over and will finish `reactor` itself.
//
// Streams do not come here: WatchCertificateRequests admits its caller with
// ApiCallGate::Admit and ends with ToGrpcStatusWithDetails, the same two steps.
#ifndef CERTBRIDGE_BROKER_SERVICE_UNARY_DISPATCH_H_
#define CERTBRIDGE_BROKER_SERVICE_UNARY_DISPATCH_H_

#include <utility>

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "absl/status/statusor.h"
#include "broker/service/api_call_gate.h"
#include "broker/service/api_key_auth.h"
#include "common/api_error.h"

namespace certbridge::broker {

// On a gRPC thread; never blocks. `work(const Caller&)` -> absl::StatusOr<Response> runs on
// the pool; `keep_open(const Caller&, grpc::ServerUnaryReactor*)` -> bool, likewise.
// `response` is gRPC's and lives until the call is finished.
template <typename Response, typename Work, typename KeepOpen>
grpc::ServerUnaryReactor* ServeUnary(ApiCallGate* gate, grpc::CallbackServerContext* context,
                                     Response* response, Work work, KeepOpen keep_open) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  gate->Run(context, reactor,
            [reactor, response, work = std::move(work),
             keep_open = std::move(keep_open)](const Caller& caller) {
              absl::StatusOr<Response> result = work(caller);
              if (!result.ok()) {
                reactor->Finish(ToGrpcStatusWithDetails(result.status()));
                return;
              }
              *response = *std::move(result);
              if (keep_open(caller, reactor)) return;
              reactor->Finish(grpc::Status::OK);
            });
  return reactor;
}

// The common case: the call finishes as soon as the work returns.
template <typename Response, typename Work>
grpc::ServerUnaryReactor* ServeUnary(ApiCallGate* gate, grpc::CallbackServerContext* context,
                                     Response* response, Work work) {
  return ServeUnary(gate, context, response, std::move(work),
                    [](const Caller&, grpc::ServerUnaryReactor*) { return false; });
}

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_UNARY_DISPATCH_H_
