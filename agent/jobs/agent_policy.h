// AgentPolicy: what the customer lets this agent do on the broker's behalf, whatever the
// broker asks (docs/security.md, "The agent's own policy"). A compromised broker or a
// stolen tenant admin key can send any job; the agent, running with the customer's AD
// identity, refuses what the customer did not allow:
//
//   SUBMIT / RETRIEVE / REVOKE to a CA config string not in --allowed-ca  POLICY_CA_NOT_ALLOWED
//   SUBMIT naming a template not in --allowed-template                    POLICY_TEMPLATE_NOT_ALLOWED
//   REVOKE of a serial this agent did not issue (no --allow-revoke-any)   POLICY_REVOKE_NOT_ISSUED_HERE
//   key generation to a delivery certificate other than the pinned one    POLICY_DELIVERY_CERTIFICATE_CHANGED
//
// The executor reports a refusal as a job failure with that error_code (the broker records
// it as "AGENT_" + code, e.g. AGENT_POLICY_CA_NOT_ALLOWED) and the remedy as the hint.
// Empty allow-lists mean "any CA" / "any template" (agents set up before the policy
// existed keep working); main.cc logs a warning at start when a list is empty.
//
// Pure decisions (no I/O): the facts that need the disk — was this serial issued here,
// which fingerprint is pinned — come from AgentPolicyState. Immutable, thread-safe.
//
//   AgentPolicy policy({.allowed_ca_configs = {"adcs01.corp.example\\Corp CA"},
//                       .allowed_templates = {"WebServer"}});
//   if (auto refusal = policy.CheckCaConfig(job.ca_config())) { ...refusal->error_code... }
#ifndef CERTBRIDGE_AGENT_JOBS_AGENT_POLICY_H_
#define CERTBRIDGE_AGENT_JOBS_AGENT_POLICY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/delivery.h"

namespace certbridge::agent {

// Stable error codes of JobResult.error_code for refusals.
inline constexpr char kPolicyCaNotAllowed[] = "POLICY_CA_NOT_ALLOWED";
inline constexpr char kPolicyTemplateNotAllowed[] = "POLICY_TEMPLATE_NOT_ALLOWED";
inline constexpr char kPolicyRevokeNotIssuedHere[] = "POLICY_REVOKE_NOT_ISSUED_HERE";
inline constexpr char kPolicyDeliveryCertificateChanged[] = "POLICY_DELIVERY_CERTIFICATE_CHANGED";

struct AgentPolicyOptions {
  // CA config strings ("HOST\CA name") the agent may call; compared ignoring case, as AD
  // does. Empty (default): any.
  std::vector<std::string> allowed_ca_configs = {};
  // Template names (cn, or OID, as the job's CertificateTemplate attribute names them)
  // the agent may submit to; compared ignoring case. Empty (default): any. With a list, a
  // SUBMIT naming no template is refused too.
  std::vector<std::string> allowed_templates = {};
  // Revoke any serial the broker names, not only those this agent issued. Default false.
  bool allow_revoke_any = false;
};

struct PolicyRefusal {
  std::string error_code;  // one of kPolicy*
  std::string message;     // names the value refused and the flag that governs it
  std::string remedy;      // one sentence: what the customer's admin can do
};

class AgentPolicy {
 public:
  AgentPolicy() = default;  // any CA, any template, revoke only what was issued here
  explicit AgentPolicy(AgentPolicyOptions options) : options_(std::move(options)) {}

  const AgentPolicyOptions& options() const { return options_; }

  // nullopt: allowed.
  std::optional<PolicyRefusal> CheckCaConfig(absl::string_view ca_config) const;
  // Every CertificateTemplate line of the request attributes (AD CS uses the last one;
  // all are checked so that no line slips past).
  std::optional<PolicyRefusal> CheckTemplates(absl::string_view attributes) const;
  // `serial` as the job names it; `issued_here` from AgentPolicyState.
  std::optional<PolicyRefusal> CheckRevoke(absl::string_view serial, bool issued_here) const;
  // `pinned`: the fingerprint pinned in the state dir (nullopt: none yet — the caller pins
  // `presented`, trust on first use). Fingerprints as NormalizeSha256Fingerprint returns.
  static std::optional<PolicyRefusal> CheckDeliveryCertificate(
      const std::optional<std::string>& pinned, absl::string_view presented);

  // Lines for the start-up log: what the policy leaves open ("no --allowed-ca ...").
  std::vector<std::string> OpenEnds() const;

 private:
  const AgentPolicyOptions options_{};
};

// A SHA-256 fingerprint as people write it ("AB:CD:…", "abcd…", with spaces) → 64
// lower-case hex digits. INVALID_ARGUMENT otherwise.
absl::StatusOr<std::string> NormalizeSha256Fingerprint(absl::string_view text);

// "AB:CD:…" upper-case with colons, as certutil and browsers show it (the one formatter,
// shared with the broker's tools).
using pki::FormatSha256Fingerprint;

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_JOBS_AGENT_POLICY_H_
