#include "agent/ca/com_ca_backend.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/adcs/error_catalog.h"
#include "common/status_macros.h"

namespace certbridge::agent {
namespace {

bool IsRpcFailure(uint32_t hr) { return (hr & 0xFFFFFF00u) == 0x80070600u; }

absl::Status Unavailable(const std::string& config, absl::string_view call, uint32_t hr) {
  const adcs::CatalogEntry* e = adcs::FindByHresult(hr);
  return absl::UnavailableError(absl::StrCat(
      "CA \"", config, "\": ", call, " failed with ", adcs::FormatHresult(hr),
      e != nullptr ? absl::StrCat(" ", e->symbol, ": ", e->windows_message) : std::string(),
      " Check the CA host and that TCP 135 and 49152-65535 are open to it."));
}

bool IsDenial(uint32_t hr) {
  return hr == adcs::kAccessDenied || hr == adcs::kEnrollDenied || hr == adcs::kTemplateDenied ||
         (hr & 0xFFFFF000u) == 0x80094000u;
}

}  // namespace

std::string Base64ToPem(absl::string_view base64, absl::string_view label) {
  std::string body;
  for (char c : base64) {
    if (!absl::ascii_isspace(static_cast<unsigned char>(c))) body.push_back(c);
  }
  std::string out = absl::StrCat("-----BEGIN ", label, "-----\n");
  for (size_t i = 0; i < body.size(); i += 64) absl::StrAppend(&out, body.substr(i, 64), "\n");
  absl::StrAppend(&out, "-----END ", label, "-----\n");
  return out;
}

absl::StatusOr<std::string> PemToBase64(absl::string_view pem) {
  const size_t begin = pem.find("-----BEGIN ");
  if (begin == absl::string_view::npos) {
    return absl::InvalidArgumentError("the certificate request is not PEM (no -----BEGIN line)");
  }
  const size_t body_start = pem.find('\n', begin);
  const size_t end = pem.find("-----END ", begin);
  if (body_start == absl::string_view::npos || end == absl::string_view::npos || end < body_start) {
    return absl::InvalidArgumentError("the certificate request PEM block is truncated");
  }
  std::string out;
  for (char c : pem.substr(body_start, end - body_start)) {
    if (!absl::ascii_isspace(static_cast<unsigned char>(c))) out.push_back(c);
  }
  return out;
}

absl::StatusOr<std::string> ComCaBackend::CaCertificatePem() {
  {
    absl::MutexLock lock(&mu_);
    if (!ca_pem_.empty()) return ca_pem_;
  }
  const ComAnswer a = client_->GetCaCertificate();
  if (a.call_hresult != 0) {
    if (IsRpcFailure(a.call_hresult)) return Unavailable(config(), a.failed_call, a.call_hresult);
    return absl::FailedPreconditionError(
        absl::StrCat("CA \"", config(), "\": ", a.failed_call, ": ", adcs::Describe(a.call_hresult)));
  }
  absl::MutexLock lock(&mu_);
  ca_pem_ = Base64ToPem(a.ca_certificate_base64);
  return ca_pem_;
}

absl::StatusOr<CaResult> ComCaBackend::ToResult(const ComAnswer& a) {
  CaResult r;
  if (a.call_hresult != 0) {
    if (IsRpcFailure(a.call_hresult)) return Unavailable(config(), a.failed_call, a.call_hresult);
    r.disposition = IsDenial(a.call_hresult) ? adcs::kDispositionDenied : adcs::kDispositionError;
    r.ca_request_id = a.request_id;
    r.hresult = a.call_hresult;
    const adcs::CatalogEntry* e = adcs::FindByHresult(a.call_hresult);
    r.disposition_message = e != nullptr ? std::string(e->windows_message) : a.disposition_message;
    return r;
  }
  r.disposition = a.disposition;
  r.ca_request_id = a.request_id;
  r.hresult = a.last_status;
  r.disposition_message = a.disposition_message;
  if (!a.certificate_base64.empty()) {
    r.certificate_pem = Base64ToPem(a.certificate_base64);
    absl::StatusOr<std::string> ca = CaCertificatePem();
    if (ca.ok()) r.chain_pem = *ca;  // best effort: the certificate is what matters
  }
  return r;
}

absl::StatusOr<CaResult> ComCaBackend::Submit(const SubmitParams& params) {
  ASSIGN_OR_RETURN(std::string base64, PemToBase64(params.csr_pem));
  return ToResult(client_->Submit(base64, params.attributes));
}

absl::StatusOr<CaResult> ComCaBackend::RetrievePending(const RetrievePendingParams& params) {
  if (params.ca_request_id <= 0 || params.ca_request_id > INT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("retrieve: CA request id ", params.ca_request_id, " is out of range"));
  }
  return ToResult(client_->RetrievePending(static_cast<int32_t>(params.ca_request_id)));
}

