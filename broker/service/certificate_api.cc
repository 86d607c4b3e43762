#include "broker/service/certificate_api.h"

#include <algorithm>
#include <utility>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_join.h"
#include "broker/service/field_checks.h"
#include "broker/service/ids.h"
#include "broker/service/proto_mapping.h"
#include "common/adcs/serial_number.h"
#include "common/api_error.h"
#include "common/adcs/sid.h"
#include "common/pki/ca_request_attributes.h"
#include "common/pki/names.h"
#include "common/pki/pki.h"
#include "common/status_macros.h"

namespace certbridge::broker {
namespace {

constexpr size_t kMaxRequestId = 128;
constexpr size_t kMaxTemplateName = 64;
constexpr size_t kMaxCsrBytes = 16 * 1024;
constexpr int kMaxSans = 32;
constexpr int kMaxLabels = 32;
constexpr size_t kMaxSanValue = 1024;
constexpr int kMaxSubjectAttributes = 32;
constexpr size_t kMaxSubjectText = 4096;


std::optional<pki::SubjectAltName::Type> SanType(v1::SubjectAltName::Type type) {
  switch (type) {
    case v1::SubjectAltName::TYPE_DNS: return pki::SubjectAltName::Type::kDns;
    case v1::SubjectAltName::TYPE_EMAIL: return pki::SubjectAltName::Type::kEmail;
    case v1::SubjectAltName::TYPE_URI: return pki::SubjectAltName::Type::kUri;
    case v1::SubjectAltName::TYPE_IP: return pki::SubjectAltName::Type::kIp;
    case v1::SubjectAltName::TYPE_UPN: return pki::SubjectAltName::Type::kUpn;
    default: return std::nullopt;
  }
}

// `field` names the list in errors: subject_alt_names or key_generation.subject_alt_names.
absl::StatusOr<std::vector<pki::SubjectAltName>> ConvertSans(
    absl::string_view field, const google::protobuf::RepeatedPtrField<v1::SubjectAltName>& in) {
  if (in.size() > kMaxSans) {
    return InvalidField(field, absl::StrCat("at most ", kMaxSans, " ", field));
  }
  std::vector<pki::SubjectAltName> out;
  for (const v1::SubjectAltName& san : in) {
    if (san.value().size() > kMaxSanValue) {
      return InvalidField(field, absl::StrCat(field, ": a value is ", san.value().size(),
                                              " bytes; at most ", kMaxSanValue));
    }
    std::optional<pki::SubjectAltName::Type> type = SanType(san.type());
    if (!type) {
      return InvalidField(absl::StrCat(field, ".type"),
                          absl::StrCat(field, ": type is required (TYPE_DNS, TYPE_EMAIL, TYPE_URI, TYPE_IP or TYPE_UPN)"));
    }
    out.push_back({*type, san.value()});
  }
  if (absl::Status valid = pki::ValidateSubjectAltNames(out); !valid.ok()) {
    return InvalidField(field, absl::StrCat(field, ": ", valid.message()));
  }
  return out;
}

absl::StatusOr<std::string> SubjectFromRequest(const v1::Subject& subject) {
  std::string text;
  if (subject.has_attributes()) {
    if (subject.attributes().attributes_size() > kMaxSubjectAttributes) {
      return InvalidField("key_generation.subject.attributes",
                          absl::StrCat("subject: at most ", kMaxSubjectAttributes, " attributes"));
    }
    std::vector<std::string> rdns;
    for (const v1::SubjectAttribute& a : subject.attributes().attributes()) {
      if (a.value().size() > kMaxSubjectText) {
        return InvalidField(
            "key_generation.subject.attributes.value",
            absl::StrCat("subject attribute value is longer than ", kMaxSubjectText, " bytes"));
      }
      if (a.type().empty() || a.type().size() > 64 || !std::all_of(a.type().begin(), a.type().end(), [](char c) {
            return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.';
          })) {
        return InvalidField("key_generation.subject.attributes.type", absl::StrCat(
            "subject attribute type \"", a.type(),
            "\" is not one of CN, O, OU, L, ST, C, DC, E, SERIALNUMBER, UID or a dotted OID"));
      }
      rdns.push_back(absl::StrCat(a.type(), "=", pki::EscapeRdnValue(a.value())));
    }
    text = absl::StrJoin(rdns, ",");
  } else {
    text = subject.rfc4514();
  }
  if (text.size() > kMaxSubjectText) {
    return InvalidField("key_generation.subject",
                        absl::StrCat("subject is longer than ", kMaxSubjectText, " bytes"));
  }
  absl::StatusOr<std::string> canonical = pki::CanonicalSubject(text);
  if (absl::IsInvalidArgument(canonical.status())) {
    return InvalidField("key_generation.subject",
                        absl::StrCat("subject: ", canonical.status().message()));
  }
  return canonical;
}

absl::StatusOr<std::string> KeyTypeOf(v1::KeySpec spec) {
  switch (spec) {
    case v1::KEY_SPEC_RSA_2048: return std::string("RSA-2048");
    case v1::KEY_SPEC_RSA_3072: return std::string("RSA-3072");
    case v1::KEY_SPEC_RSA_4096: return std::string("RSA-4096");
    case v1::KEY_SPEC_EC_P256: return std::string("EC-P256");
    case v1::KEY_SPEC_EC_P384: return std::string("EC-P384");
    default:
      return InvalidField("key_generation.key_spec", "key_generation.key_spec is required: KEY_SPEC_RSA_2048, KEY_SPEC_RSA_3072, KEY_SPEC_RSA_4096, KEY_SPEC_EC_P256 or KEY_SPEC_EC_P384");
  }
}

// The length is checked before the text is scanned or echoed in the error.
absl::Status ValidateSid(absl::string_view sid) {
  RETURN_IF_ERROR(CheckText("sid", sid, adcs::kMaxSidLength, /*required=*/true));
  if (!adcs::IsValidSid(sid)) {
    return InvalidField("sid", absl::StrCat(
        "sid \"", sid, "\" is not a Windows SID (e.g. S-1-5-21-3623811015-3361044348-30300820-1013)"));
  }
  return absl::OkStatus();
}

std::string Fingerprint(v1::CreateCertificateRequestRequest r) {
  r.clear_wait_timeout();
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  r.SerializeToCodedStream(&coded);
  coded.Trim();
  return pki::Sha256Hex(bytes);
}

absl::Status RequestIdReused(const std::string& request_id) {
  return ApiError(absl::StatusCode::kAlreadyExists, "REQUEST_ID_REUSED",
                  absl::StrCat("request_id \"", request_id,
                               "\" was already used with other parameters; use a new "
                               "request_id for a new request"))
      .Metadata("request_id", request_id);
}

// The store's NOT_FOUND for a request, with the API's reason.
absl::Status RequestNotFoundReason(absl::Status status) {
  return absl::IsNotFound(status) ? WithReason(std::move(status), "REQUEST_NOT_FOUND") : status;
}
template <typename T>
absl::StatusOr<T> RequestNotFoundReason(absl::StatusOr<T> result) {
  if (result.ok()) return result;
  return RequestNotFoundReason(result.status());
}

// The page token codec's INVALID_ARGUMENT, with the field named.
absl::StatusOr<int64_t> PageTokenField(absl::StatusOr<int64_t> decoded) {
  if (!absl::IsInvalidArgument(decoded.status())) return decoded;
  return InvalidField("page_token", decoded.status().message());
}

// A stored request as the API returns it; errors pass through.
absl::StatusOr<v1::CertificateRequest> Viewed(absl::StatusOr<CertificateRequestRecord> r) {
  if (!r.ok()) return r.status();
  return ToProto(*r);
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
}

}  // namespace

CertificateApi::CertificateApi(Store* store, CertificateStore* requests, const Clock* clock,
                               CertificateApiOptions options)
    : store_(store),
      requests_(requests),
      clock_(clock),
      options_(options),
      ids_(options_.opaque_id_secret),
      metrics_(options_.metrics != nullptr ? options_.metrics : &no_metrics_) {}

absl::StatusOr<CertificateRequestRecord> CertificateApi::Create(
    const Caller& caller, const v1::CreateCertificateRequestRequest& r, bool* inserted) {
  if (inserted != nullptr) *inserted = false;
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeCertificates));
  RETURN_IF_ERROR(CheckText("request_id", r.request_id(), kMaxRequestId, /*required=*/true));
  RETURN_IF_ERROR(CheckText("ca_id", r.ca_id(), 64, /*required=*/true));
  RETURN_IF_ERROR(CheckText("template_name", r.template_name(), kMaxTemplateName, true));
  RETURN_IF_ERROR(CheckText("device_id", r.device_id(), 256, false));
  if (r.labels_size() > kMaxLabels) {
    return InvalidField("labels", absl::StrCat("at most ", kMaxLabels, " labels"));
  }
  for (const auto& [key, value] : r.labels()) {
    RETURN_IF_ERROR(CheckText("labels", key, 63, true));
    RETURN_IF_ERROR(CheckText("labels", value, 256, false));
  }
  if (r.has_wait_timeout() &&
      (r.wait_timeout().seconds() < 0 ||
       absl::Seconds(r.wait_timeout().seconds()) > options_.max_wait)) {
    return InvalidField("wait_timeout", absl::StrCat("wait_timeout must be between 0 and ",
                                                     absl::FormatDuration(options_.max_wait)));
  }

  // An idempotent retry returns what the first call created, whatever changed since (its CA
  // deleted, ...), or REQUEST_ID_REUSED. The insert finds a taken request_id itself (the
  // store answers with the stored request), so the request is read by request_id only when
  // the way to the insert fails, not before every create (issue 9: one read per certificate).
  const std::string fingerprint = Fingerprint(r);
  absl::StatusOr<CertificateRequestRecord> made = CreateNew(caller, r, fingerprint, inserted);
  if (made.ok()) return made;
  absl::StatusOr<CertificateRequestRecord> existing =
      requests_->GetCertificateRequestByRequestId(caller.tenant_id, r.request_id());
  if (!existing.ok()) return made.status();
  if (inserted != nullptr) *inserted = false;
  if (existing->params_fingerprint != fingerprint) return RequestIdReused(r.request_id());
  return existing;
}

