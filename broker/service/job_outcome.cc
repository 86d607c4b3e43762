#include "broker/service/job_outcome.h"

#include <algorithm>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/adcs/error_catalog.h"
#include "common/pki/pki.h"

namespace certbridge::broker {
namespace {

void SetCaAnswer(CertificateRequestRecord& r, const v1::JobResult& result) {
  if (result.ca_request_id() != 0) r.ca_request_id = result.ca_request_id();
  r.disposition = result.disposition();
  r.hresult = result.hresult();
  r.disposition_message = result.disposition_message();
}

void SetCaError(CertificateRequestRecord& r, const v1::JobResult& result) {
  r.error_code = adcs::CodeFor(result.disposition(), result.hresult());
  std::string remedy;
  if (const adcs::CatalogEntry* entry = adcs::FindByHresult(result.hresult())) {
    remedy = std::string(entry->remedy);
    r.error_message = result.disposition_message().empty()
                          ? std::string(entry->windows_message)
                          : result.disposition_message();
  } else if (const adcs::DispositionEntry* d = adcs::FindDisposition(result.disposition())) {
    remedy = std::string(d->remedy);
    r.error_message = result.disposition_message();
  } else {
    r.error_message = result.disposition_message();
  }
  if (r.error_message.empty()) {
    r.error_message = absl::StrCat("the CA answered disposition ", result.disposition(),
                                   " with ", adcs::FormatHresult(result.hresult()));
  }
  if (!result.hint().empty()) remedy = absl::StrCat(result.hint(), " ", remedy);
  r.remedy = remedy;
}

// Who may take the request's next job: the CA identity that talked to the CA (AD CS shows
// a pending request, and the earlier submission a retry looks up, only to the requester),
// and in key-generation mode only this connector: the generated key is in its pending key
// store, and another agent — even under the same account — would fetch a certificate for
// a key it does not have.
std::string StickyIdentity(const CertificateRequestRecord& request,
                           const std::string& connector_id, const std::string& ca_identity) {
  if (request.key_type.empty()) return ca_identity;
  return ConnectorBoundIdentity(ca_identity, connector_id);
}

absl::Duration RetrieveDelay(const CertificateRequestRecord& request, absl::Time now,
                             const JobOutcomeOptions& options) {
  // Officers act within minutes or hours: ask often at first, then back off.
  return std::clamp((now - request.create_time) / 4, options.min_retrieve_delay,
                    options.max_retrieve_delay);
}

}  // namespace

absl::StatusOr<JobCompletion> OutcomeOfJob(const CertificateRequestRecord& request,
                                           const JobRecord& job, const v1::JobResult& result,
                                           const std::string& connector_id,
                                           const std::string& ca_identity, absl::Time now,
                                           const JobOutcomeOptions& options) {
  JobCompletion c;
  c.job_id = job.job_id;
  c.tenant_id = job.tenant_id;
  c.connector_id = connector_id;
  c.now = now;
  c.expected_request_state = request.state;
  c.request = request;
  CertificateRequestRecord& r = c.request;
  r.update_time = now;
  r.waiting_reason.clear();

  if (!result.ca_answered()) {
    const bool unreachable =
        result.error_code() == "UNAVAILABLE" || result.error_code() == "DEADLINE_EXCEEDED";
    if (unreachable && job.attempts < options.max_unreachable_attempts) {
      r.waiting_reason = absl::StrCat("the CA could not be reached from connector ",
                                      connector_id, " (", result.error_message(),
                                      "); retrying");
      const absl::Time retry_at = now + options.unreachable_retry_delay * job.attempts;
      if (job.kind != JobKind::kSubmit) {
        // RETRIEVE and REVOKE are sticky already (required_identity).
        c.job_state = JobState::kReady;
        c.retry_not_before = retry_at;
        return c;
      }
      // The submission may have reached the CA (DEADLINE_EXCEEDED: the answer was lost).
      // Only the same identity finds it there (the retry looks it up first), so the retry
      // is pinned to it: another identity would submit again and could be issued a second
      // certificate. A job put back READY keeps its required_identity (the store does not
      // change it), so the retry is a new job carrying the pin, and this one ends.
      r.state = RequestState::kQueued;
      c.job_state = JobState::kFailed;
      JobRecord retry;
      retry.tenant_id = job.tenant_id;
      retry.request_name = job.request_name;
      retry.ca_id = job.ca_id;
      retry.kind = JobKind::kSubmit;
      retry.state = JobState::kReady;
      retry.required_identity = StickyIdentity(request, connector_id, ca_identity);
      retry.not_before = retry_at;
      retry.attempts = job.attempts;  // counts toward max_unreachable_attempts; > 1 looks up first
      retry.create_time = now;
      c.follow_up = retry;
      return c;
    }
    c.job_state = JobState::kFailed;
    if (job.kind == JobKind::kRevoke) {
      // The agent's own policy refusing the revocation is the customer's decision, not a
      // failure to reach the CA: its code is kept, like a refused SUBMIT's.
      if (absl::StartsWith(result.error_code(), "POLICY_")) {
        r.error_code = absl::StrCat("AGENT_", result.error_code());
        r.error_message = absl::StrCat("the connector's local policy refused the revocation: ",
                                       result.error_message());
        r.remedy = result.hint();
        return c;
      }
      r.error_code = "REVOKE_FAILED";
      r.error_message = absl::StrCat("revocation did not reach the CA: ", result.error_message());
      return c;
    }
    r.state = RequestState::kFailed;
    if (unreachable) {
      const adcs::CatalogEntry* entry = adcs::FindByHresult(adcs::kRpcServerUnavailable);
      r.error_code = std::string(entry->code);
      r.hresult = adcs::kRpcServerUnavailable;
      r.error_message = absl::StrCat("the CA could not be reached after ", job.attempts,
                                     " attempts: ", result.error_message());
      r.remedy = std::string(entry->remedy);
    } else {
      r.error_code = absl::StrCat("AGENT_", result.error_code().empty() ? "ERROR" : result.error_code());
      r.error_message = result.error_message();
      r.remedy = result.hint();
    }
    return c;
  }

  c.job_state = JobState::kDone;
  if (job.kind == JobKind::kRevoke) {
    if (result.revoke_hresult() == 0) {
      r.state = RequestState::kRevoked;
      r.revoke_time = now;
      r.revocation_reason = job.revocation_reason;
      r.error_code.clear();
      r.error_message.clear();
      r.remedy.clear();
    } else {
      c.job_state = JobState::kFailed;
      v1::JobResult as_answer = result;
      as_answer.set_hresult(result.revoke_hresult());
      SetCaError(r, as_answer);
      r.error_code = absl::StrCat("REVOKE_", r.error_code);
    }
    return c;
  }

  SetCaAnswer(r, result);
  r.connector_id = connector_id;
  r.ca_identity = ca_identity;
  switch (result.disposition()) {
    case adcs::kDispositionIssued:
    case adcs::kDispositionIssuedOutOfBand: {
      absl::StatusOr<pki::CertificateInfo> cert = pki::ParseCertificate(result.certificate_pem());
      if (!cert.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("the agent reported ISSUED with a certificate that does not parse: ",
                         cert.status().message()));
      }
      // CSR mode: the certificate must be for the key of the CSR the MDM sent, whatever
      // an agent or a CA answers. (In key-generation mode only the agent knows the key.)
      // The CSR was parsed and verified when the request was created; only its key is
      // needed here.
      if (!request.csr_pem.empty()) {
        if (!pki::CsrHasPublicKey(request.csr_pem, cert->public_key_der)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "the agent reported ISSUED with certificate serial ", cert->serial_hex,
              " whose public key is not the key of the request's CSR"));
        }
      }
      r.state = RequestState::kIssued;
      r.certificate_pem = cert->pem;
      r.chain_pem = result.chain_pem();
      r.serial_hex = cert->serial_hex;
      r.not_after = cert->not_after;
      r.pkcs12 = result.pkcs12();
      r.enveloped_password = result.enveloped_password();
      r.error_code.clear();
      r.error_message.clear();
      r.remedy.clear();
      return c;
    }
    case adcs::kDispositionUnderSubmission: {
      r.state = RequestState::kPendingApproval;
      r.waiting_reason = absl::StrCat(
          "CA request ", r.ca_request_id,
          " is pending approval by a CA officer (certutil -resubmit ", r.ca_request_id, ")");
      JobRecord retrieve;
      retrieve.tenant_id = job.tenant_id;
      retrieve.request_name = job.request_name;
      retrieve.ca_id = job.ca_id;
      retrieve.kind = JobKind::kRetrieve;
      retrieve.state = JobState::kReady;
      retrieve.required_identity = StickyIdentity(request, connector_id, ca_identity);
      retrieve.not_before = now + RetrieveDelay(request, now, options);
      retrieve.create_time = now;
      c.follow_up = retrieve;
      // Key-generation mode: the agent keeps the key for the pending request and sends
      // the PKCS#12 with the RETRIEVE result.
      return c;
    }
    case adcs::kDispositionDenied:
      r.state = RequestState::kDenied;
      SetCaError(r, result);
      return c;
    default:
      r.state = RequestState::kFailed;
      SetCaError(r, result);
      return c;
  }
}

namespace {

bool BoundToAnotherConnector(const JobRecord& job, const std::string& connector_id) {
  const size_t separator = job.required_identity.find('\x1f');
  return separator != std::string::npos &&
         job.required_identity.compare(separator + 1, std::string::npos, connector_id) != 0;
}

}  // namespace

absl::Status CheckResultSender(const JobRecord& job, const std::string& connector_id,
                               const std::vector<std::string>& ca_ids) {
  if (job.state == JobState::kLeased) {
    if (job.connector_id == connector_id) return absl::OkStatus();
    return absl::PermissionDeniedError(absl::StrCat("job ", job.job_id, " is leased to connector ",
                                                    job.connector_id, ", not to ", connector_id));
  }
  if (job.state == JobState::kReady && job.connector_id.empty() &&
      std::find(ca_ids.begin(), ca_ids.end(), job.ca_id) != ca_ids.end() &&
      !BoundToAnotherConnector(job, connector_id)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat("job ", job.job_id, " was not given to connector ",
                                                  connector_id));
}

}  // namespace certbridge::broker
