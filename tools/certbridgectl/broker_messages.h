// The broker requests certbridgectl can send and the responses it can print: AdminService
// (tenants, keys, tokens, CAs, connectors, audit, delivery certificate) and
// CertificateService (certificate requests).
//
// Each request type belongs to exactly one RPC, so the alternative held by a BrokerRequest
// says which RPC to call (see CallBroker in commands.h). Parsing builds BrokerRequests;
// formatting reads BrokerResponses; neither needs a server. WatchCertificateRequestsRequest
// is the one streaming RPC: RunCertbridgectl runs it itself, CallBroker refuses it.
#ifndef CERTBRIDGE_TOOLS_CERTBRIDGECTL_BROKER_MESSAGES_H_
#define CERTBRIDGE_TOOLS_CERTBRIDGECTL_BROKER_MESSAGES_H_

#include <variant>

#include <google/protobuf/empty.pb.h>

#include "certbridge/v1/admin.pb.h"
#include "certbridge/v1/certificate.pb.h"

namespace certbridge::ctl {

namespace v1 = ::certbridge::v1;

using BrokerRequest = std::variant<
    // AdminService
    v1::CreateTenantRequest, v1::ListTenantsRequest,                                //
    v1::CreateApiKeyRequest, v1::ListApiKeysRequest, v1::RevokeApiKeyRequest,       //
    v1::CreateEnrollmentTokenRequest,                                               //
    v1::CreateCertificateAuthorityRequest, v1::ListCertificateAuthoritiesRequest,  //
    v1::DeleteCertificateAuthorityRequest, v1::AssignCertificateAuthorityRequest,  //
    v1::UnassignCertificateAuthorityRequest,                                        //
    v1::ListConnectorsRequest, v1::GetConnectorRequest,                             //
    v1::ApproveConnectorRequest, v1::RejectConnectorRequest,                        //
    v1::DisableConnectorRequest, v1::EnableConnectorRequest,                        //
    v1::DeleteConnectorRequest,                                                     //
    v1::ListAuditEventsRequest,                                                     //
    v1::SetDeliveryCertificateRequest, v1::GetDeliveryCertificateRequest,           //
    // CertificateService
    v1::CreateCertificateRequestRequest, v1::GetCertificateRequestRequest,      //
    v1::ListCertificateRequestsRequest, v1::WatchCertificateRequestsRequest,    //
    v1::CancelCertificateRequestRequest, v1::RevokeCertificateRequest>;

using BrokerResponse = std::variant<
    v1::Tenant, v1::ListTenantsResponse,                  //
    v1::CreateApiKeyResponse, v1::ListApiKeysResponse,    //
    v1::ApiKey,                                           //
    v1::CreateEnrollmentTokenResponse,                    //
    v1::CertificateAuthority,                             //
    v1::ListCertificateAuthoritiesResponse,               //
    v1::Connector, v1::ListConnectorsResponse,            //
    v1::ListAuditEventsResponse, google::protobuf::Empty,  //
    v1::DeliveryCertificate,                              //
    v1::CertificateRequest, v1::ListCertificateRequestsResponse>;

}  // namespace certbridge::ctl

#endif  // CERTBRIDGE_TOOLS_CERTBRIDGECTL_BROKER_MESSAGES_H_
