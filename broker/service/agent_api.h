// AgentService's logic, apart from gRPC wiring. Blocking (store, signing): call it on a
// worker pool.
#ifndef CERTBRIDGE_BROKER_SERVICE_AGENT_API_H_
#define CERTBRIDGE_BROKER_SERVICE_AGENT_API_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "broker/metrics/broker_metrics.h"
#include "broker/service/audit_throttle.h"
#include "broker/service/connector_ca.h"
#include "broker/store/certificate_store.h"
#include "broker/store/store.h"
#include "certbridge/v1/agent.pb.h"
#include "common/clock.h"

namespace certbridge::broker {

struct AgentApiOptions {
  // Registration codes are typed by an admin soon after the agent prints them.
  absl::Duration registration_code_ttl = absl::Minutes(30);
  // Shown to the agent; the code is appended as ?code=XXXX-XXXX.
  std::string registration_url_base = "https://certbridge.invalid/connectors/approve";
  int heartbeat_interval_seconds = 30;
  // After a renewal, the certificate it replaced still opens a stream for this long (the
  // agent may have crashed before saving the new one); after that only the newest does.
  absl::Duration renewal_grace = absl::Hours(1);
  // A renewal is refused while the current certificate is younger than this (or a quarter
  // of its lifetime, if shorter): a compromised agent cannot mint certificates in a loop.
  absl::Duration min_renewal_interval = absl::Minutes(10);
  // Counts reconnecting agents. Not owned; must outlive the AgentApi. nullptr: nothing is
  // recorded.
  BrokerMetrics* metrics = nullptr;
  // Where the tenant's delivery certificate is read for the approval (CheckRegistration),
  // which the agent pins. Not owned; must outlive the AgentApi. nullptr: approvals carry
  // no delivery certificate (the agent then pins on first use).
  CertificateStore* delivery_certificates = nullptr;
  // A connector's stream takeovers are audited (connector.stream_replaced) at most once
  // per this interval per connector; the row after a quiet spell counts the takeovers
  // left out. Cloned agents fighting over one registration take over at every reconnect.
  absl::Duration stream_replaced_audit_interval = absl::Minutes(1);
};

class AgentApi {
 public:
  // Nothing is owned; all must outlive this.
  AgentApi(Store* store, const Clock* clock, const ConnectorCa* connector_ca,
           AgentApiOptions options);

  // Errors: UNAUTHENTICATED unknown enrollment token; FAILED_PRECONDITION used or expired
  // token; INVALID_ARGUMENT bad CSR or fields.
  absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& r);

  // One look, no waiting: PENDING or APPROVED. APPROVED carries the tenant's delivery
  // certificate and its SHA-256 fingerprint when the tenant has one (the agent pins it).
  // NOT_FOUND unknown connector or wrong poll secret; PERMISSION_DENIED rejected;
  // FAILED_PRECONDITION code expired.
  absl::StatusOr<v1::GetRegistrationResponse> CheckRegistration(
      const v1::GetRegistrationRequest& r);

  // Checks a stream's client certificate chain and the connector row: the connector must
  // exist, belong to the certificate's tenant and be ACTIVE, and the certificate must be
  // its current one (CheckCurrentCertificate). UNAUTHENTICATED (bad, missing or replaced
  // certificate, deleted connector), FAILED_PRECONDITION (pending),
  // PERMISSION_DENIED (disabled or rejected).
  absl::StatusOr<ConnectorRecord> AuthenticateStream(absl::string_view client_chain_pem);

  // Re-reads the connector for a live stream: ACTIVE gives the record, anything else the
  // status the stream should end with.
  absl::StatusOr<ConnectorRecord> CheckStreamConnector(const AgentIdentity& identity);
  // UNAUTHENTICATED unless `client_chain_pem` is the connector's current certificate, or
  // one it replaced within renewal_grace.
  absl::Status CheckCurrentCertificate(const ConnectorRecord& connector,
                                       absl::string_view client_chain_pem);

  absl::StatusOr<v1::AgentConfig> ConfigFor(const ConnectorRecord& connector);

  // Records Hello's fields and takes the connector's session over for this stream (named
  // by replica_id and connect_time): one live stream per connector, the newest wins.
  absl::Status RecordHello(const ConnectorRecord& connector, const v1::Hello& hello,
                           const std::string& replica_id, absl::Time connect_time);
  // ABORTED when a newer stream of the connector took the session over (on any replica):
  // the caller ends this stream. Such a takeover is logged and audited.
  absl::Status RecordHeartbeat(const ConnectorRecord& connector, const std::string& replica_id,
                               absl::Time connect_time);
  // Audits that a newer stream of `connector` replaced an older one (`details` says where),
  // at most once per options.stream_replaced_audit_interval per connector (AuditThrottle);
  // a row after left-out takeovers says how many. Callers log every takeover.
  void ReportStreamReplaced(const ConnectorRecord& connector, std::string details);
  // Ends this stream's session, unless a newer stream owns it.
  absl::Status EndSession(const std::string& connector_id, const std::string& replica_id,
                          absl::Time connect_time);

  // Signs a renewal CSR for a new key; stores the new serial and expiry.
  // FAILED_PRECONDITION while the current certificate is younger than
  // min_renewal_interval (or a quarter of its lifetime).
  absl::StatusOr<v1::RenewedCertificate> Renew(const ConnectorRecord& connector,
                                               const v1::RenewalRequest& r);

 private:
  // The session row that names the stream (replica_id, connect_time), beating now.
  SessionRecord StreamSession(const ConnectorRecord& connector, const std::string& replica_id,
                              absl::Time connect_time) const;
  absl::StatusOr<ConnectorRecord> CheckActive(absl::StatusOr<ConnectorRecord> connector);
  // Sets the tenant's delivery certificate and its fingerprint on an APPROVED answer.
  absl::Status AddDeliveryCertificate(const std::string& tenant_id,
                                      v1::GetRegistrationResponse& out);
  // An audit event by the connector itself about itself.
  void AuditConnectorEvent(const ConnectorRecord& connector, absl::string_view action,
                           std::string details);

  Store* store_;
  const Clock* clock_;
  const ConnectorCa* connector_ca_;
  AgentApiOptions options_;
  NoBrokerMetrics no_metrics_;
  BrokerMetrics* metrics_;  // options_.metrics or &no_metrics_
  AuditThrottle stream_replaced_audits_;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_AGENT_API_H_
