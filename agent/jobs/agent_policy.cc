#include "agent/jobs/agent_policy.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/adcs/request_attributes.h"

namespace certbridge::agent {
namespace {

bool ContainsIgnoringCase(const std::vector<std::string>& list, absl::string_view value) {
  return std::any_of(list.begin(), list.end(),
                     [&](const std::string& entry) { return absl::EqualsIgnoreCase(entry, value); });
}

}  // namespace

std::optional<PolicyRefusal> AgentPolicy::CheckCaConfig(absl::string_view ca_config) const {
  if (options_.allowed_ca_configs.empty() ||
      ContainsIgnoringCase(options_.allowed_ca_configs, ca_config)) {
    return std::nullopt;
  }
  return PolicyRefusal{
      kPolicyCaNotAllowed,
      absl::StrCat("this agent's policy does not allow CA \"", ca_config,
                   "\" (it is not among the agent's --allowed-ca values)"),
      absl::StrCat("If this CA is meant to be used, add --allowed-ca='", ca_config,
                   "' to certbridge-agent run on the agent's host; otherwise correct the "
                   "CA in the broker's configuration.")};
}

std::optional<PolicyRefusal> AgentPolicy::CheckTemplates(absl::string_view attributes) const {
  if (options_.allowed_templates.empty()) return std::nullopt;
  const adcs::RequestAttributes parsed = adcs::ParseRequestAttributes(attributes);
  const std::string wanted = adcs::NormalizeAttributeName("CertificateTemplate");
  bool named = false;
  for (const auto& [name, value] : parsed.entries) {
    if (name != wanted) continue;
    named = true;
    if (!ContainsIgnoringCase(options_.allowed_templates, value)) {
      return PolicyRefusal{
          kPolicyTemplateNotAllowed,
          absl::StrCat("this agent's policy does not allow template \"", value,
                       "\" (it is not among the agent's --allowed-template values)"),
          absl::StrCat("If this template is meant to be used, add --allowed-template=", value,
                       " to certbridge-agent run on the agent's host; otherwise use one of the "
                       "allowed templates.")};
    }
  }
  if (named) return std::nullopt;
  return PolicyRefusal{
      kPolicyTemplateNotAllowed,
      "the request names no certificate template, and this agent's policy allows only the "
      "templates given with --allowed-template",
      "Name an allowed template in the certificate request (CertificateTemplate:<name>)."};
}

std::optional<PolicyRefusal> AgentPolicy::CheckRevoke(absl::string_view serial,
                                                      bool issued_here) const {
  if (issued_here || options_.allow_revoke_any) return std::nullopt;
  return PolicyRefusal{
      kPolicyRevokeNotIssuedHere,
      absl::StrCat("this agent's policy does not allow revoking serial ", serial,
                   ": the certificate was not issued through this agent (--allow-revoke-any "
                   "is not set)"),
      "Revoke it at the CA (certutil -revoke), or start certbridge-agent run with "
      "--allow-revoke-any if this agent should revoke certificates it did not issue."};
}

std::optional<PolicyRefusal> AgentPolicy::CheckDeliveryCertificate(
    const std::optional<std::string>& pinned, absl::string_view presented) {
  if (!pinned.has_value() || *pinned == presented) return std::nullopt;
  return PolicyRefusal{
      kPolicyDeliveryCertificateChanged,
      absl::StrCat("the tenant's delivery certificate changed: this agent pinned SHA-256 ",
                   FormatSha256Fingerprint(*pinned), ", the job carries ",
                   FormatSha256Fingerprint(presented)),
      absl::StrCat("If the tenant replaced its delivery certificate, confirm the new "
                   "fingerprint with the tenant and run `certbridge-agent "
                   "trust-delivery-certificate --sha256 ",
                   presented, "` on the agent's host.")};
}

std::vector<std::string> AgentPolicy::OpenEnds() const {
  std::vector<std::string> open;
  if (options_.allowed_ca_configs.empty()) {
    open.push_back("no CA allow-list (--allowed-ca): jobs may name any CA");
  }
  if (options_.allowed_templates.empty()) {
    open.push_back("no template allow-list (--allowed-template): jobs may name any template");
  }
  if (options_.allow_revoke_any) {
    open.push_back("--allow-revoke-any: jobs may revoke certificates this agent did not issue");
  }
  return open;
}

absl::StatusOr<std::string> NormalizeSha256Fingerprint(absl::string_view text) {
  if (text.size() > 128) {
    return absl::InvalidArgumentError("a SHA-256 fingerprint is 64 hex digits; this is too long");
  }
  std::string hex;
  for (char c : text) {
    if (c == ':' || c == ' ') continue;
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          absl::StrCat("SHA-256 fingerprint \"", text, "\" has a character that is not a hex digit"));
    }
    hex.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  if (hex.size() != 64) {
    return absl::InvalidArgumentError(absl::StrCat("SHA-256 fingerprint \"", text,
                                                   "\" has ", hex.size(),
                                                   " hex digits, not 64"));
  }
  return hex;
}

}  // namespace certbridge::agent
