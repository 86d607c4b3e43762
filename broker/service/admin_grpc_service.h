// AdminService on the API port: each call passes the ApiCallGate (fair queue, API key,
// rate limits) and runs AdminApi on the worker pool; gRPC threads never block.
#ifndef CERTBRIDGE_BROKER_SERVICE_ADMIN_GRPC_SERVICE_H_
#define CERTBRIDGE_BROKER_SERVICE_ADMIN_GRPC_SERVICE_H_

#include "broker/service/admin_api.h"
#include "broker/service/api_call_gate.h"
#include "certbridge/v1/admin.grpc.pb.h"

// Every AdminService method with its request and response, for the declarations here and
// the definitions in the .cc.
#define CERTBRIDGE_ADMIN_RPCS(X) \
  X(CreateTenant, v1::CreateTenantRequest, v1::Tenant) \
  X(ListTenants, v1::ListTenantsRequest, v1::ListTenantsResponse) \
  X(CreateApiKey, v1::CreateApiKeyRequest, v1::CreateApiKeyResponse) \
  X(ListApiKeys, v1::ListApiKeysRequest, v1::ListApiKeysResponse) \
  X(RevokeApiKey, v1::RevokeApiKeyRequest, v1::ApiKey) \
  X(CreateEnrollmentToken, v1::CreateEnrollmentTokenRequest, \
       v1::CreateEnrollmentTokenResponse) \
  X(CreateCertificateAuthority, v1::CreateCertificateAuthorityRequest, \
       v1::CertificateAuthority) \
  X(ListCertificateAuthorities, v1::ListCertificateAuthoritiesRequest, \
       v1::ListCertificateAuthoritiesResponse) \
  X(DeleteCertificateAuthority, v1::DeleteCertificateAuthorityRequest, \
       google::protobuf::Empty) \
  X(AssignCertificateAuthority, v1::AssignCertificateAuthorityRequest, \
       v1::Connector) \
  X(UnassignCertificateAuthority, v1::UnassignCertificateAuthorityRequest, \
       v1::Connector) \
  X(ListConnectors, v1::ListConnectorsRequest, v1::ListConnectorsResponse) \
  X(GetConnector, v1::GetConnectorRequest, v1::Connector) \
  X(ApproveConnector, v1::ApproveConnectorRequest, v1::Connector) \
  X(RejectConnector, v1::RejectConnectorRequest, v1::Connector) \
  X(DisableConnector, v1::DisableConnectorRequest, v1::Connector) \
  X(EnableConnector, v1::EnableConnectorRequest, v1::Connector) \
  X(DeleteConnector, v1::DeleteConnectorRequest, google::protobuf::Empty) \
  X(ListAuditEvents, v1::ListAuditEventsRequest, v1::ListAuditEventsResponse) \
  X(SetDeliveryCertificate, v1::SetDeliveryCertificateRequest, \
       v1::DeliveryCertificate) \
  X(GetDeliveryCertificate, v1::GetDeliveryCertificateRequest, \
       v1::DeliveryCertificate)

namespace certbridge::broker {

class AdminGrpcService final : public v1::AdminService::CallbackService {
 public:
  // Nothing is owned; all must outlive this.
  AdminGrpcService(AdminApi* api, ApiCallGate* gate) : api_(api), gate_(gate) {}

#define CERTBRIDGE_DECLARE_ADMIN_RPC(Method, Request, Response)                       \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* context,            \
                                   const Request* request, Response* response) override;
  CERTBRIDGE_ADMIN_RPCS(CERTBRIDGE_DECLARE_ADMIN_RPC)
#undef CERTBRIDGE_DECLARE_ADMIN_RPC

 private:
  AdminApi* api_;
  ApiCallGate* gate_;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_ADMIN_GRPC_SERVICE_H_
