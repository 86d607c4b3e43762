#include "broker/scep/scep_grpc_service.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/service/proto_mapping.h"
#include "common/grpc_status.h"

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

// Admits the call through the gate, runs `work` on the pool and finishes with its status.
template <typename Work>
grpc::ServerUnaryReactor* Dispatch(grpc::CallbackServerContext* context, ApiCallGate* gate,
                                   Work work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  gate->Run(context, reactor, [reactor, work](const Caller& caller) {
    reactor->Finish(ToGrpcStatus(work(caller)));
  });
  return reactor;
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

grpc::ServerUnaryReactor* ScepGrpcService::CreateScepProfile(
    grpc::CallbackServerContext* context, const v1::CreateScepProfileRequest* request,
    v1::ScepProfile* response) {
  return Dispatch(context, gate_, [this, request, response](const Caller& caller) {
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
    if (created.ok()) *response = ScepProfileToProto(*created);
    return created.status();
  });
}

grpc::ServerUnaryReactor* ScepGrpcService::GetScepProfile(grpc::CallbackServerContext* context,
                                                          const v1::GetScepProfileRequest* request,
                                                          v1::ScepProfile* response) {
  return Dispatch(context, gate_, [this, request, response](const Caller& caller) {
    absl::StatusOr<ScepProfileRecord> profile = api_->GetProfile(caller, request->profile_id());
    if (profile.ok()) *response = ScepProfileToProto(*profile);
    return profile.status();
  });
}

grpc::ServerUnaryReactor* ScepGrpcService::ListScepProfiles(
    grpc::CallbackServerContext* context, const v1::ListScepProfilesRequest* request,
    v1::ListScepProfilesResponse* response) {
  (void)request;
  return Dispatch(context, gate_, [this, response](const Caller& caller) {
    absl::StatusOr<std::vector<ScepProfileRecord>> profiles = api_->ListProfiles(caller);
    if (profiles.ok()) {
      for (const ScepProfileRecord& p : *profiles) *response->add_profiles() = ScepProfileToProto(p);
    }
    return profiles.status();
  });
}

grpc::ServerUnaryReactor* ScepGrpcService::DisableScepProfile(
    grpc::CallbackServerContext* context, const v1::DisableScepProfileRequest* request,
    v1::ScepProfile* response) {
  return Dispatch(context, gate_, [this, request, response](const Caller& caller) {
    absl::StatusOr<ScepProfileRecord> profile = api_->DisableProfile(caller, request->profile_id());
    if (profile.ok()) *response = ScepProfileToProto(*profile);
    return profile.status();
  });
}

grpc::ServerUnaryReactor* ScepGrpcService::CreateScepChallenge(
    grpc::CallbackServerContext* context, const v1::CreateScepChallengeRequest* request,
    v1::ScepChallenge* response) {
  return Dispatch(context, gate_, [this, request, response](const Caller& caller) {
    ScepChallengeSpec spec;
    spec.profile_id = request->profile_id();
    spec.device_id = request->device_id();
    spec.subject = request->subject();
    spec.subject_alt_names.assign(request->subject_alt_names().begin(),
                                  request->subject_alt_names().end());
    spec.sid = request->sid();
    if (request->has_ttl()) spec.ttl = DurationFromProto(request->ttl());
    absl::StatusOr<MintedScepChallenge> minted = api_->CreateChallenge(caller, spec);
    if (minted.ok()) {
      response->set_challenge(minted->challenge);
      broker::ToProto(minted->expire_time, response->mutable_expire_time());
      response->set_profile_id(request->profile_id());
    }
    return minted.status();
  });
}

}  // namespace certbridge::broker::scep