absl::StatusOr<CertificateRequestRecord> CertificateApi::CreateNew(
    const Caller& caller, const v1::CreateCertificateRequestRequest& r,
    const std::string& fingerprint, bool* inserted) {
  absl::StatusOr<CertificateAuthorityRecord> ca =
      store_->GetCertificateAuthority(caller.tenant_id, r.ca_id());
  if (absl::IsNotFound(ca.status())) {
    return ApiError(absl::StatusCode::kNotFound, "CA_NOT_FOUND",
                    absl::StrCat("certificate authority \"", r.ca_id(),
                                 "\" not found in this tenant"))
        .Metadata("ca_id", r.ca_id())
        .Remedy("use a ca_id of this tenant; an admin lists them with `certbridgectl cas list`");
  }
  if (!ca.ok()) return ca.status();

  CertificateRequestRecord request;
  request.name = NewObjectId();
  request.tenant_id = caller.tenant_id;
  request.request_id = r.request_id();
  request.ca_id = r.ca_id();
  request.template_name = r.template_name();
  request.params_fingerprint = fingerprint;
  request.device_id = r.device_id();
  request.labels.insert(r.labels().begin(), r.labels().end());
  request.sid = r.sid();
  if (!r.sid().empty()) RETURN_IF_ERROR(ValidateSid(r.sid()));

  // The SANs the CA is asked to add through the SAN: attribute (CSR mode), and the
  // strong-mapping URL (KB5014754).
  std::vector<pki::SubjectAltName> attribute_sans;
  switch (r.mode_case()) {
    case v1::CreateCertificateRequestRequest::kCsrPem: {
      if (r.csr_pem().size() > kMaxCsrBytes) {
        const std::string message =
            absl::StrCat("csr_pem is ", r.csr_pem().size(), " bytes; at most ", kMaxCsrBytes);
        return ApiError(absl::StatusCode::kInvalidArgument, "FIELD_TOO_LONG", message)
            .Field("csr_pem", message)
            .Metadata("max_bytes", absl::StrCat(kMaxCsrBytes));
      }
      absl::StatusOr<pki::CsrInfo> csr = pki::ParseCsr(r.csr_pem());
      if (!csr.ok()) {
        return InvalidField("csr_pem", absl::StrCat("csr_pem: ", csr.status().message()));
      }
      request.csr_pem = r.csr_pem();
      ASSIGN_OR_RETURN(attribute_sans, ConvertSans("subject_alt_names", r.subject_alt_names()));
      break;
    }
    case v1::CreateCertificateRequestRequest::kKeyGeneration: {
      const v1::KeyGeneration& keygen = r.key_generation();
      ASSIGN_OR_RETURN(request.key_type, KeyTypeOf(keygen.key_spec()));
      ASSIGN_OR_RETURN(request.subject, SubjectFromRequest(keygen.subject()));
      ASSIGN_OR_RETURN(std::vector<pki::SubjectAltName> sans,
                       ConvertSans("key_generation.subject_alt_names",
                                   keygen.subject_alt_names()));
      if (r.subject_alt_names_size() > 0) {
        return InvalidField("subject_alt_names",
                            "in key-generation mode put SANs in key_generation.subject_alt_names");
      }
      if (request.subject.empty() && sans.empty()) {
        return InvalidField("key_generation.subject",
                            "key_generation needs a subject or at least one subject_alt_name");
      }
      for (const auto& san : sans) {
        request.subject_alt_names.push_back(
            absl::StrCat(pki::SanTypeName(san.type), ":", san.value));
      }
      if (!r.sid().empty()) {
        request.subject_alt_names.push_back(
            absl::StrCat("uri:tag:microsoft.com,2022-09-14:sid:", r.sid()));
      }
      request.pkcs12_profile = keygen.pkcs12_profile() == v1::PKCS12_PROFILE_LEGACY ? "LEGACY" : "MODERN";
      ASSIGN_OR_RETURN(std::string delivery, requests_->GetDeliveryCertificate(caller.tenant_id));
      if (delivery.empty()) {
        return ApiError(absl::StatusCode::kFailedPrecondition, "DELIVERY_CERTIFICATE_NOT_SET",
                        "key-generation mode needs the tenant's delivery certificate (the "
                        "PKCS#12 password is encrypted to it); the tenant has none")
            .Precondition("DELIVERY_CERTIFICATE", "tenant",
                          "set with AdminService.SetDeliveryCertificate")
            .Remedy("a tenant admin sets it with AdminService.SetDeliveryCertificate "
                    "(`certbridgectl delivery-certificate set FILE`)");
      }
      break;
    }
    default:
      return ApiError(absl::StatusCode::kInvalidArgument, "FIELD_REQUIRED",
                      "give either csr_pem (CSR mode) or key_generation (key-generation mode)")
          .Field("csr_pem", "csr_pem or key_generation is required");
  }
  if (r.mode_case() == v1::CreateCertificateRequestRequest::kCsrPem && !r.sid().empty()) {
    attribute_sans.push_back(
        {pki::SubjectAltName::Type::kUri, absl::StrCat("tag:microsoft.com,2022-09-14:sid:", r.sid())});
  }

  absl::StatusOr<std::string> attributes =
      pki::BuildCaRequestAttributes(r.template_name(), attribute_sans);
  if (absl::IsInvalidArgument(attributes.status())) {
    return InvalidField("template_name", attributes.status().message());
  }
  ASSIGN_OR_RETURN(request.attributes, std::move(attributes));

  const absl::Time now = clock_->Now();
  request.create_time = now;
  request.update_time = now;
  request.queue_deadline = now + options_.queue_timeout;
  request.state = RequestState::kQueued;
  ASSIGN_OR_RETURN(request.waiting_reason, WhyCaIsNotServedForCreate(caller.tenant_id, r.ca_id()));

  JobRecord submit;
  submit.tenant_id = caller.tenant_id;
  submit.request_name = request.name;
  submit.ca_id = request.ca_id;
  submit.kind = JobKind::kSubmit;
  submit.state = JobState::kReady;
  submit.not_before = now;
  submit.create_time = now;
  ASSIGN_OR_RETURN(CreateRequestResult created, requests_->CreateCertificateRequest(request, submit));
  if (!created.created && created.request.params_fingerprint != fingerprint) {
    return RequestIdReused(r.request_id());
  }
  if (created.created) metrics_->RequestEntered(RequestState::kQueued, !request.key_type.empty());
  if (inserted != nullptr) *inserted = created.created;
  return created.request;
}

