// The AdminService requests certbridgectl can send and the responses it can print.
//
// Each request type belongs to exactly one RPC, so the alternative held by an AdminRequest
// says which RPC to call (see CallAdminService in commands.h). Parsing builds AdminRequests;
// formatting reads AdminResponses; neither needs a server.
#ifndef CERTBRIDGE_TOOLS_CERTBRIDGECTL_ADMIN_MESSAGES_H_
#define CERTBRIDGE_TOOLS_CERTBRIDGECTL_ADMIN_MESSAGES_H_

#include <variant>

#include <google/protobuf/empty.pb.h>

#include "certbridge/v1/admin.pb.h"

namespace certbridge::ctl {

namespace v1 = ::certbridge::v1;

using AdminRequest = std::variant<
    v1::CreateTenantRequest, v1::ListTenantsRequest,                                //
    v1::CreateApiKeyRequest, v1::ListApiKeysRequest,                                //
    v1::CreateEnrollmentTokenRequest,                                               //
    v1::CreateCertificateAuthorityRequest, v1::ListCertificateAuthoritiesRequest,  //
    v1::DeleteCertificateAuthorityRequest, v1::AssignCertificateAuthorityRequest,  //
    v1::UnassignCertificateAuthorityRequest,                                        //
    v1::ListConnectorsRequest, v1::GetConnectorRequest,                             //
    v1::ApproveConnectorRequest, v1::RejectConnectorRequest,                        //
    v1::DisableConnectorRequest, v1::EnableConnectorRequest,                        //
    v1::DeleteConnectorRequest,                                                     //
    v1::ListAuditEventsRequest>;

using AdminResponse = std::variant<
    v1::Tenant, v1::ListTenantsResponse,                  //
    v1::CreateApiKeyResponse, v1::ListApiKeysResponse,    //
    v1::CreateEnrollmentTokenResponse,                    //
    v1::CertificateAuthority,                             //
    v1::ListCertificateAuthoritiesResponse,               //
    v1::Connector, v1::ListConnectorsResponse,            //
    v1::ListAuditEventsResponse, google::protobuf::Empty>;

}  // namespace certbridge::ctl

#endif  // CERTBRIDGE_TOOLS_CERTBRIDGECTL_ADMIN_MESSAGES_H_
