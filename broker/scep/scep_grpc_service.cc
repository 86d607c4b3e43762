#include "broker/scep/scep_grpc_service.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/service/proto_mapping.h"
#include "broker/service/unary_dispatch.h"
#include "common/api_error.h"

namespace certbridge::broker::scep {
namespace {

ScepChallengeMode ModeFromProto(v1::ScepChallengeMode mode) {
  switch (mode) {
    case v1::SCEP_CHALLENGE_MODE_STATIC: return ScepChallengeMode::kStatic;
    case v1::SCEP_CHALLENGE_MODE_INTUNE: return ScepChallengeMode::kIntune;
    default: return ScepChallengeMode::kDynamic;
  }
}

v1::ScepChallengeMode ModeToProto(ScepChallengeMode mode) {
  switch (mode) {
    case ScepChallengeMode::kStatic: return v1::SCEP_CHALLENGE_MODE_STATIC;
    case ScepChallengeMode::kIntune: return v1::SCEP_CHALLENGE_MODE_INTUNE;
    case ScepChallengeMode::kDynamic: break;
  }
  return v1::SCEP_CHALLENGE_MODE_DYNAMIC;
}

ScepPolicy PolicyFromProto(const v1::ScepPolicy& in) {
  ScepPolicy out;
  out.subject_patterns.assign(in.subject_patterns().begin(), in.subject_patterns().end());
  out.san_patterns.assign(in.san_patterns().begin(), in.san_patterns().end());
  out.allow_rsa = !in.disallow_rsa();
  out.min_rsa_bits = in.min_rsa_bits() == 0 ? 2048 : in.min_rsa_bits();
  out.allow_ec = !in.disallow_ec();
  out.min_ec_bits = in.min_ec_bits() == 0 ? 256 : in.min_ec_bits();
  return out;
}

absl::Duration DurationFromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

void DurationToProto(absl::Duration d, google::protobuf::Duration* out) {
  out->set_seconds(absl::ToInt64Seconds(d));
}

// A stored profile as the API returns it; the store's NOT_FOUND gets its reason.
absl::StatusOr<v1::ScepProfile> ProfileView(absl::StatusOr<ScepProfileRecord> profile) {
  if (absl::IsNotFound(profile.status())) {
    return WithReason(profile.status(), "SCEP_PROFILE_NOT_FOUND");
  }
  if (!profile.ok()) return profile.status();
  return ScepProfileToProto(*profile);
}

}  // namespace

v1::ScepProfile ScepProfileToProto(const ScepProfileRecord& p) {
  v1::ScepProfile out;
  out.set_profile_id(p.profile_id);
  out.set_display_name(p.display_name);
  out.set_ca_id(p.ca_id);
  out.set_template_name(p.template_name);
  out.set_ra_template_name(p.ra_template_name);
  v1::ScepPolicy* policy = out.mutable_policy();
  for (const std::string& s : p.policy.subject_patterns) policy->add_subject_patterns(s);
  for (const std::string& s : p.policy.san_patterns) policy->add_san_patterns(s);
  policy->set_disallow_rsa(!p.policy.allow_rsa);
  policy->set_min_rsa_bits(p.policy.min_rsa_bits);
  policy->set_disallow_ec(!p.policy.allow_ec);
  policy->set_min_ec_bits(p.policy.min_ec_bits);
  out.set_challenge_mode(ModeToProto(p.challenge_mode));
  DurationToProto(p.challenge_ttl, out.mutable_challenge_ttl());
  out.set_disabled(p.disabled);
  broker::ToProto(p.create_time, out.mutable_create_time());
  out.set_scep_path(absl::StrCat("/scep/", p.profile_id, "/pkiclient.exe"));
  out.set_ra_certificate_pem(p.ra_certificate_pem);
  if (!p.ra_certificate_pem.empty()) broker::ToProto(p.ra_not_after, out.mutable_ra_expire_time());
  out.set_ra_pending_request_name(p.ra_pending_request_name);
  return out;
}

// Every RPC through ServeUnary (broker/service/unary_dispatch.h), as CertificateService and
// AdminService: the ApiCallGate, the work on the pool, errors with their google.rpc details.
grpc::ServerUnaryReactor* ScepGrpcService::CreateScepProfile(
    grpc::CallbackServerContext* context, const v1::CreateScepProfileRequest* request,
    v1::ScepProfile* response) {
  return ServeUnary(gate_, context, response,
                    [this, request](const Caller& caller) -> absl::StatusOr<v1::ScepProfile> {
    ScepProfileSpec spec;
    spec.display_name = request->display_name();
    spec.ca_id = request->ca_id();
    spec.template_name = request->template_name();
    spec.ra_template_name = request->ra_template_name();
    spec.policy = PolicyFromProto(request->policy());
    spec.challenge_mode = ModeFromProto(request->challenge_mode());
    spec.static_challenge = request->static_challenge();
    if (request->has_challenge_ttl()) spec.challenge_ttl = DurationFromProto(request->challenge_ttl());
    absl::StatusOr<ScepProfileRecord> created = api_->CreateProfile(caller, spec);
    if (!created.ok()) return created.status();
    return ScepProfileToProto(*created);
  });
}

grpc::ServerUnaryReactor* ScepGrpcService::GetScepProfile(grpc::CallbackServerContext* context,
                                                          const v1::GetScepProfileRequest* request,
                                                          v1::ScepProfile* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return ProfileView(api_->GetProfile(caller, request->profile_id()));
  });
}

