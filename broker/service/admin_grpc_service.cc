#include "broker/service/admin_grpc_service.h"

#include <string>
#include <utility>

#include "broker/service/field_checks.h"
#include "common/grpc_status.h"

namespace certbridge::broker {
namespace {


// Authenticates, runs `method` on the pool and finishes the call with its result.
template <typename Request, typename Response, typename Method>
grpc::ServerUnaryReactor* Dispatch(grpc::CallbackServerContext* context,
                                   const ApiKeyAuthenticator* auth, WorkerPool* pool,
                                   AdminApi* api, const Request* request, Response* response,
                                   Method method) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  pool->Post([reactor, auth, api, request, response, method,
              authorization = AuthorizationHeader(*context)] {
    absl::StatusOr<Caller> caller = auth->Authenticate(authorization);
    if (!caller.ok()) {
      reactor->Finish(ToGrpcStatus(caller.status()));
      return;
    }
    absl::StatusOr<Response> result = (api->*method)(*caller, *request);
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  return reactor;
}

}  // namespace

#define CERTBRIDGE_ADMIN_RPC(Method, Request, Response)                                      \
  grpc::ServerUnaryReactor* AdminGrpcService::Method(                                      \
      grpc::CallbackServerContext* context, const Request* request, Response* response) {  \
    return Dispatch(context, auth_, pool_, api_, request, response, &AdminApi::Method);     \
  }
CERTBRIDGE_ADMIN_RPC(CreateTenant, v1::CreateTenantRequest, v1::Tenant)
CERTBRIDGE_ADMIN_RPC(ListTenants, v1::ListTenantsRequest, v1::ListTenantsResponse)
CERTBRIDGE_ADMIN_RPC(CreateApiKey, v1::CreateApiKeyRequest, v1::CreateApiKeyResponse)
CERTBRIDGE_ADMIN_RPC(ListApiKeys, v1::ListApiKeysRequest, v1::ListApiKeysResponse)
CERTBRIDGE_ADMIN_RPC(CreateEnrollmentToken, v1::CreateEnrollmentTokenRequest,
                     v1::CreateEnrollmentTokenResponse)
CERTBRIDGE_ADMIN_RPC(CreateCertificateAuthority, v1::CreateCertificateAuthorityRequest,
                     v1::CertificateAuthority)
CERTBRIDGE_ADMIN_RPC(ListCertificateAuthorities, v1::ListCertificateAuthoritiesRequest,
                     v1::ListCertificateAuthoritiesResponse)
CERTBRIDGE_ADMIN_RPC(DeleteCertificateAuthority, v1::DeleteCertificateAuthorityRequest,
                     google::protobuf::Empty)
CERTBRIDGE_ADMIN_RPC(AssignCertificateAuthority, v1::AssignCertificateAuthorityRequest,
                     v1::Connector)
CERTBRIDGE_ADMIN_RPC(UnassignCertificateAuthority, v1::UnassignCertificateAuthorityRequest,
                     v1::Connector)
CERTBRIDGE_ADMIN_RPC(ListConnectors, v1::ListConnectorsRequest, v1::ListConnectorsResponse)
CERTBRIDGE_ADMIN_RPC(GetConnector, v1::GetConnectorRequest, v1::Connector)
CERTBRIDGE_ADMIN_RPC(ApproveConnector, v1::ApproveConnectorRequest, v1::Connector)
CERTBRIDGE_ADMIN_RPC(RejectConnector, v1::RejectConnectorRequest, v1::Connector)
CERTBRIDGE_ADMIN_RPC(DisableConnector, v1::DisableConnectorRequest, v1::Connector)
CERTBRIDGE_ADMIN_RPC(EnableConnector, v1::EnableConnectorRequest, v1::Connector)
CERTBRIDGE_ADMIN_RPC(DeleteConnector, v1::DeleteConnectorRequest, google::protobuf::Empty)
CERTBRIDGE_ADMIN_RPC(ListAuditEvents, v1::ListAuditEventsRequest, v1::ListAuditEventsResponse)
CERTBRIDGE_ADMIN_RPC(SetDeliveryCertificate, v1::SetDeliveryCertificateRequest,
                     v1::DeliveryCertificate)
CERTBRIDGE_ADMIN_RPC(GetDeliveryCertificate, v1::GetDeliveryCertificateRequest,
                     v1::DeliveryCertificate)
#undef CERTBRIDGE_ADMIN_RPC

}  // namespace certbridge::broker
