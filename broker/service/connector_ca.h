// The broker's connector CA: signs agent certificates and checks them on every stream.
//
// An agent certificate carries one URI SAN naming its tenant and connector:
//   certbridge://tenant/<tenant_id>/connector/<connector_id>
// and the clientAuth EKU. Lifetimes are short (default 7 days) and renewed over the stream.
//
// Thread-safe; Issue and Verify do RSA/EC work: call them on a worker pool.
#ifndef CERTBRIDGE_BROKER_SERVICE_CONNECTOR_CA_H_
#define CERTBRIDGE_BROKER_SERVICE_CONNECTOR_CA_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/pki/pki.h"

namespace certbridge::broker {

struct AgentIdentity {
  std::string tenant_id;
  std::string connector_id;
};

std::string AgentIdentityUri(const AgentIdentity& identity);
// INVALID_ARGUMENT unless `uri` has the form above.
absl::StatusOr<AgentIdentity> ParseAgentIdentityUri(absl::string_view uri);

struct IssuedAgentCertificate {
  std::string chain_pem;  // leaf, then the connector CA
  std::string serial_hex;
  absl::Time not_after;
};

class ConnectorCa {
 public:
  ConnectorCa(std::unique_ptr<pki::SigningCa> ca, absl::Duration certificate_lifetime);

  // Signs `csr_pem` (already policy-checked by pki::ParseCsr inside) for `identity`.
  // INVALID_ARGUMENT for a bad CSR.
  absl::StatusOr<IssuedAgentCertificate> Issue(absl::string_view csr_pem,
                                               const AgentIdentity& identity,
                                               absl::Time now) const;

  // Checks a client certificate presented on the agent port: chains to the connector CA
  // at `now` and names an agent. UNAUTHENTICATED with a remedy otherwise (an expired
  // certificate says so and tells the agent to re-register).
  absl::StatusOr<AgentIdentity> Verify(absl::string_view client_chain_pem, absl::Time now) const;

  const std::string& certificate_pem() const { return ca_->certificate().pem; }
  absl::Duration certificate_lifetime() const { return lifetime_; }

 private:
  std::unique_ptr<pki::SigningCa> ca_;
  absl::Duration lifetime_;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_CONNECTOR_CA_H_