absl::StatusOr<v1::CertificateRequest> CertificateApi::CreateCertificateRequest(
    const Caller& caller, const v1::CreateCertificateRequestRequest& r) {
  return Viewed(Create(caller, r));
}

absl::StatusOr<v1::CertificateRequest> CertificateApi::GetCertificateRequest(
    const Caller& caller, const v1::GetCertificateRequestRequest& r) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeCertificates));
  switch (r.lookup_case()) {
    case v1::GetCertificateRequestRequest::kName:
      RETURN_IF_ERROR(CheckText("name", r.name(), 64, true));
      return Viewed(
          RequestNotFoundReason(requests_->GetCertificateRequest(caller.tenant_id, r.name())));
    case v1::GetCertificateRequestRequest::kRequestId:
      RETURN_IF_ERROR(CheckText("request_id", r.request_id(), kMaxRequestId, true));
      return Viewed(RequestNotFoundReason(
          requests_->GetCertificateRequestByRequestId(caller.tenant_id, r.request_id())));
    case v1::GetCertificateRequestRequest::LOOKUP_NOT_SET:
      break;
  }
  return ApiError(absl::StatusCode::kInvalidArgument, "FIELD_REQUIRED", "set name or request_id")
      .Field("name", "name or request_id is required");
}

absl::StatusOr<v1::ListCertificateRequestsResponse> CertificateApi::ListCertificateRequests(
    const Caller& caller, const v1::ListCertificateRequestsRequest& r) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeCertificates));
  if (r.page_size() < 0) return InvalidField("page_size", "page_size must not be negative");
  // AIP-158: a page_size above the maximum is read as the maximum, not refused.
  const int limit = r.page_size() == 0 ? 50 : std::min(r.page_size(), 500);
  ASSIGN_OR_RETURN(int64_t before, PageTokenField(ids_.DecodePageToken(
                                       caller.tenant_id, IdKind::kRequestPage, r.page_token())));
  RequestFilter filter;
  filter.ca_id = r.ca_id();
  filter.device_id = r.device_id();
  if (r.state() != v1::CertificateRequest::STATE_UNSPECIFIED) {
    // The API names a state STATE_<store name> (buf's enum value prefix rule).
    filter.state = RequestStateFromName(
        absl::StripPrefix(v1::CertificateRequest::State_Name(r.state()), "STATE_"));
  }
  // Read before the list, so that every change the list does not show comes after the
  // cursor: Watch from it misses nothing, and may repeat a change the list already shows.
  ASSIGN_OR_RETURN(int64_t watch_cursor, requests_->LatestChangeSeq(caller.tenant_id));
  ASSIGN_OR_RETURN(std::vector<CertificateRequestRecord> records,
                   requests_->ListCertificateRequests(caller.tenant_id, filter, before, limit));
  v1::ListCertificateRequestsResponse out;
  out.set_watch_cursor(absl::StrCat(watch_cursor));
  for (const auto& record : records) *out.add_certificate_requests() = ToProto(record);
  if (static_cast<int>(records.size()) == limit) {
    out.set_next_page_token(
        ids_.Encode(caller.tenant_id, IdKind::kRequestPage, records.back().seq));
  }
  return out;
}

