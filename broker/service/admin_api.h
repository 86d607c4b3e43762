// AdminService's logic, apart from gRPC wiring so that it runs in a unit test with a
// FakeStore. Every method is blocking (store, signing): call it on a worker pool.
//
// Tenant isolation: the tenant comes from the caller's API key; another tenant's object is
// NOT_FOUND exactly as a missing one. Each change appends an audit event.
#ifndef CERTBRIDGE_BROKER_SERVICE_ADMIN_API_H_
#define CERTBRIDGE_BROKER_SERVICE_ADMIN_API_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "broker/service/api_key_auth.h"
#include "broker/service/page_tokens.h"
#include "broker/service/connector_ca.h"
#include "broker/service/connector_events.h"
#include "broker/store/certificate_store.h"
#include "broker/store/store.h"
#include "certbridge/v1/admin.pb.h"
#include "common/clock.h"
#include "google/protobuf/empty.pb.h"

namespace certbridge::broker {

struct AdminApiOptions {
  // A connector counts as CONNECTED while its session heartbeat is younger than this.
  absl::Duration session_liveness = absl::Seconds(90);
  absl::Duration default_enrollment_token_ttl = absl::Hours(24);
  absl::Duration max_enrollment_token_ttl = absl::Hours(24 * 7);
  // Secret of the opaque audit event ids and page tokens; the same on every replica (see
  // page_tokens.h). Empty: a random one per process.
  std::string opaque_id_secret;
};

class AdminApi {
 public:
  // Nothing is owned; all must outlive this.
  AdminApi(Store* store, CertificateStore* requests, const Clock* clock,
           const ConnectorCa* connector_ca, ConnectorEvents* events, AdminApiOptions options);

  absl::StatusOr<v1::Tenant> CreateTenant(const Caller& caller, const v1::CreateTenantRequest& r);
  absl::StatusOr<v1::ListTenantsResponse> ListTenants(const Caller& caller,
                                                      const v1::ListTenantsRequest& r);
  absl::StatusOr<v1::CreateApiKeyResponse> CreateApiKey(const Caller& caller,
                                                        const v1::CreateApiKeyRequest& r);
  absl::StatusOr<v1::ListApiKeysResponse> ListApiKeys(const Caller& caller,
                                                      const v1::ListApiKeysRequest& r);
  absl::StatusOr<v1::ApiKey> RevokeApiKey(const Caller& caller, const v1::RevokeApiKeyRequest& r);
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> CreateEnrollmentToken(
      const Caller& caller, const v1::CreateEnrollmentTokenRequest& r);
  absl::StatusOr<v1::CertificateAuthority> CreateCertificateAuthority(
      const Caller& caller, const v1::CreateCertificateAuthorityRequest& r);
  absl::StatusOr<v1::ListCertificateAuthoritiesResponse> ListCertificateAuthorities(
      const Caller& caller, const v1::ListCertificateAuthoritiesRequest& r);
  absl::StatusOr<google::protobuf::Empty> DeleteCertificateAuthority(
      const Caller& caller, const v1::DeleteCertificateAuthorityRequest& r);
  absl::StatusOr<v1::Connector> AssignCertificateAuthority(
      const Caller& caller, const v1::AssignCertificateAuthorityRequest& r);
  absl::StatusOr<v1::Connector> UnassignCertificateAuthority(
      const Caller& caller, const v1::UnassignCertificateAuthorityRequest& r);
  absl::StatusOr<v1::ListConnectorsResponse> ListConnectors(const Caller& caller,
                                                            const v1::ListConnectorsRequest& r);
  absl::StatusOr<v1::Connector> GetConnector(const Caller& caller,
                                             const v1::GetConnectorRequest& r);
  absl::StatusOr<v1::Connector> ApproveConnector(const Caller& caller,
                                                 const v1::ApproveConnectorRequest& r);
  absl::StatusOr<v1::Connector> RejectConnector(const Caller& caller,
                                                const v1::RejectConnectorRequest& r);
  absl::StatusOr<v1::Connector> DisableConnector(const Caller& caller,
                                                 const v1::DisableConnectorRequest& r);
  absl::StatusOr<v1::Connector> EnableConnector(const Caller& caller,
                                                const v1::EnableConnectorRequest& r);
  absl::StatusOr<google::protobuf::Empty> DeleteConnector(const Caller& caller,
                                                          const v1::DeleteConnectorRequest& r);
  absl::StatusOr<v1::ListAuditEventsResponse> ListAuditEvents(
      const Caller& caller, const v1::ListAuditEventsRequest& r);
  // INVALID_ARGUMENT unless the PEM is one certificate with an RSA (2048+) or EC
  // P-256/P-384 key that can receive CMS envelopes.
  absl::StatusOr<v1::DeliveryCertificate> SetDeliveryCertificate(
      const Caller& caller, const v1::SetDeliveryCertificateRequest& r);
  absl::StatusOr<v1::DeliveryCertificate> GetDeliveryCertificate(
      const Caller& caller, const v1::GetDeliveryCertificateRequest& r);

 private:
  // The tenant whose API keys a call manages: any (named) tenant for the operator, the
  // caller's own for a tenant admin.
  absl::StatusOr<std::string> ApiKeyTenant(const Caller& caller,
                                           const std::string& requested_tenant_id);
  absl::StatusOr<ConnectorRecord> PendingConnectorByCode(const Caller& caller,
                                                         const std::string& code);
  absl::StatusOr<v1::Connector> Transition(const Caller& caller, const std::string& connector_id,
                                           const std::vector<ConnectorState>& from,
                                           ConnectorState to, absl::string_view action);
  absl::StatusOr<v1::Connector> ConnectorView(const std::string& tenant_id,
                                              const std::string& connector_id);
  void Audit(const Caller& caller, absl::string_view action, absl::string_view object_id,
             absl::string_view details);
  absl::Time LiveAfter() const { return clock_->Now() - options_.session_liveness; }

  Store* store_;
  CertificateStore* requests_;
  const Clock* clock_;
  const ConnectorCa* connector_ca_;
  ConnectorEvents* events_;
  AdminApiOptions options_;
  const ScopedIds ids_;
};

// Registration codes are typed by people: compare them upper-cased without dashes/spaces.
std::string NormalizeRegistrationCode(absl::string_view code);

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_ADMIN_API_H_
