#include "broker/scep/scep_profile_api.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/scep/scep_policy.h"
#include "broker/service/field_checks.h"
#include "broker/service/ids.h"
#include "common/adcs/sid.h"
#include "common/api_error.h"
#include "common/log.h"
#include "common/pki/name_pattern.h"
#include "common/pki/names.h"
#include "common/pki/pki.h"
#include "common/status_macros.h"

namespace certbridge::broker::scep {
namespace {

constexpr size_t kMaxTemplateName = 64;
constexpr int kMaxChallengeSans = 32;

absl::Status CheckProfileId(const std::string& profile_id) {
  return CheckText("profile_id", profile_id, 64, /*required=*/true);
}

}  // namespace

ScepProfileApi::ScepProfileApi(Store* store, ScepStore* scep_store, const Clock* clock,
                               ScepProfileApiOptions options)
    : store_(store),
      scep_store_(scep_store),
      clock_(clock),
      options_(options),
      mint_audit_(options.challenge_audit_interval) {}

absl::StatusOr<ScepProfileRecord> ScepProfileApi::CreateProfile(const Caller& caller,
                                                                const ScepProfileSpec& spec) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  RETURN_IF_ERROR(CheckText("display_name", spec.display_name, 256, /*required=*/false));
  RETURN_IF_ERROR(CheckText("ca_id", spec.ca_id, 64, /*required=*/true));
  RETURN_IF_ERROR(CheckText("template_name", spec.template_name, kMaxTemplateName, true));
  RETURN_IF_ERROR(CheckText("ra_template_name", spec.ra_template_name, kMaxTemplateName, true));
  RETURN_IF_ERROR(ValidatePolicy(spec.policy));
  if (spec.challenge_ttl < absl::Minutes(1) || spec.challenge_ttl > options_.max_challenge_ttl) {
    return InvalidField("challenge_ttl",
                        absl::StrCat("challenge_ttl must be between 1m and ",
                                     absl::FormatDuration(options_.max_challenge_ttl)));
  }
  ScepProfileRecord profile;
  if (spec.challenge_mode == ScepChallengeMode::kStatic) {
    if (spec.static_challenge.size() < 16 || spec.static_challenge.size() > 256) {
      return InvalidField("static_challenge", "static_challenge must be 16..256 bytes (generate "
                                              "one with `openssl rand -hex 16`)");
    }
    RETURN_IF_ERROR(CheckText("static_challenge", spec.static_challenge, 256, true));
    profile.static_challenge_hash = pki::Sha256Hex(spec.static_challenge);
  } else if (!spec.static_challenge.empty()) {
    return InvalidField("static_challenge", "static_challenge is only for challenge mode STATIC");
  }
  absl::StatusOr<CertificateAuthorityRecord> ca =
      store_->GetCertificateAuthority(caller.tenant_id, spec.ca_id);
  if (absl::IsNotFound(ca.status())) {
    return ApiError(absl::StatusCode::kNotFound, "CA_NOT_FOUND",
                    absl::StrCat("certificate authority \"", spec.ca_id, "\" not found"))
        .Metadata("ca_id", spec.ca_id)
        .Remedy("list the CAs with `certbridgectl cas list`");
  }
  if (!ca.ok()) return ca.status();

  profile.profile_id = NewObjectId();
  profile.tenant_id = caller.tenant_id;
  profile.display_name = spec.display_name;
  profile.ca_id = spec.ca_id;
  profile.template_name = spec.template_name;
  profile.ra_template_name = spec.ra_template_name;
  profile.policy = spec.policy;
  profile.challenge_mode = spec.challenge_mode;
  profile.challenge_ttl = spec.challenge_ttl;
  profile.create_time = clock_->Now();
  profile.update_time = profile.create_time;
  RETURN_IF_ERROR(scep_store_->CreateScepProfile(profile));
  Audit(caller, "scep_profile.create", profile.profile_id,
        absl::StrCat("ca=", profile.ca_id, " template=", profile.template_name,
                     " ra_template=", profile.ra_template_name,
                     " challenge=", ScepChallengeModeName(profile.challenge_mode)));
  return profile;
}

