// AdminService on the API port: authenticates the API key and runs AdminApi on the worker
// pool; gRPC threads never block.
#ifndef CERTBRIDGE_BROKER_SERVICE_ADMIN_GRPC_SERVICE_H_
#define CERTBRIDGE_BROKER_SERVICE_ADMIN_GRPC_SERVICE_H_

#include "broker/service/admin_api.h"
#include "broker/service/api_key_auth.h"
#include "broker/service/worker_pool.h"
#include "certbridge/v1/admin.grpc.pb.h"

namespace certbridge::broker {

class AdminGrpcService final : public v1::AdminService::CallbackService {
 public:
  // Nothing is owned; all must outlive this.
  AdminGrpcService(AdminApi* api, const ApiKeyAuthenticator* auth, WorkerPool* pool)
      : api_(api), auth_(auth), pool_(pool) {}

#define CERTBRIDGE_ADMIN_RPC(Method, Request, Response)                               \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* context,            \
                                   const Request* request, Response* response) override;
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

 private:
  AdminApi* api_;
  const ApiKeyAuthenticator* auth_;
  WorkerPool* pool_;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_ADMIN_GRPC_SERVICE_H_