absl::StatusOr<v1::CertificateRequest> CertificateApi::CancelCertificateRequest(
    const Caller& caller, const v1::CancelCertificateRequestRequest& r) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeCertificates));
  RETURN_IF_ERROR(CheckText("name", r.name(), 64, true));
  ASSIGN_OR_RETURN(CertificateRequestRecord request, RequestNotFoundReason(
                       requests_->GetCertificateRequest(caller.tenant_id, r.name())));
  request.state = RequestState::kCancelled;
  request.update_time = clock_->Now();
  request.waiting_reason.clear();
  request.error_code = "CANCELLED";
  request.error_message = absl::StrCat("cancelled by ", caller.Actor());
  absl::StatusOr<CertificateRequestRecord> cancelled = requests_->UpdateCertificateRequest(
      caller.tenant_id, r.name(), {RequestState::kQueued}, request, /*fail_open_jobs=*/true);
  if (absl::IsFailedPrecondition(cancelled.status())) {
    return ApiError(absl::StatusCode::kFailedPrecondition, "REQUEST_NOT_CANCELLABLE",
                    absl::StrCat("request ", r.name(),
                                 " can no longer be cancelled: an agent has already taken it "
                                 "to the CA (", cancelled.status().message(), ")"))
        .Precondition("STATE", r.name(), "only QUEUED requests can be cancelled")
        .Metadata("name", r.name());
  }
  if (cancelled.ok()) metrics_->RequestEntered(RequestState::kCancelled, !cancelled->key_type.empty());
  return Viewed(std::move(cancelled));
}

