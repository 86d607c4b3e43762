// AdminService on the API port: every RPC is served by ServeUnary (unary_dispatch.h): the
// ApiCallGate (fair queue, API key, rate limits), then AdminApi on the worker pool; gRPC
// threads never block. Adding an RPC: the proto, a declaration here, a one-statement method
// in the .cc, and its AdminApi method.
#ifndef CERTBRIDGE_BROKER_SERVICE_ADMIN_GRPC_SERVICE_H_
#define CERTBRIDGE_BROKER_SERVICE_ADMIN_GRPC_SERVICE_H_

#include "broker/service/admin_api.h"
#include "broker/service/api_call_gate.h"
#include "certbridge/v1/admin.grpc.pb.h"

namespace certbridge::broker {

class AdminGrpcService final : public v1::AdminService::CallbackService {
 public:
  // Nothing is owned; all must outlive this.
  AdminGrpcService(AdminApi* api, ApiCallGate* gate) : api_(api), gate_(gate) {}

  grpc::ServerUnaryReactor* CreateTenant(grpc::CallbackServerContext* context,
      const v1::CreateTenantRequest* request, v1::Tenant* response) override;
  grpc::ServerUnaryReactor* ListTenants(grpc::CallbackServerContext* context,
      const v1::ListTenantsRequest* request, v1::ListTenantsResponse* response) override;
  grpc::ServerUnaryReactor* CreateApiKey(grpc::CallbackServerContext* context,
      const v1::CreateApiKeyRequest* request, v1::CreateApiKeyResponse* response) override;
  grpc::ServerUnaryReactor* ListApiKeys(grpc::CallbackServerContext* context,
      const v1::ListApiKeysRequest* request, v1::ListApiKeysResponse* response) override;
  grpc::ServerUnaryReactor* RevokeApiKey(grpc::CallbackServerContext* context,
      const v1::RevokeApiKeyRequest* request, v1::ApiKey* response) override;
  grpc::ServerUnaryReactor* CreateEnrollmentToken(grpc::CallbackServerContext* context,
      const v1::CreateEnrollmentTokenRequest* request, v1::CreateEnrollmentTokenResponse* response) override;
  grpc::ServerUnaryReactor* CreateCertificateAuthority(grpc::CallbackServerContext* context,
      const v1::CreateCertificateAuthorityRequest* request, v1::CertificateAuthority* response) override;
  grpc::ServerUnaryReactor* ListCertificateAuthorities(grpc::CallbackServerContext* context,
      const v1::ListCertificateAuthoritiesRequest* request, v1::ListCertificateAuthoritiesResponse* response) override;
  grpc::ServerUnaryReactor* DeleteCertificateAuthority(grpc::CallbackServerContext* context,
      const v1::DeleteCertificateAuthorityRequest* request, google::protobuf::Empty* response) override;
  grpc::ServerUnaryReactor* AssignCertificateAuthority(grpc::CallbackServerContext* context,
      const v1::AssignCertificateAuthorityRequest* request, v1::Connector* response) override;
  grpc::ServerUnaryReactor* UnassignCertificateAuthority(grpc::CallbackServerContext* context,
      const v1::UnassignCertificateAuthorityRequest* request, v1::Connector* response) override;
  grpc::ServerUnaryReactor* ListConnectors(grpc::CallbackServerContext* context,
      const v1::ListConnectorsRequest* request, v1::ListConnectorsResponse* response) override;
  grpc::ServerUnaryReactor* GetConnector(grpc::CallbackServerContext* context,
      const v1::GetConnectorRequest* request, v1::Connector* response) override;
  grpc::ServerUnaryReactor* ApproveConnector(grpc::CallbackServerContext* context,
      const v1::ApproveConnectorRequest* request, v1::Connector* response) override;
  grpc::ServerUnaryReactor* RejectConnector(grpc::CallbackServerContext* context,
      const v1::RejectConnectorRequest* request, v1::Connector* response) override;
  grpc::ServerUnaryReactor* DisableConnector(grpc::CallbackServerContext* context,
      const v1::DisableConnectorRequest* request, v1::Connector* response) override;
  grpc::ServerUnaryReactor* EnableConnector(grpc::CallbackServerContext* context,
      const v1::EnableConnectorRequest* request, v1::Connector* response) override;
  grpc::ServerUnaryReactor* DeleteConnector(grpc::CallbackServerContext* context,
      const v1::DeleteConnectorRequest* request, google::protobuf::Empty* response) override;
  grpc::ServerUnaryReactor* ListAuditEvents(grpc::CallbackServerContext* context,
      const v1::ListAuditEventsRequest* request, v1::ListAuditEventsResponse* response) override;
  grpc::ServerUnaryReactor* SetDeliveryCertificate(grpc::CallbackServerContext* context,
      const v1::SetDeliveryCertificateRequest* request, v1::DeliveryCertificate* response) override;
  grpc::ServerUnaryReactor* GetDeliveryCertificate(grpc::CallbackServerContext* context,
      const v1::GetDeliveryCertificateRequest* request, v1::DeliveryCertificate* response) override;

 private:
  AdminApi* api_;
  ApiCallGate* gate_;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_ADMIN_GRPC_SERVICE_H_
