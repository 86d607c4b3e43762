#include "broker/scep/scep_policy.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/pki/name_pattern.h"
#include "common/pki/names.h"

namespace certbridge::broker::scep {
namespace {

constexpr int kMaxPatterns = 32;

bool IsRsa(pki::KeyType type) {
  return type == pki::KeyType::kRsa2048 || type == pki::KeyType::kRsa3072 ||
         type == pki::KeyType::kRsa4096;
}

std::string PatternList(const std::vector<std::string>& patterns) {
  return absl::StrCat("[", absl::StrJoin(patterns, ", "), "]");
}

std::vector<std::string> SortedSanTexts(const std::vector<pki::SubjectAltName>& sans) {
  std::vector<std::string> out;
  for (const auto& san : sans) out.push_back(pki::SanText(san));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

absl::Status CheckCsrAgainstPolicy(const ScepPolicy& policy, const pki::CsrInfo& csr) {
  if (IsRsa(csr.key_type)) {
    if (!policy.allow_rsa) {
      return absl::PermissionDeniedError("the CSR's key is RSA; this profile allows only EC keys");
    }
    if (csr.key_bits < policy.min_rsa_bits) {
      return absl::PermissionDeniedError(absl::StrCat("the CSR's key is RSA-", csr.key_bits,
                                                      "; this profile needs at least RSA-",
                                                      policy.min_rsa_bits));
    }
  } else {
    if (!policy.allow_ec) {
      return absl::PermissionDeniedError("the CSR's key is EC; this profile allows only RSA keys");
    }
    if (csr.key_bits < policy.min_ec_bits) {
      return absl::PermissionDeniedError(absl::StrCat("the CSR's key is EC with ", csr.key_bits,
                                                      " bits; this profile needs at least ",
                                                      policy.min_ec_bits));
    }
  }
  if (!policy.subject_patterns.empty() &&
      !pki::SubjectMatchesAnyPattern(csr.subject, policy.subject_patterns)) {
    return absl::PermissionDeniedError(absl::StrCat("the CSR's subject \"", csr.subject,
                                                    "\" matches none of the profile's subject "
                                                    "patterns ", PatternList(policy.subject_patterns)));
  }
  if (!policy.san_patterns.empty()) {
    for (const pki::SubjectAltName& san : csr.sans) {
      if (!pki::SanMatchesAnyPattern(san, policy.san_patterns)) {
        return absl::PermissionDeniedError(absl::StrCat("the CSR's SAN ", pki::SanText(san),
                                                        " matches none of the profile's SAN "
                                                        "patterns ", PatternList(policy.san_patterns)));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckCsrAgainstChallenge(const ScepChallengeRecord& challenge,
                                      const pki::CsrInfo& csr) {
  if (!challenge.subject.empty()) {
    absl::StatusOr<std::string> csr_subject = pki::CanonicalSubject(csr.subject);
    if (!csr_subject.ok() || !absl::EqualsIgnoreCase(*csr_subject, challenge.subject)) {
      return absl::PermissionDeniedError(absl::StrCat("the CSR's subject \"", csr.subject,
                                                      "\" is not the one the challenge was issued "
                                                      "for (\"", challenge.subject, "\")"));
    }
  }
  if (!challenge.subject_alt_names.empty()) {
    std::vector<std::string> bound = challenge.subject_alt_names;
    std::sort(bound.begin(), bound.end());
    const std::vector<std::string> requested = SortedSanTexts(csr.sans);
    if (requested != bound) {
      return absl::PermissionDeniedError(absl::StrCat(
          "the CSR's SANs ", PatternList(requested), " are not the ones the challenge was issued for ",
          PatternList(bound)));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidatePolicy(const ScepPolicy& policy) {
  if (policy.subject_patterns.size() > kMaxPatterns || policy.san_patterns.size() > kMaxPatterns) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy: at most ", kMaxPatterns, " subject and ", kMaxPatterns, " SAN patterns"));
  }
  for (const std::string& p : policy.subject_patterns) {
    if (absl::Status s = pki::ValidateSubjectPattern(p, "policy.subject_patterns"); !s.ok()) return s;
  }
  for (const std::string& p : policy.san_patterns) {
    if (absl::Status s = pki::ValidateSanPattern(p, "policy.san_patterns"); !s.ok()) return s;
  }
  if (!policy.allow_rsa && !policy.allow_ec) {
    return absl::InvalidArgumentError("policy: allow RSA keys, EC keys or both");
  }
  if (policy.allow_rsa && (policy.min_rsa_bits < 2048 || policy.min_rsa_bits > 4096)) {
    return absl::InvalidArgumentError("policy.min_rsa_bits must be 2048..4096");
  }
  if (policy.allow_ec && policy.min_ec_bits != 256 && policy.min_ec_bits != 384) {
    return absl::InvalidArgumentError("policy.min_ec_bits must be 256 or 384");
  }
  return absl::OkStatus();
}

}  // namespace certbridge::broker::scep