absl::StatusOr<v1::CertificateRequest> CertificateApi::RevokeCertificate(
    const Caller& caller, const v1::RevokeCertificateRequest& r) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeCertificates));
  static constexpr int kReasons[] = {0, 1, 3, 4, 5, 6};
  if (std::find(std::begin(kReasons), std::end(kReasons), r.reason()) == std::end(kReasons)) {
    return InvalidField("reason",
        "reason must be a RevocationReason: REVOCATION_REASON_UNSPECIFIED, _KEY_COMPROMISE, "
        "_AFFILIATION_CHANGED, _SUPERSEDED, _CESSATION_OF_OPERATION or _CERTIFICATE_HOLD");
  }
  absl::StatusOr<CertificateRequestRecord> request;
  if (r.target_case() == v1::RevokeCertificateRequest::kName) {
    request = requests_->GetCertificateRequest(caller.tenant_id, r.name());
  } else if (r.target_case() == v1::RevokeCertificateRequest::kCertificateSerial) {
    const v1::CertificateSerial& target = r.certificate_serial();
    RETURN_IF_ERROR(CheckText("certificate_serial.ca_id", target.ca_id(), 64, true));
    RETURN_IF_ERROR(CheckText("certificate_serial.serial_number", target.serial_number(),
                              adcs::kMaxSerialNumberText, /*required=*/true));
    absl::StatusOr<std::string> serial = adcs::NormalizeSerialNumber(target.serial_number());
    if (!serial.ok()) {
      return InvalidField("certificate_serial.serial_number",
          absl::StrCat("certificate_serial.serial_number: ", serial.status().message()));
    }
    request = requests_->GetCertificateRequestBySerial(caller.tenant_id, target.ca_id(), *serial);
  } else {
    return ApiError(absl::StatusCode::kInvalidArgument, "FIELD_REQUIRED",
                    "set name or certificate_serial")
        .Field("name", "name or certificate_serial is required");
  }
  if (!request.ok()) return RequestNotFoundReason(request.status());
  if (request->state == RequestState::kRevoked) {
    // A retry of the revocation that was done gets the same answer; another reason is
    // refused, since the reason a certificate was revoked with is not changed through
    // certbridge (docs/certificates.md, "Following requests").
    if (request->revocation_reason == static_cast<int32_t>(r.reason())) return ToProto(*request);
    return ApiError(absl::StatusCode::kFailedPrecondition, "REQUEST_NOT_ISSUED",
                    absl::StrCat("request ", request->name, " is already REVOKED with ",
                                 v1::RevocationReason_Name(static_cast<v1::RevocationReason>(
                                     request->revocation_reason)),
                                 ", not ", v1::RevocationReason_Name(r.reason()),
                                 "; a revoked certificate's reason cannot be changed"))
        .Precondition("STATE", request->name, "only ISSUED certificates can be revoked")
        .Metadata("name", request->name)
        .Metadata("state", RequestStateName(request->state))
        .Metadata("revocation_reason", absl::StrCat(request->revocation_reason));
  }
  if (request->state != RequestState::kIssued) {
    return ApiError(absl::StatusCode::kFailedPrecondition, "REQUEST_NOT_ISSUED",
                    absl::StrCat("request ", request->name, " is ",
                                 RequestStateName(request->state),
                                 "; only ISSUED certificates can be revoked"))
        .Precondition("STATE", request->name, "only ISSUED certificates can be revoked")
        .Metadata("name", request->name)
        .Metadata("state", RequestStateName(request->state));
  }
  JobRecord revoke;
  revoke.tenant_id = caller.tenant_id;
  revoke.request_name = request->name;
  revoke.ca_id = request->ca_id;
  revoke.kind = JobKind::kRevoke;
  revoke.state = JobState::kReady;
  revoke.required_identity = request->ca_identity;
  revoke.serial_hex = request->serial_hex;
  revoke.revocation_reason = r.reason();
  revoke.not_before = clock_->Now();
  revoke.create_time = clock_->Now();
  if (absl::StartsWith(request->error_code, "REVOKE_") ||
      absl::StartsWith(request->error_code, "AGENT_POLICY_")) {
    // The outcome of an earlier revocation attempt: cleared, so that neither the caller
    // waiting below nor a Watch client takes it for the answer to this one. Cleared and
    // queued in one transaction: a failure leaves neither.
    CertificateRequestRecord update = *request;
    update.error_code.clear();
    update.error_message.clear();
    update.remedy.clear();
    update.hresult = 0;
    update.update_time = clock_->Now();
    return Viewed(requests_->UpdateRequestAndAddJob(caller.tenant_id, request->name,
                                                    {RequestState::kIssued}, update, revoke));
  }
  RETURN_IF_ERROR(requests_->AddJob(revoke).status());
  return ToProto(*request);
}