absl::StatusOr<ScepProfileRecord> ScepProfileApi::GetProfile(const Caller& caller,
                                                             const std::string& profile_id) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  RETURN_IF_ERROR(CheckProfileId(profile_id));
  return scep_store_->GetScepProfile(caller.tenant_id, profile_id);
}

absl::StatusOr<std::vector<ScepProfileRecord>> ScepProfileApi::ListProfiles(const Caller& caller) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  return scep_store_->ListScepProfiles(caller.tenant_id);
}

absl::StatusOr<ScepProfileRecord> ScepProfileApi::DisableProfile(const Caller& caller,
                                                                 const std::string& profile_id) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeAdmin));
  RETURN_IF_ERROR(CheckProfileId(profile_id));
  ASSIGN_OR_RETURN(ScepProfileRecord profile,
                   scep_store_->DisableScepProfile(caller.tenant_id, profile_id, clock_->Now()));
  Audit(caller, "scep_profile.disable", profile_id, "");
  return profile;
}

absl::StatusOr<MintedScepChallenge> ScepProfileApi::CreateChallenge(const Caller& caller,
                                                                    const ScepChallengeSpec& spec) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeCertificates));
  RETURN_IF_ERROR(CheckProfileId(spec.profile_id));
  RETURN_IF_ERROR(CheckText("device_id", spec.device_id, 256, /*required=*/false));
  RETURN_IF_ERROR(CheckText("subject", spec.subject, 4096, /*required=*/false));
  if (static_cast<int>(spec.subject_alt_names.size()) > kMaxChallengeSans) {
    return InvalidField("subject_alt_names",
                        absl::StrCat("at most ", kMaxChallengeSans, " subject_alt_names"));
  }
  ASSIGN_OR_RETURN(ScepProfileRecord profile,
                   scep_store_->GetScepProfile(caller.tenant_id, spec.profile_id));
  if (profile.disabled) {
    return ApiError(absl::StatusCode::kFailedPrecondition, "SCEP_PROFILE_DISABLED",
                    absl::StrCat("SCEP profile \"", spec.profile_id, "\" is disabled"))
        .Precondition("STATE", spec.profile_id, "the profile must be enabled")
        .Metadata("profile_id", spec.profile_id);
  }
  if (profile.challenge_mode != ScepChallengeMode::kDynamic) {
    return ApiError(absl::StatusCode::kFailedPrecondition, "SCEP_PROFILE_NOT_DYNAMIC",
                    absl::StrCat("SCEP profile \"", spec.profile_id, "\" uses ",
                                 ScepChallengeModeName(profile.challenge_mode),
                                 " challenges; dynamic challenges are minted only for profiles "
                                 "in DYNAMIC mode"))
        .Precondition("CHALLENGE_MODE", spec.profile_id, "the profile must be in DYNAMIC mode")
        .Metadata("profile_id", spec.profile_id);
  }
  ScepChallengeRecord challenge;
  // The binding must itself pass the policy: a CSR carrying it would otherwise be refused
  // at enrollment, after the MDM has already delivered the payload.
  pki::CsrInfo as_csr;
  as_csr.key_type = profile.policy.allow_ec ? pki::KeyType::kEcP384 : pki::KeyType::kRsa4096;
  as_csr.key_bits = profile.policy.allow_ec ? 384 : 4096;
  if (!spec.subject.empty()) {
    absl::StatusOr<std::string> subject = pki::CanonicalSubject(spec.subject);
    if (!subject.ok()) return InvalidField("subject", absl::StrCat("subject: ", subject.status().message()));
    challenge.subject = *subject;
    as_csr.subject = *subject;
  }
  for (const std::string& text : spec.subject_alt_names) {
    RETURN_IF_ERROR(CheckText("subject_alt_names", text, 1024, /*required=*/true));
    ASSIGN_OR_RETURN(pki::SubjectAltName san, pki::ParseSanText(text));
    challenge.subject_alt_names.push_back(pki::SanText(san));
    as_csr.sans.push_back(std::move(san));
  }
  std::sort(challenge.subject_alt_names.begin(), challenge.subject_alt_names.end());
  if (!spec.subject.empty() || !spec.subject_alt_names.empty()) {
    ScepPolicy names_only = profile.policy;
    if (spec.subject.empty()) names_only.subject_patterns.clear();
    absl::Status allowed = CheckCsrAgainstPolicy(names_only, as_csr);
    if (!allowed.ok()) {
      return ApiError(absl::StatusCode::kInvalidArgument, "BINDING_OUTSIDE_POLICY",
                      absl::StrCat("the binding is outside the profile's policy: ",
                                   allowed.message()))
          .Metadata("profile_id", spec.profile_id);
    }
  }
  if (!spec.sid.empty()) {
    RETURN_IF_ERROR(CheckText("sid", spec.sid, adcs::kMaxSidLength, true));
    if (!adcs::IsValidSid(spec.sid)) {
      return InvalidField("sid", absl::StrCat("sid \"", spec.sid, "\" is not a Windows SID (e.g. "
                                              "S-1-5-21-3623811015-3361044348-30300820-1013)"));
    }
  }
  absl::Duration ttl = spec.ttl == absl::ZeroDuration() ? profile.challenge_ttl : spec.ttl;
  if (ttl < absl::Minutes(1) || ttl > options_.max_challenge_ttl) {
    return InvalidField("ttl", absl::StrCat("ttl must be between 1m and ",
                                            absl::FormatDuration(options_.max_challenge_ttl)));
  }
  MintedScepChallenge minted;
  // 24 random bytes: 32 URL-safe characters, within what MDM payload fields accept.
  minted.challenge = pki::RandomToken(24);
  challenge.challenge_hash = pki::Sha256Hex(minted.challenge);
  challenge.tenant_id = caller.tenant_id;
  challenge.profile_id = spec.profile_id;
  challenge.device_id = spec.device_id;
  challenge.sid = spec.sid;
  challenge.created_by = caller.Actor();
  challenge.create_time = clock_->Now();
  challenge.expire_time = challenge.create_time + ttl;
  minted.expire_time = challenge.expire_time;
  RETURN_IF_ERROR(scep_store_->CreateScepChallenge(challenge));
  AuditMint(caller, challenge);
  return minted;
}

