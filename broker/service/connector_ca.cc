#include "broker/service/connector_ca.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace certbridge::broker {
namespace {
constexpr absl::string_view kClientAuthEku = "1.3.6.1.5.5.7.3.2";
constexpr absl::string_view kUriPrefix = "certbridge://tenant/";
// Certificates start slightly in the past so that an agent whose clock is a little behind
// still accepts them; never by more than a tenth of the lifetime, because agents renew at
// a fraction of notBefore..notAfter.
constexpr absl::Duration kMaxBackdate = absl::Minutes(5);
}  // namespace

std::string AgentIdentityUri(const AgentIdentity& identity) {
  return absl::StrCat(kUriPrefix, identity.tenant_id, "/connector/", identity.connector_id);
}

absl::StatusOr<AgentIdentity> ParseAgentIdentityUri(absl::string_view uri) {
  if (!absl::ConsumePrefix(&uri, kUriPrefix)) {
    return absl::InvalidArgumentError("not a certbridge agent identity URI");
  }
  std::vector<std::string> parts = absl::StrSplit(uri, '/');
  if (parts.size() != 3 || parts[0].empty() || parts[1] != "connector" || parts[2].empty()) {
    return absl::InvalidArgumentError("malformed certbridge agent identity URI");
  }
  return AgentIdentity{parts[0], parts[2]};
}

ConnectorCa::ConnectorCa(std::unique_ptr<pki::SigningCa> ca, absl::Duration certificate_lifetime)
    : ca_(std::move(ca)), lifetime_(certificate_lifetime) {}

absl::StatusOr<IssuedAgentCertificate> ConnectorCa::Issue(absl::string_view csr_pem,
                                                          const AgentIdentity& identity,
                                                          absl::Time now) const {
  ASSIGN_OR_RETURN(pki::CsrInfo csr, pki::ParseCsr(csr_pem));
  pki::IssueParams params;
  params.csr_der = csr.der;
  params.override_subject = true;
  params.subject = absl::StrCat("CN=connector ", identity.connector_id);
  params.override_sans = true;
  params.sans = {{pki::SubjectAltName::Type::kUri, AgentIdentityUri(identity)}};
  params.not_before = now - std::min(kMaxBackdate, lifetime_ / 10);
  params.not_after = now + lifetime_;
  params.extended_key_usages = {std::string(kClientAuthEku)};
  ASSIGN_OR_RETURN(pki::CertificateInfo leaf, ca_->Issue(params));
  return IssuedAgentCertificate{absl::StrCat(leaf.pem, ca_->certificate().pem), leaf.serial_hex,
                                leaf.not_after};
}

absl::StatusOr<AgentIdentity> ConnectorCa::Verify(absl::string_view client_chain_pem,
                                                  absl::Time now) const {
  absl::StatusOr<pki::CertificateInfo> leaf =
      pki::VerifyChain(client_chain_pem, ca_->certificate().pem, now);
  if (!leaf.ok()) {
    if (absl::StrContains(leaf.status().message(), "expired")) {
      return absl::UnauthenticatedError(
          "agent certificate has expired: the agent was offline longer than its certificate "
          "lifetime; re-register it with `certbridge-agent register --force --token <new token>`");
    }
    return absl::UnauthenticatedError(absl::StrCat(
        "agent certificate was not issued by this broker's connector CA (", leaf.status().message(),
        "); register the agent with this broker"));
  }
  for (const pki::SubjectAltName& san : leaf->sans) {
    if (san.type != pki::SubjectAltName::Type::kUri) continue;
    absl::StatusOr<AgentIdentity> identity = ParseAgentIdentityUri(san.value);
    if (identity.ok()) return identity;
  }
  return absl::UnauthenticatedError("agent certificate names no certbridge connector");
}

}  // namespace certbridge::broker