absl::StatusOr<int64_t> CertificateApi::WatchCursor(const Caller& caller,
                                                    const v1::WatchCertificateRequestsRequest& r) {
  RETURN_IF_ERROR(RequireTenantScope(caller, kScopeCertificates));
  if (r.cursor().empty()) return requests_->LatestChangeSeq(caller.tenant_id);
  int64_t cursor = 0;
  if (r.cursor().size() > 20 || !absl::SimpleAtoi(r.cursor(), &cursor) || cursor < 0) {
    return InvalidField("cursor",
                        "cursor is not one this API returned; omit it to watch from now on");
  }
  return cursor;
}

absl::StatusOr<std::string> CertificateApi::WhyCaIsNotServedForCreate(const std::string& tenant_id,
                                                                      const std::string& ca_id) {
  constexpr size_t kMaxServedEntries = 10000;
  const std::pair<std::string, std::string> key(tenant_id, ca_id);
  const absl::Time now = clock_->Now();
  {
    absl::MutexLock lock(&served_mu_);
    auto it = served_until_.find(key);
    if (it != served_until_.end() && now < it->second) return std::string();
  }
  std::string code;
  ASSIGN_OR_RETURN(std::string why, WhyCaIsNotServed(tenant_id, ca_id, &code));
  if (why.empty() && options_.served_memo > absl::ZeroDuration()) {
    absl::MutexLock lock(&served_mu_);
    if (served_until_.size() >= kMaxServedEntries) served_until_.clear();
    served_until_[key] = now + options_.served_memo;
  }
  return why;
}

