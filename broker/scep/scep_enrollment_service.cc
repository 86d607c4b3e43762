#include "broker/scep/scep_enrollment_service.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/scep/scep_policy.h"
#include "broker/service/api_key_auth.h"
#include "common/pki/pem.h"
#include "common/pki/pki.h"

namespace certbridge::broker::scep {
namespace {

constexpr size_t kMaxTransactionId = 256;
constexpr size_t kMaxCsrDer = 16 * 1024;
constexpr size_t kMaxChallenge = 1024;
constexpr size_t kMaxSignerCertificate = 16 * 1024;

constexpr char kLabelProfile[] = "scep_profile";
constexpr char kLabelTransaction[] = "scep_transaction";

bool IsPrintableAscii(absl::string_view s) {
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return false;
  }
  return true;
}

ScepEnrollmentResult Failure(ScepFailInfo fail_info, std::string detail) {
  ScepEnrollmentResult result;
  result.status = ScepEnrollmentResult::Status::kFailure;
  result.fail_info = fail_info;
  result.detail = std::move(detail);
  return result;
}

ScepEnrollmentResult Pending() {
  ScepEnrollmentResult result;
  result.status = ScepEnrollmentResult::Status::kPending;
  return result;
}

// Waiting ends at a terminal state and at PENDING_APPROVAL: a CA officer takes minutes
// or days, so the device is told PENDING at once and polls.
bool StopsWaiting(RequestState state) {
  return IsTerminal(state) || state == RequestState::kPendingApproval;
}

}  // namespace

std::string RenewalTransactionKey(absl::string_view transaction_id, absl::string_view serial_hex) {
  return absl::StrCat(transaction_id, "\nrenewal-of:", serial_hex);
}

std::string ScepRequestId(absl::string_view profile_id, absl::string_view transaction_id) {
  return absl::StrCat("scep-", pki::Sha256Hex(absl::StrCat(profile_id, "\n", transaction_id)));
}

ScepEnrollmentService::ScepEnrollmentService(const ScepBackEnd& back_end,
                                             ScepEnrollmentOptions options)
    : back_end_(back_end), options_(options) {}

absl::StatusOr<ScepProfileMaterial> ScepEnrollmentService::FindProfile(
    absl::string_view profile_id) {
  if (profile_id.empty() || profile_id.size() > 64 || !IsPrintableAscii(profile_id)) {
    return absl::NotFoundError("SCEP profile not found");
  }
  absl::StatusOr<ScepProfileRecord> profile = back_end_.scep_store->GetScepProfileById(std::string(profile_id));
  if (!profile.ok()) return profile.status();
  if (profile->disabled) {
    return absl::NotFoundError(absl::StrCat("SCEP profile \"", profile_id, "\" is disabled"));
  }
  if (profile->ra_certificate_pem.empty() || profile->ra_key_encrypted_pem.empty()) {
    return absl::UnavailableError(absl::StrCat(
        "SCEP profile \"", profile_id, "\": its RA certificate is not issued yet (request ",
        profile->ra_pending_request_name.empty() ? std::string("not sent") : profile->ra_pending_request_name,
        "); it is requested from CA ", profile->ca_id, " with template ", profile->ra_template_name,
        " through the agent; see `certbridgectl scep profiles get ", profile_id, "`"));
  }
  absl::StatusOr<pki::PrivateKey> key = back_end_.vault->Open(profile->ra_key_encrypted_pem, profile_id);
  if (!key.ok()) return key.status();
  ScepProfileMaterial material;
  material.tenant_id = profile->tenant_id;
  material.profile_id = profile->profile_id;
  material.ra_certificate_pem = profile->ra_certificate_pem;
  material.ra_private_key_pem = key->ToPem();
  if (!profile->ra_chain_pem.empty()) {
    absl::StatusOr<std::vector<std::string>> chain = pki::SplitPemChain(profile->ra_chain_pem);
    if (!chain.ok()) return absl::InternalError(absl::StrCat("SCEP profile \"", profile_id,
                                                             "\": stored CA chain: ", chain.status().message()));
    material.ca_chain_pem = std::move(*chain);
  }
  return material;
}

