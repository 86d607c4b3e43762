#include "broker/scep/scep_ra_certificates.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/pki/pki.h"
#include "common/status_macros.h"

namespace certbridge::broker::scep {

ScepRaCertificates::ScepRaCertificates(const ScepBackEnd& back_end, ScepRaOptions options)
    : back_end_(back_end), options_(options) {}

absl::StatusOr<int> ScepRaCertificates::RenewDue() {
  ASSIGN_OR_RETURN(std::vector<ScepProfileRecord> profiles, back_end_.scep_store->ListActiveScepProfiles());
  int changed = 0;
  for (ScepProfileRecord& profile : profiles) {
    absl::StatusOr<bool> resealed = Reseal(profile);
    if (absl::IsAborted(resealed.status())) continue;  // another replica moved first
    if (absl::IsInvalidArgument(resealed.status())) {
      // No secret this replica has opens the key: enrollment with this profile fails here
      // too. Say so every round; renewing may still install a key sealed anew.
      LogWarning("scep.ra_key_unopenable",
                 {{"tenant_id", profile.tenant_id},
                  {"profile_id", profile.profile_id},
                  {"error", resealed.status().message()},
                  {"remedy", "give this replica the secret the key was sealed with, as "
                             "--scep_ra_secret_file or --scep_ra_previous_secret_file "
                             "(docs/scep.md, \"Rotating the RA secret\")"}});
    } else if (!resealed.ok()) {
      return resealed.status();
    } else if (*resealed) {
      ++changed;
    }
    absl::StatusOr<bool> one = RenewOne(profile);
    if (absl::IsAborted(one.status())) continue;  // another replica moved first
    if (!one.ok()) return one.status();
    if (*one) ++changed;
  }
  return changed;
}

absl::StatusOr<bool> ScepRaCertificates::Reseal(ScepProfileRecord& profile) {
  const ScepSealedRaKeys expected{profile.ra_key_encrypted_pem,
                                  profile.ra_pending_key_encrypted_pem};
  ScepSealedRaKeys resealed = expected;
  bool any = false;
  for (std::string* sealed : {&resealed.key, &resealed.pending_key}) {
    if (sealed->empty()) continue;
    ASSIGN_OR_RETURN(std::optional<std::string> again,
                     back_end_.vault->Reseal(*sealed, profile.profile_id));
    if (!again.has_value()) continue;
    *sealed = *std::move(again);
    any = true;
  }
  if (!any) return false;
  ASSIGN_OR_RETURN(profile, back_end_.scep_store->ResealScepRaKeys(
                                profile.tenant_id, profile.profile_id, expected, resealed,
                                back_end_.clock->Now()));
  LogInfo("scep.ra_key_resealed", {{"tenant_id", profile.tenant_id},
                                   {"profile_id", profile.profile_id}});
  Audit(profile, "scep_ra.reseal",
        "RA key sealed again with the current --scep_ra_secret_file (it opened only with a "
        "previous one)");
  return true;
}

absl::StatusOr<bool> ScepRaCertificates::RenewOne(const ScepProfileRecord& profile) {
  if (!profile.ra_pending_request_name.empty()) return Collect(profile);
  if (!profile.ra_certificate_pem.empty()) {
    absl::StatusOr<pki::CertificateInfo> current = pki::ParseCertificate(profile.ra_certificate_pem);
    if (current.ok()) {
      const absl::Time due =
          current->not_before + (current->not_after - current->not_before) * options_.renew_at;
      if (back_end_.clock->Now() < due) return false;
    }
  }
  return Ask(profile);
}

absl::StatusOr<bool> ScepRaCertificates::Collect(const ScepProfileRecord& profile) {
  absl::StatusOr<CertificateRequestRecord> request =
      back_end_.requests->GetCertificateRequest(profile.tenant_id, profile.ra_pending_request_name);
  if (!request.ok() && !absl::IsNotFound(request.status())) return request.status();
  if (request.ok() && !IsTerminal(request->state)) return false;  // the CA has not answered yet

  ScepProfileRecord ra = profile;
  ra.ra_pending_request_name.clear();
  ra.ra_pending_key_encrypted_pem.clear();
  if (request.ok() && request->state == RequestState::kIssued) {
    ASSIGN_OR_RETURN(pki::PrivateKey key,
                     back_end_.vault->Open(profile.ra_pending_key_encrypted_pem, profile.profile_id));
    absl::StatusOr<pki::CertificateInfo> cert = pki::ParseCertificate(request->certificate_pem);
    if (cert.ok() && pki::KeyMatchesCertificate(key, request->certificate_pem)) {
      ra.ra_certificate_pem = cert->pem;
      ra.ra_chain_pem = request->chain_pem;
      ra.ra_key_encrypted_pem = profile.ra_pending_key_encrypted_pem;
      ra.ra_not_after = cert->not_after;
      ASSIGN_OR_RETURN(ScepProfileRecord stored,
                       back_end_.scep_store->UpdateScepRa(profile.tenant_id, profile.profile_id,
                                                 profile.ra_pending_request_name, ra, back_end_.clock->Now()));
      Audit(stored, "scep_ra.install",
            absl::StrCat("request=", request->name, " serial=", cert->serial_hex, " not_after=",
                         absl::FormatTime(absl::RFC3339_sec, cert->not_after, absl::UTCTimeZone())));
      return true;
    }
  }
  // Dropped: the next round asks again. The current RA certificate (if any) stays.
  const std::string why =
      request.ok() ? absl::StrCat(RequestStateName(request->state), " ", request->error_code, " ",
                                  request->error_message)
                   : std::string("the request no longer exists");
  LogWarning("scep.ra_request_failed",
             {{"tenant_id", profile.tenant_id},
              {"profile_id", profile.profile_id},
              {"request", profile.ra_pending_request_name},
              {"reason", why},
              {"remedy", "check that the RA template is published on the CA and that the agent's "
                         "account may enroll for it; the next round asks again"},
              {"ra_template", profile.ra_template_name}});
  ASSIGN_OR_RETURN(ScepProfileRecord stored,
                   back_end_.scep_store->UpdateScepRa(profile.tenant_id, profile.profile_id,
                                             profile.ra_pending_request_name, ra, back_end_.clock->Now()));
  Audit(stored, "scep_ra.failed", absl::StrCat("request=", profile.ra_pending_request_name, " ", why));
  return true;
}

absl::StatusOr<bool> ScepRaCertificates::Ask(const ScepProfileRecord& profile) {
  ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::Generate(pki::KeyType::kRsa2048));
  ASSIGN_OR_RETURN(std::string csr,
                   pki::CreateCsrPem(key, {.subject = absl::StrCat("CN=certbridge SCEP RA ",
                                                                   profile.profile_id)}));
  ASSIGN_OR_RETURN(std::string sealed, back_end_.vault->Seal(key, profile.profile_id));
  Caller caller;
  caller.tenant_id = profile.tenant_id;
  caller.key_id = absl::StrCat("scep-ra:", profile.profile_id);
  caller.scopes = {std::string(kScopeCertificates)};
  v1::CreateCertificateRequestRequest create;
  create.set_request_id(
      absl::StrCat("scep-ra-", profile.profile_id, "-", absl::ToUnixSeconds(back_end_.clock->Now())));
  create.set_ca_id(profile.ca_id);
  create.set_template_name(profile.ra_template_name);
  create.set_csr_pem(csr);
  (*create.mutable_labels())["scep_profile"] = profile.profile_id;
  (*create.mutable_labels())["scep_role"] = "ra";
  ASSIGN_OR_RETURN(CertificateRequestRecord request, back_end_.certificates->Create(caller, create));
  ScepProfileRecord ra = profile;
  ra.ra_pending_request_name = request.name;
  ra.ra_pending_key_encrypted_pem = sealed;
  ASSIGN_OR_RETURN(ScepProfileRecord stored,
                   back_end_.scep_store->UpdateScepRa(profile.tenant_id, profile.profile_id, "", ra,
                                             back_end_.clock->Now()));
  Audit(stored, "scep_ra.request", absl::StrCat("request=", request.name, " template=",
                                                profile.ra_template_name));
  return true;
}

void ScepRaCertificates::Audit(const ScepProfileRecord& profile, absl::string_view action,
                               std::string details) {
  AuditEventRecord event;
  event.tenant_id = profile.tenant_id;
  event.time = back_end_.clock->Now();
  event.actor = "broker";
  event.action = std::string(action);
  event.object_id = profile.profile_id;
  event.details = std::move(details);
  back_end_.store->AppendAuditEvent(event).IgnoreError();
}

ScepRaRenewalTask::ScepRaRenewalTask(ScepRaCertificates* ra, absl::Duration interval)
    : thread_([this, ra, interval] {
        do {
          absl::StatusOr<int> round = ra->RenewDue();
          if (!round.ok()) {
            LogWarning("scep.ra_round_failed", {{"error", round.status().message()},
                                                {"retry_in", absl::FormatDuration(interval)}});
          }
        } while (!stop_.WaitForNotificationWithTimeout(interval));
      }) {}

ScepRaRenewalTask::~ScepRaRenewalTask() {
  stop_.Notify();
  thread_.join();
}

}  // namespace certbridge::broker::scep
