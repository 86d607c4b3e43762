#include "broker/service/admin_grpc_service.h"

#include "broker/service/unary_dispatch.h"

namespace certbridge::broker {

grpc::ServerUnaryReactor* AdminGrpcService::CreateTenant(
    grpc::CallbackServerContext* context, const v1::CreateTenantRequest* request,
    v1::Tenant* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->CreateTenant(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::ListTenants(
    grpc::CallbackServerContext* context, const v1::ListTenantsRequest* request,
    v1::ListTenantsResponse* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->ListTenants(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::CreateApiKey(
    grpc::CallbackServerContext* context, const v1::CreateApiKeyRequest* request,
    v1::CreateApiKeyResponse* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->CreateApiKey(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::ListApiKeys(
    grpc::CallbackServerContext* context, const v1::ListApiKeysRequest* request,
    v1::ListApiKeysResponse* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->ListApiKeys(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::RevokeApiKey(
    grpc::CallbackServerContext* context, const v1::RevokeApiKeyRequest* request,
    v1::ApiKey* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->RevokeApiKey(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::CreateEnrollmentToken(
    grpc::CallbackServerContext* context, const v1::CreateEnrollmentTokenRequest* request,
    v1::CreateEnrollmentTokenResponse* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->CreateEnrollmentToken(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::CreateCertificateAuthority(
    grpc::CallbackServerContext* context, const v1::CreateCertificateAuthorityRequest* request,
    v1::CertificateAuthority* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->CreateCertificateAuthority(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::ListCertificateAuthorities(
    grpc::CallbackServerContext* context, const v1::ListCertificateAuthoritiesRequest* request,
    v1::ListCertificateAuthoritiesResponse* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->ListCertificateAuthorities(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::DeleteCertificateAuthority(
    grpc::CallbackServerContext* context, const v1::DeleteCertificateAuthorityRequest* request,
    google::protobuf::Empty* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->DeleteCertificateAuthority(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::AssignCertificateAuthority(
    grpc::CallbackServerContext* context, const v1::AssignCertificateAuthorityRequest* request,
    v1::Connector* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->AssignCertificateAuthority(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::UnassignCertificateAuthority(
    grpc::CallbackServerContext* context, const v1::UnassignCertificateAuthorityRequest* request,
    v1::Connector* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->UnassignCertificateAuthority(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::ListConnectors(
    grpc::CallbackServerContext* context, const v1::ListConnectorsRequest* request,
    v1::ListConnectorsResponse* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->ListConnectors(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::GetConnector(
    grpc::CallbackServerContext* context, const v1::GetConnectorRequest* request,
    v1::Connector* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->GetConnector(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::ApproveConnector(
    grpc::CallbackServerContext* context, const v1::ApproveConnectorRequest* request,
    v1::Connector* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->ApproveConnector(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::RejectConnector(
    grpc::CallbackServerContext* context, const v1::RejectConnectorRequest* request,
    v1::Connector* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->RejectConnector(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::DisableConnector(
    grpc::CallbackServerContext* context, const v1::DisableConnectorRequest* request,
    v1::Connector* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->DisableConnector(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::EnableConnector(
    grpc::CallbackServerContext* context, const v1::EnableConnectorRequest* request,
    v1::Connector* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->EnableConnector(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::DeleteConnector(
    grpc::CallbackServerContext* context, const v1::DeleteConnectorRequest* request,
    google::protobuf::Empty* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->DeleteConnector(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::ListAuditEvents(
    grpc::CallbackServerContext* context, const v1::ListAuditEventsRequest* request,
    v1::ListAuditEventsResponse* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->ListAuditEvents(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::SetDeliveryCertificate(
    grpc::CallbackServerContext* context, const v1::SetDeliveryCertificateRequest* request,
    v1::DeliveryCertificate* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->SetDeliveryCertificate(caller, *request);
  });
}

grpc::ServerUnaryReactor* AdminGrpcService::GetDeliveryCertificate(
    grpc::CallbackServerContext* context, const v1::GetDeliveryCertificateRequest* request,
    v1::DeliveryCertificate* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->GetDeliveryCertificate(caller, *request);
  });
}

}  // namespace certbridge::broker