ScepEnrollmentResult ScepEnrollmentService::Enroll(const ScepProfileMaterial& material,
                                                   const ScepEnrollmentRequest& request) {
  // The profile as stored now (it may have been disabled since FindProfile), by id alone:
  // the URL named it, and its tenant is the one every later step uses.
  absl::StatusOr<ScepProfileRecord> profile = back_end_.scep_store->GetScepProfileById(material.profile_id);
  if (!profile.ok()) {
    return Failure(ScepFailInfo::kBadRequest,
                   absl::StrCat("SCEP profile \"", material.profile_id, "\": ", profile.status().message()));
  }
  if (profile->disabled) {
    return Failure(ScepFailInfo::kBadRequest,
                   absl::StrCat("SCEP profile \"", material.profile_id, "\" is disabled"));
  }
  if (request.transaction_id.empty() || request.transaction_id.size() > kMaxTransactionId ||
      !IsPrintableAscii(request.transaction_id)) {
    return Refuse(*profile, request, ScepFailInfo::kBadRequest,
                  absl::StrCat("transactionID must be 1..", kMaxTransactionId, " printable ASCII characters"));
  }
  // RFC 8894 §3.3.1.2: a renewal is signed with the certificate being renewed (RenewalReq,
  // or a PKCSReq signed with a CA-issued certificate, as some clients send it) and needs no
  // challenge. A new device signs with a self-signed certificate and needs one.
  absl::StatusOr<pki::CertificateInfo> signer = absl::NotFoundError("no signer certificate");
  if (!request.signer_certificate_der.empty() &&
      request.signer_certificate_der.size() <= kMaxSignerCertificate) {
    signer = pki::ParseCertificate(request.signer_certificate_der);
  }
  const bool ca_issued_signer = signer.ok() && signer->issuer != signer->subject;
  // A client that reuses its CSR (scepclient keeps csr.pem) still carries the first
  // enrollment's challenge: a signer this profile issued makes it a renewal all the same.
  bool signer_issued_here = false;
  if (ca_issued_signer) {
    absl::StatusOr<CertificateRequestRecord> previous = back_end_.requests->GetCertificateRequestBySerial(
        profile->tenant_id, profile->ca_id, signer->serial_hex);
    if (previous.ok()) {
      auto label = previous->labels.find(kLabelProfile);
      signer_issued_here = label != previous->labels.end() && label->second == profile->profile_id;
    }
  }
  const bool renewal_by_certificate =
      !request.signer_certificate_der.empty() &&
      (signer_issued_here ||
       (request.challenge_password.empty() && (request.renewal || ca_issued_signer)));
  // Clients that keep their key (scepclient) renew with the transactionID of the first
  // enrollment (a digest of the public key) and even the same CSR: the renewed
  // certificate's serial tells the renewal apart from a retry of that enrollment.
  const std::string request_id =
      renewal_by_certificate && signer.ok()
          ? ScepRequestId(profile->profile_id, RenewalTransactionKey(request.transaction_id, signer->serial_hex))
          : ScepRequestId(profile->profile_id, request.transaction_id);
  absl::StatusOr<CertificateRequestRecord> existing =
      back_end_.requests->GetCertificateRequestByRequestId(profile->tenant_id, request_id);
  if (existing.ok()) {
    absl::StatusOr<pki::CsrInfo> stored_csr = pki::ParseCsr(existing->csr_pem);
    if (!stored_csr.ok() || stored_csr->der != request.csr_der) {
      return Refuse(*profile, request, ScepFailInfo::kBadRequest,
                    absl::StrCat("transactionID ", request.transaction_id,
                                 " was already used with another CSR (request ", existing->name,
                                 "); a new enrollment needs a new transactionID"));
    }
    return Answer(*profile, *std::move(existing), /*wait=*/true);
  }
  if (!absl::IsNotFound(existing.status())) {
    return Failure(ScepFailInfo::kBadRequest,
                   absl::StrCat("looking up transaction: ", existing.status().message()));
  }
  return EnrollNew(*profile, request, request_id, renewal_by_certificate, signer);
}