absl::StatusOr<RevokeResult> ComCaBackend::Revoke(const RevokeParams& params) {
  if (params.serial_hex.empty()) return absl::InvalidArgumentError("revoke: serial is empty");
  const uint32_t hr = client_->Revoke(params.serial_hex, params.reason);
  if (IsRpcFailure(hr)) return Unavailable(config(), "ICertAdmin2::RevokeCertificate", hr);
  RevokeResult r;
  r.hresult = hr;
  if (hr != 0) {
    const adcs::CatalogEntry* e = adcs::FindByHresult(hr);
    r.message = e != nullptr ? std::string(e->windows_message) : adcs::FormatHresult(hr);
  }
  return r;
}

absl::StatusOr<CaChain> ComCaBackend::GetCaChain(const GetCaChainParams&) {
  ASSIGN_OR_RETURN(std::string pem, CaCertificatePem());
  return CaChain{{pem}};
}

absl::StatusOr<std::vector<CaTemplate>> ComCaBackend::ListTemplates(const ListTemplatesParams&) {
  const ComAnswer a = client_->GetTemplates();
  if (a.call_hresult != 0) {
    if (IsRpcFailure(a.call_hresult)) return Unavailable(config(), a.failed_call, a.call_hresult);
    return absl::FailedPreconditionError(
        absl::StrCat("CA \"", config(), "\": ", a.failed_call, ": ", adcs::Describe(a.call_hresult)));
  }
  // CR_PROP_TEMPLATES is "cn\nOID\ncn\nOID\n...".
  std::vector<std::string> lines =
      absl::StrSplit(a.templates, absl::ByAnyChar("\r\n"), absl::SkipWhitespace());
  std::vector<CaTemplate> out;
  for (size_t i = 0; i < lines.size(); i += 2) {
    CaTemplate t;
    t.cn = lines[i];
    if (i + 1 < lines.size()) t.oid = lines[i + 1];
    out.push_back(std::move(t));
  }
  return out;
}

absl::StatusOr<PingResult> ComCaBackend::Ping(const PingParams&) {
  const absl::Time start = absl::Now();
  const ComAnswer a = client_->GetCaCertificate();
  if (a.call_hresult != 0) {
    if (IsRpcFailure(a.call_hresult)) return Unavailable(config(), a.failed_call, a.call_hresult);
    return absl::FailedPreconditionError(
        absl::StrCat("CA \"", config(), "\": ", a.failed_call, ": ", adcs::Describe(a.call_hresult)));
  }
  return PingResult{config(), absl::Now() - start};
}

absl::StatusOr<CaResult> ComCaBackend::FindRequestByAttribute(const FindRequestParams& params) {
  if (params.attribute_name.empty()) {
    return absl::InvalidArgumentError("find request: attribute name is empty");
  }
  const ComViewAnswer found =
      client_->FindRequestIdsByAttribute(params.attribute_name, params.attribute_value);
  if (found.call_hresult != 0) {
    if (IsRpcFailure(found.call_hresult)) {
      return Unavailable(config(), found.failed_call, found.call_hresult);
    }
    // Not knowing whether the CA has the request, submitting again could issue twice:
    // the caller must not fall back to Submit. Without Read on the CA (E_ACCESSDENIED) the
    // lookup fails every time until the right is granted.
    return absl::FailedPreconditionError(absl::StrCat(
        "CA \"", config(), "\": looking up ", params.attribute_name, ":", params.attribute_value,
        ": ", found.failed_call, ": ", adcs::Describe(found.call_hresult),
        found.call_hresult == adcs::kAccessDenied
            ? " Grant the agent's computer account Read on the CA (certsrv.msc, CA "
              "properties, Security)."
            : ""));
  }
  // Newest first. The view is not limited to the caller's requests: RetrievePending is, and
  // answers 0x80070005 for another identity's request, which is then skipped.
  for (auto it = found.request_ids.rbegin(); it != found.request_ids.rend(); ++it) {
    ASSIGN_OR_RETURN(CaResult r, ToResult(client_->RetrievePending(*it)));
    if (r.hresult == adcs::kAccessDenied) continue;
    if (r.ca_request_id == 0) r.ca_request_id = *it;
    return r;
  }
  return absl::NotFoundError(absl::StrCat("CA \"", config(), "\" has no request of this identity with ",
                                          params.attribute_name, ":", params.attribute_value));
}

#ifdef _WIN32
absl::StatusOr<std::unique_ptr<ComCaBackend>> ComCaBackend::Create(const std::string& config) {
  uint32_t hr = 0;
  std::unique_ptr<ComCertClient> client = CreateComCertClient(config, &hr);
  if (client == nullptr) {
    return absl::UnavailableError(absl::StrCat("CA \"", config, "\": cannot create CCertRequest: ",
                                               adcs::Describe(hr)));
  }
  return std::make_unique<ComCaBackend>(std::move(client));
}
#endif

}  // namespace certbridge::agent