grpc::ServerUnaryReactor* ScepGrpcService::ListScepProfiles(
    grpc::CallbackServerContext* context, const v1::ListScepProfilesRequest* request,
    v1::ListScepProfilesResponse* response) {
  (void)request;
  return ServeUnary(gate_, context, response,
                    [this](const Caller& caller) -> absl::StatusOr<v1::ListScepProfilesResponse> {
    absl::StatusOr<std::vector<ScepProfileRecord>> profiles = api_->ListProfiles(caller);
    if (!profiles.ok()) return profiles.status();
    v1::ListScepProfilesResponse out;
    for (const ScepProfileRecord& p : *profiles) *out.add_profiles() = ScepProfileToProto(p);
    return out;
  });
}

grpc::ServerUnaryReactor* ScepGrpcService::DisableScepProfile(
    grpc::CallbackServerContext* context, const v1::DisableScepProfileRequest* request,
    v1::ScepProfile* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return ProfileView(api_->DisableProfile(caller, request->profile_id()));
  });
}

grpc::ServerUnaryReactor* ScepGrpcService::CreateScepChallenge(
    grpc::CallbackServerContext* context, const v1::CreateScepChallengeRequest* request,
    v1::ScepChallenge* response) {
  return ServeUnary(gate_, context, response,
                    [this, request](const Caller& caller) -> absl::StatusOr<v1::ScepChallenge> {
    ScepChallengeSpec spec;
    spec.profile_id = request->profile_id();
    spec.device_id = request->device_id();
    spec.subject = request->subject();
    spec.subject_alt_names.assign(request->subject_alt_names().begin(),
                                  request->subject_alt_names().end());
    spec.sid = request->sid();
    if (request->has_ttl()) spec.ttl = DurationFromProto(request->ttl());
    absl::StatusOr<MintedScepChallenge> minted = api_->CreateChallenge(caller, spec);
    if (absl::IsNotFound(minted.status())) {
      return WithReason(minted.status(), "SCEP_PROFILE_NOT_FOUND");
    }
    if (!minted.ok()) return minted.status();
    v1::ScepChallenge out;
    out.set_challenge(minted->challenge);
    broker::ToProto(minted->expire_time, out.mutable_expire_time());
    out.set_profile_id(request->profile_id());
    return out;
  });
}

}  // namespace certbridge::broker::scep