absl::StatusOr<std::string> CertificateApi::WhyCaIsNotServed(const std::string& tenant_id,
                                                             const std::string& ca_id,
                                                             std::string* code,
                                                             std::string* remedy) {
  std::string unused_remedy;
  if (remedy == nullptr) remedy = &unused_remedy;
  ASSIGN_OR_RETURN(CertificateAuthorityRecord ca, store_->GetCertificateAuthority(tenant_id, ca_id));
  const std::string config = absl::StrCat(ca.host, "\\", ca.ca_name);
  if (ca.connector_ids.empty()) {
    *code = "NO_CONNECTOR_ASSIGNED";
    *remedy = absl::StrCat("a tenant admin assigns a connector to the CA: `certbridgectl cas "
                           "assign ", ca_id, " CONNECTOR_ID`");
    return absl::StrCat("no connector is assigned to CA ", config,
                        " (AdminService.AssignCertificateAuthority)");
  }
  const absl::Time live_after = clock_->Now() - options_.session_liveness;
  std::vector<std::string> pending, disabled, disconnected;
  for (const std::string& connector_id : ca.connector_ids) {
    absl::StatusOr<ConnectorRecord> c = store_->GetConnector(tenant_id, connector_id, live_after);
    if (!c.ok()) continue;
    if (c->state == ConnectorState::kActive && c->connected) return std::string();
    if (c->state == ConnectorState::kPending) {
      pending.push_back(connector_id);
    } else if (c->state != ConnectorState::kActive) {
      disabled.push_back(connector_id);
    } else {
      // No host name: this text reaches keys with only the `certificates` scope, and the
      // customer's server names are for its admins (`certbridgectl connectors list`).
      disconnected.push_back(absl::StrCat(
          connector_id, " (", c->last_seen_time ? "last seen " + Rfc3339(*c->last_seen_time)
                                                : std::string("never connected"), ")"));
    }
  }
  if (!disconnected.empty()) {
    *code = "CONNECTORS_DISCONNECTED";
    *remedy = "check that the certbridge agent service runs and reaches the broker";
    return absl::StrCat("all connectors assigned to CA ", config, " are disconnected: ",
                        absl::StrJoin(disconnected, ", "),
                        "; check that the certbridge agent service runs and reaches the broker");
  }
  if (!pending.empty()) {
    *code = "CONNECTOR_PENDING_APPROVAL";
    *remedy = "a tenant admin approves the connector with the registration code its agent "
              "printed: `certbridgectl connectors approve CODE`";
    return absl::StrCat("the connectors assigned to CA ", config, " await approval (",
                        absl::StrJoin(pending, ", "), ")");
  }
  *code = "CONNECTOR_DISABLED";
  *remedy = "a tenant admin enables a connector (`certbridgectl connectors enable ID`) or "
            "assigns another one to the CA";
  return absl::StrCat("the connectors assigned to CA ", config, " are disabled or rejected (",
                      absl::StrJoin(disabled, ", "), ")");
}

