#include "agent/ca/fake_ca_backend.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/adcs/error_catalog.h"
#include "common/adcs/request_attributes.h"
#include "common/adcs/serial_number.h"
#include "common/status_macros.h"

namespace certbridge::agent {

absl::StatusOr<std::unique_ptr<FakeCaBackend>> FakeCaBackend::Create(
    std::string config, std::vector<CaTemplate> templates) {
  const absl::Time now = absl::Now();
  ASSIGN_OR_RETURN(std::unique_ptr<pki::SigningCa> ca,
                   pki::SigningCa::CreateSelfSigned("CN=Fake CA", pki::KeyType::kEcP256,
                                                    now - absl::Hours(1), now + absl::Hours(24 * 365)));
  return std::unique_ptr<FakeCaBackend>(
      new FakeCaBackend(std::move(config), std::move(templates), std::move(ca)));
}

absl::Status FakeCaBackend::CheckAvailable() const {
  absl::MutexLock lock(&mu_);
  if (unavailable_) {
    return absl::UnavailableError(absl::StrCat(
        config_, ": 0x800706BA RPC_S_SERVER_UNAVAILABLE: The RPC server is unavailable."));
  }
  return absl::OkStatus();
}

void FakeCaBackend::SetUnavailable(bool unavailable) {
  absl::MutexLock lock(&mu_);
  unavailable_ = unavailable;
}

int FakeCaBackend::submit_count() const {
  absl::MutexLock lock(&mu_);
  return submit_count_;
}

std::map<std::string, int> FakeCaBackend::revoked() const {
  absl::MutexLock lock(&mu_);
  return revoked_;
}

void FakeCaBackend::IssueLocked(CaResult& result, const std::string& csr) {
  absl::StatusOr<pki::CsrInfo> info = pki::ParseCsr(csr);
  pki::IssueParams params;
  if (info.ok()) {
    params.csr_der = info->der;
    params.not_before = absl::Now() - absl::Minutes(5);
    params.not_after = absl::Now() + absl::Hours(24 * 365);
  }
  absl::StatusOr<pki::CertificateInfo> cert =
      info.ok() ? ca_->Issue(params) : absl::StatusOr<pki::CertificateInfo>(info.status());
  if (!cert.ok()) {
    result.disposition = adcs::kDispositionError;
    result.hresult = adcs::kAsn1BadTag;
    result.disposition_message = absl::StrCat("Error Parsing Request ", cert.status().message());
    return;
  }
  result.disposition = adcs::kDispositionIssued;
  result.hresult = 0;
  result.disposition_message = "Issued";
  result.certificate_pem = cert->pem;
  result.chain_pem = ca_->certificate().pem;
  serials_[cert->serial_hex] = result.ca_request_id;
}

absl::StatusOr<CaResult> FakeCaBackend::Submit(const SubmitParams& params) {
  RETURN_IF_ERROR(CheckAvailable());
  if (params.csr_pem.empty()) return absl::InvalidArgumentError("submit: the request is empty");
  absl::MutexLock lock(&mu_);
  ++submit_count_;
  CaResult r;
  r.ca_request_id = next_id_++;
  const std::optional<std::string> name =
      adcs::ParseRequestAttributes(params.attributes).CertificateTemplate();
  const CaTemplate* tmpl = nullptr;
  for (const CaTemplate& t : templates_) {
    if (name.has_value() && absl::EqualsIgnoreCase(t.cn, *name)) tmpl = &t;
  }
  absl::StatusOr<pki::CsrInfo> info = pki::ParseCsr(params.csr_pem);
  auto deny = [&r](uint32_t hr) {
    r.disposition = adcs::kDispositionDenied;
    r.hresult = hr;
    r.disposition_message = absl::StrFormat("Denied by Policy Module 0x%08X, %s", hr,
                                            adcs::FindByHresult(hr)->windows_message);
  };
  if (!name.has_value()) {
    deny(adcs::kNoCertType);
  } else if (tmpl == nullptr) {
    deny(adcs::kUnsupportedCertType);
  } else if (info.ok() && info->key_bits < static_cast<int>(tmpl->minimal_key_size)) {
    deny(adcs::kKeyLength);
  } else if ((tmpl->enrollment_flags & adcs::kEnrollmentFlagPendAllRequests) != 0) {
    r.disposition = adcs::kDispositionUnderSubmission;
    r.disposition_message = "Taken Under Submission";
  } else {
    IssueLocked(r, params.csr_pem);
  }
  requests_[r.ca_request_id] = r;
  csrs_[r.ca_request_id] = params.csr_pem;
  attributes_[r.ca_request_id] = params.attributes;
  return r;
}

absl::StatusOr<CaResult> FakeCaBackend::RetrievePending(const RetrievePendingParams& params) {
  RETURN_IF_ERROR(CheckAvailable());
  absl::MutexLock lock(&mu_);
  auto it = requests_.find(params.ca_request_id);
  if (it == requests_.end()) {
    CaResult r;
    r.disposition = adcs::kDispositionError;
    r.ca_request_id = params.ca_request_id;
    r.hresult = adcs::kPropertyEmpty;
    r.disposition_message = "The requested property value is empty.";
    return r;
  }
  return it->second;
}

absl::StatusOr<CaResult> FakeCaBackend::FindRequestByAttribute(const FindRequestParams& params) {
  RETURN_IF_ERROR(CheckAvailable());
  if (params.attribute_name.empty()) {
    return absl::InvalidArgumentError("find request: attribute name is empty");
  }
  absl::MutexLock lock(&mu_);
  // One identity per fake: every request is the caller's own. Newest first.
  for (auto it = attributes_.rbegin(); it != attributes_.rend(); ++it) {
    const std::optional<std::string> v =
        adcs::ParseRequestAttributes(it->second).Get(params.attribute_name);
    if (v.has_value() && *v == params.attribute_value) return requests_[it->first];
  }
  return absl::NotFoundError(absl::StrCat("fake CA: no request with ", params.attribute_name, ":",
                                          params.attribute_value));
}

absl::Status FakeCaBackend::Approve(int64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = requests_.find(id);
  if (it == requests_.end()) return absl::NotFoundError(absl::StrCat("fake CA: no request ", id));
  if (it->second.disposition != adcs::kDispositionUnderSubmission) {
    return absl::FailedPreconditionError(absl::StrCat("fake CA: request ", id, " is not pending"));
  }
  IssueLocked(it->second, csrs_[id]);
  return absl::OkStatus();
}

absl::Status FakeCaBackend::Deny(int64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = requests_.find(id);
  if (it == requests_.end()) return absl::NotFoundError(absl::StrCat("fake CA: no request ", id));
  if (it->second.disposition != adcs::kDispositionUnderSubmission) {
    return absl::FailedPreconditionError(absl::StrCat("fake CA: request ", id, " is not pending"));
  }
  it->second.disposition = adcs::kDispositionDenied;
  it->second.hresult = adcs::kAdminDeniedRequest;
  it->second.disposition_message = "Denied by CORP\\CertOfficer";
  return absl::OkStatus();
}

absl::StatusOr<RevokeResult> FakeCaBackend::Revoke(const RevokeParams& params) {
  RETURN_IF_ERROR(CheckAvailable());
  absl::MutexLock lock(&mu_);
  const std::string serial =
      adcs::NormalizeSerialNumber(params.serial_hex).value_or(params.serial_hex);
  auto it = serials_.find(serial);
  if (it == serials_.end()) {
    return RevokeResult{adcs::kPropertyEmpty, "The requested property value is empty."};
  }
  if (revoked_.count(serial) > 0) {
    return RevokeResult{adcs::kBadRequestStatus,
                        "The request's current status does not allow this operation."};
  }
  revoked_[serial] = params.reason;
  requests_[it->second].disposition = adcs::kDispositionRevoked;
  return RevokeResult{};
}

absl::StatusOr<CaChain> FakeCaBackend::GetCaChain(const GetCaChainParams&) {
  RETURN_IF_ERROR(CheckAvailable());
  return CaChain{{ca_->certificate().pem}};
}

absl::StatusOr<std::vector<CaTemplate>> FakeCaBackend::ListTemplates(const ListTemplatesParams&) {
  RETURN_IF_ERROR(CheckAvailable());
  return templates_;
}

absl::StatusOr<PingResult> FakeCaBackend::Ping(const PingParams&) {
  RETURN_IF_ERROR(CheckAvailable());
  return PingResult{config_, absl::ZeroDuration()};
}

}  // namespace certbridge::agent