ScepEnrollmentResult ScepEnrollmentService::EnrollNew(
    const ScepProfileRecord& profile, const ScepEnrollmentRequest& request,
    const std::string& request_id, bool renewal_by_certificate,
    const absl::StatusOr<pki::CertificateInfo>& signer) {
  if (request.csr_der.empty() || request.csr_der.size() > kMaxCsrDer) {
    return Refuse(profile, request, ScepFailInfo::kBadRequest,
                  absl::StrCat("the CSR is ", request.csr_der.size(), " bytes; 1..", kMaxCsrDer, " expected"));
  }
  absl::StatusOr<pki::CsrInfo> csr = pki::ParseCsr(request.csr_der);
  if (!csr.ok()) {
    return Refuse(profile, request, ScepFailInfo::kBadRequest,
                  absl::StrCat("the CSR: ", csr.status().message()));
  }
  if (absl::Status s = CheckCsrAgainstPolicy(profile.policy, *csr); !s.ok()) {
    return Refuse(profile, request, ScepFailInfo::kBadRequest, std::string(s.message()));
  }
  if (request.challenge_password.size() > kMaxChallenge) {
    return Refuse(profile, request, ScepFailInfo::kBadRequest, "the challenge password is too long");
  }

  std::string sid;
  std::string device_id;
  std::string challenge_hash;  // DYNAMIC: consumed below, once everything else passed
  if (renewal_by_certificate) {
    // Only a certificate this profile issued, still valid, for the same subject, renews.
    if (!signer.ok()) {
      return Refuse(profile, request, ScepFailInfo::kBadCertId,
                    absl::StrCat("the renewal's signing certificate: ", signer.status().message()));
    }
    absl::StatusOr<CertificateRequestRecord> previous =
        back_end_.requests->GetCertificateRequestBySerial(profile.tenant_id, profile.ca_id, signer->serial_hex);
    auto label = previous.ok() ? previous->labels.find(kLabelProfile) : decltype(previous->labels.end())();
    if (!previous.ok() || label == previous->labels.end() || label->second != profile.profile_id ||
        previous->state != RequestState::kIssued) {
      return Refuse(profile, request, ScepFailInfo::kBadCertId,
                    absl::StrCat("renewal: certificate ", signer->serial_hex,
                                 " was not issued through this SCEP profile or is revoked"));
    }
    if (signer->not_after <= back_end_.clock->Now()) {
      return Refuse(profile, request, ScepFailInfo::kBadTime,
                    absl::StrCat("renewal: certificate ", signer->serial_hex,
                                 " has expired; enroll again with a new challenge"));
    }
    if (!absl::EqualsIgnoreCase(signer->subject, csr->subject)) {
      return Refuse(profile, request, ScepFailInfo::kBadRequest,
                    absl::StrCat("renewal: the CSR's subject \"", csr->subject,
                                 "\" differs from the certificate's \"", signer->subject, "\""));
    }
    sid = previous->sid;
    device_id = previous->device_id;
  } else {
    switch (profile.challenge_mode) {
      case ScepChallengeMode::kDynamic: {
        if (request.challenge_password.empty()) {
          return Refuse(profile, request, ScepFailInfo::kBadRequest,
                        "the CSR has no challengePassword; this profile needs a dynamic challenge "
                        "from CertificateService.CreateScepChallenge");
        }
        challenge_hash = pki::Sha256Hex(request.challenge_password);
        absl::StatusOr<ScepChallengeRecord> challenge =
            back_end_.scep_store->GetScepChallenge(profile.profile_id, challenge_hash);
        if (!challenge.ok()) {
          return Refuse(profile, request, ScepFailInfo::kBadRequest,
                        absl::IsNotFound(challenge.status())
                            ? std::string("the challenge is not one this profile issued")
                            : absl::StrCat("challenge lookup: ", challenge.status().message()));
        }
        if (challenge->consume_time.has_value() && challenge->consumed_by != request_id) {
          return Refuse(profile, request, ScepFailInfo::kBadRequest,
                        absl::StrCat("the challenge was already used (for ", challenge->consumed_by,
                                     "); mint a new one per enrollment"));
        }
        if (!challenge->consume_time.has_value() && challenge->expire_time <= back_end_.clock->Now()) {
          return Refuse(profile, request, ScepFailInfo::kBadTime, "the challenge has expired; mint a new one");
        }
        if (absl::Status s = CheckCsrAgainstChallenge(*challenge, *csr); !s.ok()) {
          return Refuse(profile, request, ScepFailInfo::kBadRequest, std::string(s.message()));
        }
        sid = challenge->sid;
        device_id = challenge->device_id;
        break;
      }
      case ScepChallengeMode::kStatic:
        // Digests of equal length, compared in constant time: neither the secret nor its
        // length leaks through timing.
        if (profile.static_challenge_hash.empty() ||
            !pki::ConstantTimeEquals(pki::Sha256Hex(request.challenge_password),
                                     profile.static_challenge_hash)) {
          return Refuse(profile, request, ScepFailInfo::kBadRequest,
                        "the challenge is not this profile's static challenge");
        }
        break;
      case ScepChallengeMode::kIntune: {
        if (options_.intune == nullptr) {
          return Refuse(profile, request, ScepFailInfo::kBadRequest,
                        "this profile validates challenges with Intune, and no Intune validation "
                        "is configured on this broker");
        }
        absl::Status valid = options_.intune->Validate(
            {profile.tenant_id, request.transaction_id, request.csr_der});
        if (!valid.ok()) {
          return Refuse(profile, request, ScepFailInfo::kBadRequest,
                        absl::StrCat("Intune: ", valid.message()));
        }
        break;
      }
    }
  }

  if (!challenge_hash.empty()) {
    absl::StatusOr<ScepChallengeRecord> consumed = back_end_.scep_store->ConsumeScepChallenge(
        profile.profile_id, challenge_hash, request_id, back_end_.clock->Now());
    if (!consumed.ok()) {
      return Refuse(profile, request, ScepFailInfo::kBadRequest,
                    absl::StrCat("the challenge: ", consumed.status().message()));
    }
  }

  Caller caller;
  caller.tenant_id = profile.tenant_id;
  caller.key_id = absl::StrCat("scep:", profile.profile_id);
  caller.scopes = {std::string(kScopeCertificates)};
  v1::CreateCertificateRequestRequest create;
  create.set_request_id(request_id);
  create.set_ca_id(profile.ca_id);
  create.set_template_name(profile.template_name);
  create.set_csr_pem(pki::PemEncode("CERTIFICATE REQUEST", csr->der));
  create.set_sid(sid);
  create.set_device_id(device_id);
  (*create.mutable_labels())[kLabelProfile] = profile.profile_id;
  (*create.mutable_labels())[kLabelTransaction] = request.transaction_id;
  absl::StatusOr<CertificateRequestRecord> created = back_end_.certificates->Create(caller, create);
  if (!created.ok()) {
    return Refuse(profile, request, ScepFailInfo::kBadRequest,
                  absl::StrCat("creating the certificate request: ", created.status().message()));
  }
  Audit(profile, request.renewal ? "scep.renew" : "scep.enroll", created->name,
        absl::StrCat("transaction=", request.transaction_id, " subject=", csr->subject,
                     renewal_by_certificate ? " by=certificate"
                                            : absl::StrCat(" challenge=",
                                                           ScepChallengeModeName(profile.challenge_mode))));
  return Answer(profile, *std::move(created), /*wait=*/true);
}