void ScepProfileApi::AuditMint(const Caller& caller, const ScepChallengeRecord& challenge) {
  // Who minted, for which profile and binding, until when — never the challenge or its
  // hash (the hash is what enrollment looks the challenge up by).
  std::string details = absl::StrCat(
      "device_id=", absl::CHexEscape(challenge.device_id),
      " subject=", absl::CHexEscape(challenge.subject),
      " sans=", absl::CHexEscape(absl::StrJoin(challenge.subject_alt_names, ",")),
      " sid=", challenge.sid,
      " expire_time=", absl::FormatTime(absl::RFC3339_sec, challenge.expire_time, absl::UTCTimeZone()));
  LogInfo("scep.challenge_minted", {{"tenant_id", caller.tenant_id},
                                    {"actor", caller.Actor()},
                                    {"profile_id", challenge.profile_id},
                                    {"device_id", challenge.device_id}});
  // An MDM retrying in a loop mints for the same binding again and again: those rows are
  // thinned (one per interval per key and binding, carrying how many were left out).
  // Distinct bindings are distinct devices and are each written.
  const std::string throttle_key =
      absl::StrCat(caller.tenant_id, "\n", caller.Actor(), "\n", challenge.profile_id, "\n",
                   pki::Sha256Hex(details.substr(0, details.find(" expire_time="))));
  std::optional<int64_t> left_out = mint_audit_.Admit(throttle_key, clock_->Now());
  if (!left_out.has_value()) return;
  if (*left_out > 0) absl::StrAppend(&details, " left_out=", *left_out);
  Audit(caller, "scep_challenge.create", challenge.profile_id, std::move(details));
}

void ScepProfileApi::Audit(const Caller& caller, absl::string_view action,
                           absl::string_view object_id, std::string details) {
  AuditEventRecord event;
  event.tenant_id = caller.tenant_id;
  event.time = clock_->Now();
  event.actor = caller.Actor();
  event.action = std::string(action);
  event.object_id = std::string(object_id);
  event.details = std::move(details);
  store_->AppendAuditEvent(event).IgnoreError();
}

}  // namespace certbridge::broker::scep
