// ScepService on the API port (proto/certbridge/v1/scep.proto): each call is served by
// ServeUnary (broker/service/unary_dispatch.h): it passes the
// ApiCallGate (fair queue, API key, rate limits) and runs ScepProfileApi on the worker pool;
// gRPC threads never block. The proto <-> record mapping lives here and nowhere else.
#ifndef CERTBRIDGE_BROKER_SCEP_SCEP_GRPC_SERVICE_H_
#define CERTBRIDGE_BROKER_SCEP_SCEP_GRPC_SERVICE_H_

#include "broker/scep/scep_profile_api.h"
#include "broker/service/api_call_gate.h"
#include "certbridge/v1/scep.grpc.pb.h"

namespace certbridge::broker::scep {

// The API view of a stored profile (never the RA key nor the static challenge's hash).
v1::ScepProfile ScepProfileToProto(const ScepProfileRecord& profile);

class ScepGrpcService final : public v1::ScepService::CallbackService {
 public:
  // Nothing is owned; all must outlive this.
  ScepGrpcService(ScepProfileApi* api, ApiCallGate* gate) : api_(api), gate_(gate) {}

  grpc::ServerUnaryReactor* CreateScepProfile(grpc::CallbackServerContext* context,
                                              const v1::CreateScepProfileRequest* request,
                                              v1::ScepProfile* response) override;
  grpc::ServerUnaryReactor* GetScepProfile(grpc::CallbackServerContext* context,
                                           const v1::GetScepProfileRequest* request,
                                           v1::ScepProfile* response) override;
  grpc::ServerUnaryReactor* ListScepProfiles(grpc::CallbackServerContext* context,
                                             const v1::ListScepProfilesRequest* request,
                                             v1::ListScepProfilesResponse* response) override;
  grpc::ServerUnaryReactor* DisableScepProfile(grpc::CallbackServerContext* context,
                                               const v1::DisableScepProfileRequest* request,
                                               v1::ScepProfile* response) override;
  grpc::ServerUnaryReactor* CreateScepChallenge(grpc::CallbackServerContext* context,
                                                const v1::CreateScepChallengeRequest* request,
                                                v1::ScepChallenge* response) override;

 private:
  ScepProfileApi* api_;
  ApiCallGate* gate_;
};

}  // namespace certbridge::broker::scep

#endif  // CERTBRIDGE_BROKER_SCEP_SCEP_GRPC_SERVICE_H_