ScepEnrollmentResult ScepEnrollmentService::Poll(const ScepProfileMaterial& material,
                                                 absl::string_view transaction_id) {
  absl::StatusOr<ScepProfileRecord> profile = back_end_.scep_store->GetScepProfileById(material.profile_id);
  if (!profile.ok()) {
    return Failure(ScepFailInfo::kBadRequest,
                   absl::StrCat("SCEP profile \"", material.profile_id, "\": ", profile.status().message()));
  }
  if (transaction_id.empty() || transaction_id.size() > kMaxTransactionId) {
    return Failure(ScepFailInfo::kBadCertId, "transactionID missing or too long");
  }
  absl::StatusOr<CertificateRequestRecord> request = back_end_.requests->GetCertificateRequestByRequestId(
      profile->tenant_id, ScepRequestId(profile->profile_id, transaction_id));
  if (absl::IsNotFound(request.status())) {
    return Failure(ScepFailInfo::kBadCertId,
                   absl::StrCat("no enrollment with transactionID ", transaction_id, " in this profile"));
  }
  if (!request.ok()) {
    return Failure(ScepFailInfo::kBadRequest, absl::StrCat("poll: ", request.status().message()));
  }
  // The same transactionID may have been renewed (see Enroll): the newest request wins.
  for (int hops = 0; hops < 64 && request->state == RequestState::kIssued && !request->serial_hex.empty();
       ++hops) {
    absl::StatusOr<CertificateRequestRecord> renewal = back_end_.requests->GetCertificateRequestByRequestId(
        profile->tenant_id,
        ScepRequestId(profile->profile_id, RenewalTransactionKey(transaction_id, request->serial_hex)));
    if (!renewal.ok()) break;
    request = std::move(renewal);
  }
  return Answer(*profile, *std::move(request), /*wait=*/false);
}

