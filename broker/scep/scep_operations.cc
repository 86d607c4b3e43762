// GetCACaps, GetCACert and PKIOperation (RFC 8894 section 4) over a ScepEnrollment.
#include "broker/scep/scep_operations.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/pki/scep_message.h"

namespace certbridge::broker::scep {
namespace {

ScepHttpReply TextReply(int status_code, std::string body) {
  return ScepHttpReply{status_code, "text/plain", std::move(body)};
}

absl::string_view StatusName(ScepEnrollmentResult::Status status) {
  switch (status) {
    case ScepEnrollmentResult::Status::kSuccess:
      return "SUCCESS";
    case ScepEnrollmentResult::Status::kPending:
      return "PENDING";
    case ScepEnrollmentResult::Status::kFailure:
      return "FAILURE";
  }
  return "FAILURE";
}

}  // namespace

ScepHttpReply ScepOperations::Handle(absl::string_view profile_id, absl::string_view operation,
                                     absl::string_view message) {
  if (operation != "GetCACaps" && operation != "GetCACert" && operation != "PKIOperation") {
    return TextReply(400, absl::StrCat("unknown SCEP operation \"", operation.substr(0, 64),
                                       "\"; expected GetCACaps, GetCACert or PKIOperation\n"));
  }
  absl::StatusOr<ScepProfileMaterial> profile = enrollment_->FindProfile(profile_id);
  if (!profile.ok()) {
    if (profile.status().code() == absl::StatusCode::kNotFound) {
      return TextReply(404, "no active SCEP profile at this URL; check the profile name in "
                            "the SCEP payload against the broker's SCEP profiles\n");
    }
    LogWarning("scep.profile_unavailable", {{"profile_id", profile_id},
                                            {"error", profile.status().ToString()}});
    return TextReply(503, "SCEP profile cannot be read now; retry later\n");
  }
  if (operation == "GetCACaps") return TextReply(200, kScepCapabilities);
  if (operation == "GetCACert") {
    absl::StatusOr<std::string> bag =
        pki::BuildScepCaCertificates(profile->ra_certificate_pem, profile->ca_chain_pem);
    if (!bag.ok()) {
      LogError("scep.ca_certificates_failed", {{"tenant_id", profile->tenant_id},
                                               {"profile_id", profile->profile_id},
                                               {"error", bag.status().ToString()}});
      return TextReply(500, "the SCEP profile's RA certificate or CA chain does not load\n");
    }
    return ScepHttpReply{200, "application/x-x509-ca-ra-cert", std::move(*bag)};
  }
  return PkiOperation(*profile, message);
}

ScepHttpReply ScepOperations::PkiOperation(const ScepProfileMaterial& profile,
                                           absl::string_view message) {
  const pki::ScepRaCredentials ra{profile.ra_certificate_pem, profile.ra_private_key_pem};
  absl::StatusOr<pki::ScepRequest> request = pki::OpenScepRequest(message, ra);
  if (!request.ok()) {
    if (request.status().code() != absl::StatusCode::kInvalidArgument) {
      LogError("scep.open_failed", {{"tenant_id", profile.tenant_id},
                                    {"profile_id", profile.profile_id},
                                    {"error", request.status().ToString()}});
      return TextReply(500, "SCEP request could not be opened\n");
    }
    return TextReply(400, absl::StrCat("not a SCEP request: ", request.status().message(), "\n"));
  }

  pki::ScepCertRepParams reply;
  reply.transaction_id = request->transaction_id;
  reply.recipient_nonce = request->sender_nonce;
  reply.recipient_certificate_der = request->signer_certificate_der;
  reply.content_cipher = request->content_cipher;
  std::string detail;
  if (!request->content_status.ok()) {
    reply.status = pki::ScepPkiStatus::kFailure;
    reply.fail_info = request->content_fail_info;
    detail = request->content_status.ToString();
  } else {
    ScepEnrollmentResult result;
    if (request->message_type == pki::ScepMessageType::kCertPoll) {
      result = enrollment_->Poll(profile, request->transaction_id);
    } else {
      ScepEnrollmentRequest enroll;
      enroll.transaction_id = request->transaction_id;
      enroll.csr_der = std::move(request->csr_der);
      enroll.challenge_password = std::move(request->challenge_password);
      enroll.renewal = request->message_type == pki::ScepMessageType::kRenewalReq;
      enroll.signer_certificate_der = request->signer_certificate_der;
      result = enrollment_->Enroll(profile, enroll);
    }
    switch (result.status) {
      case ScepEnrollmentResult::Status::kSuccess:
        reply.status = pki::ScepPkiStatus::kSuccess;
        reply.issued_certificate_der = std::move(result.certificate_der);
        break;
      case ScepEnrollmentResult::Status::kPending:
        reply.status = pki::ScepPkiStatus::kPending;
        break;
      case ScepEnrollmentResult::Status::kFailure:
        reply.status = pki::ScepPkiStatus::kFailure;
        reply.fail_info = result.fail_info;
        detail = result.detail;
        break;
    }
    LogInfo("scep.pki_operation",
            {{"tenant_id", profile.tenant_id},
             {"profile_id", profile.profile_id},
             {"transaction_id", request->transaction_id},
             {"message_type", absl::StrCat(static_cast<int>(request->message_type))},
             {"status", StatusName(result.status)}});
  }
  if (reply.status == pki::ScepPkiStatus::kFailure && !detail.empty()) {
    LogWarning("scep.request_refused", {{"tenant_id", profile.tenant_id},
                                        {"profile_id", profile.profile_id},
                                        {"transaction_id", request->transaction_id},
                                        {"fail_info", absl::StrCat(static_cast<int>(reply.fail_info))},
                                        {"detail", detail}});
  }
  absl::StatusOr<std::string> cert_rep = pki::BuildScepCertRep(reply, ra);
  if (!cert_rep.ok()) {
    LogError("scep.cert_rep_failed", {{"tenant_id", profile.tenant_id},
                                      {"profile_id", profile.profile_id},
                                      {"transaction_id", request->transaction_id},
                                      {"error", cert_rep.status().ToString()}});
    return TextReply(500, "SCEP reply could not be built\n");
  }
  return ScepHttpReply{200, "application/x-pki-message", std::move(*cert_rep)};
}

}  // namespace certbridge::broker::scep