absl::StatusOr<int> CertificateApi::ExpireOverdueRequests() {
  const absl::Time now = clock_->Now();
  ASSIGN_OR_RETURN(std::vector<CertificateRequestRecord> overdue,
                   requests_->ListOverdueQueuedRequests(now, 500));
  int expired = 0;
  for (CertificateRequestRecord& request : overdue) {
    std::string code, remedy;
    absl::StatusOr<std::string> why =
        WhyCaIsNotServed(request.tenant_id, request.ca_id, &code, &remedy);
    if (absl::IsNotFound(why.status())) {
      code = "CA_DELETED";
      why = std::string("the certificate authority was deleted");
    } else if (!why.ok()) {
      continue;
    }
    if (why->empty()) {
      code = "QUEUE_TIMEOUT";
      why = absl::StrCat("no connector took the request within ",
                         absl::FormatDuration(options_.queue_timeout),
                         " although one is connected; the CA may be overloaded");
    }
    request.state = RequestState::kExpired;
    request.update_time = now;
    request.error_code = code;
    request.error_message = *why;
    request.remedy = remedy;
    request.waiting_reason.clear();
    absl::StatusOr<CertificateRequestRecord> stored = requests_->UpdateCertificateRequest(
        request.tenant_id, request.name, {RequestState::kQueued}, request, /*fail_open_jobs=*/true);
    if (stored.ok()) {
      ++expired;
      metrics_->RequestEntered(RequestState::kExpired, !stored->key_type.empty());
    }
  }
  return expired;
}

absl::StatusOr<int> CertificateApi::ExpireWaitingRequests() {
  const absl::Time now = clock_->Now();
  struct Limit {
    RequestState state;
    absl::Duration age;
    const char* code;
  };
  const Limit limits[] = {
      {RequestState::kDispatched, options_.dispatch_timeout, "DISPATCH_TIMEOUT"},
      {RequestState::kPendingApproval, options_.pending_approval_timeout,
       "PENDING_APPROVAL_TIMEOUT"},
  };
  int expired = 0;
  for (const Limit& limit : limits) {
    ASSIGN_OR_RETURN(std::vector<CertificateRequestRecord> stale,
                     requests_->ListWaitingRequestsCreatedBefore(limit.state, now - limit.age, 500));
    for (CertificateRequestRecord& request : stale) {
      const RequestState from = request.state;
      request.state = RequestState::kExpired;
      request.update_time = now;
      request.error_code = limit.code;
      request.waiting_reason.clear();
      if (from == RequestState::kDispatched) {
        request.error_message = absl::StrCat(
            "no connector reported the CA's answer within ", absl::FormatDuration(limit.age),
            " of the request");
        request.remedy = absl::StrCat(
            "the CA may have received it: look in the CA database for request attribute "
            "CertbridgeRequestId:", request.name, " before sending a new request_id");
      } else {
        request.error_message = absl::StrCat("no CA officer approved or denied the request within ",
                                             absl::FormatDuration(limit.age));
        request.remedy = absl::StrCat("ask the CA officer about CA request ", request.ca_request_id,
                                      ", or send a new request_id");
      }
      absl::StatusOr<CertificateRequestRecord> stored = requests_->UpdateCertificateRequest(
          request.tenant_id, request.name, {from}, request, /*fail_open_jobs=*/true);
      if (stored.ok()) {
        ++expired;
        metrics_->RequestEntered(RequestState::kExpired, !stored->key_type.empty());
      }
    }
  }
  return expired;
}


}  // namespace certbridge::broker