ScepEnrollmentResult ScepEnrollmentService::Answer(const ScepProfileRecord& profile,
                                                   CertificateRequestRecord request, bool wait) {
  if (wait && !StopsWaiting(request.state) && options_.changes != nullptr &&
      options_.wait > absl::ZeroDuration()) {
    const absl::Time deadline = back_end_.clock->Now() + options_.wait;
    // Subscribed before the re-read: a change committed since `request` was read (the agent
    // may be fast) is not lost. Only a change that may stop the wait wakes it, and one that
    // a write on this replica handed over with its record needs no read
    // (request_change_waiters.h); any other wake-up costs one read.
    RequestChangeWaiters::Subscription changes(options_.changes, profile.tenant_id, request.name,
                                               &StopsWaiting);
    std::optional<CertificateRequestRecord> written;
    bool read_again = true;
    while (read_again) {
      if (written.has_value()) {
        request = *std::move(written);
      } else {
        absl::StatusOr<CertificateRequestRecord> now =
            back_end_.requests->GetCertificateRequest(profile.tenant_id, request.name);
        if (now.ok()) request = *std::move(now);
      }
      read_again = !StopsWaiting(request.state) &&
                   changes.WaitForChange(deadline - back_end_.clock->Now(), request.change_seq,
                                         &written);
    }
  }
  switch (request.state) {
    case RequestState::kIssued: {
      absl::StatusOr<pki::CertificateInfo> certificate = pki::ParseCertificate(request.certificate_pem);
      if (!certificate.ok()) {
        return Failure(ScepFailInfo::kBadRequest,
                       absl::StrCat("request ", request.name, ": issued certificate unreadable: ",
                                    certificate.status().message()));
      }
      ScepEnrollmentResult result;
      result.status = ScepEnrollmentResult::Status::kSuccess;
      result.certificate_der = certificate->der;
      return result;
    }
    case RequestState::kQueued:
    case RequestState::kDispatched:
    case RequestState::kPendingApproval:
      return Pending();
    default:
      return Failure(ScepFailInfo::kBadRequest,
                     absl::StrCat("request ", request.name, " is ", RequestStateName(request.state),
                                  request.error_code.empty() ? "" : absl::StrCat(" (", request.error_code, ")"),
                                  request.error_message.empty() ? "" : absl::StrCat(": ", request.error_message)));
  }
}

ScepEnrollmentResult ScepEnrollmentService::Refuse(const ScepProfileRecord& profile,
                                                   const ScepEnrollmentRequest& request,
                                                   ScepFailInfo fail_info, std::string detail) {
  Audit(profile, "scep.refuse", profile.profile_id,
        absl::StrCat("transaction=", absl::CHexEscape(request.transaction_id.substr(0, kMaxTransactionId)),
                     " reason=", detail));
  return Failure(fail_info, std::move(detail));
}

void ScepEnrollmentService::Audit(const ScepProfileRecord& profile, absl::string_view action,
                                  absl::string_view object_id, std::string details) {
  AuditEventRecord event;
  event.tenant_id = profile.tenant_id;
  event.time = back_end_.clock->Now();
  event.actor = absl::StrCat("scep:", profile.profile_id);
  event.action = std::string(action);
  event.object_id = std::string(object_id);
  event.details = std::move(details);
  // An audit write that fails does not undo the enrollment or the refusal it records.
  back_end_.store->AppendAuditEvent(event).IgnoreError();
}

}  // namespace certbridge::broker::scep
