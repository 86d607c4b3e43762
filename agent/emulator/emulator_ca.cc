#include "agent/emulator/emulator_ca.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/adcs/error_catalog.h"
#include "common/adcs/request_attributes.h"
#include "common/adcs/serial_number.h"
#include "common/adcs/sid.h"
#include "common/log.h"
#include "common/pki/ca_request_attributes.h"
#include "common/pki/crl.h"
#include "common/pki/sid_extension.h"
#include "common/status_macros.h"

namespace certbridge::emulator {
namespace {

using adcsemu::v1::CaResponse;
using adcsemu::v1::EmulatorConfig;
using adcsemu::v1::RequestRecord;
using adcsemu::v1::TemplateConfig;

absl::string_view WindowsText(uint32_t hresult) {
  const adcs::CatalogEntry* e = adcs::FindByHresult(hresult);
  return e != nullptr ? e->windows_message : absl::string_view("Unspecified error.");
}

// An RPC-level failure as AD CS reports it: the HRESULT first, then the symbol and words.
absl::Status HresultError(absl::StatusCode code, uint32_t hresult, absl::string_view detail) {
  const adcs::CatalogEntry* e = adcs::FindByHresult(hresult);
  return absl::Status(code, absl::StrCat(adcs::FormatHresult(hresult), " ",
                                         e != nullptr ? e->symbol : "", ": ", WindowsText(hresult),
                                         detail.empty() ? "" : " ", detail));
}

// The text AD CS logs for a policy-module denial.
std::string PolicyDenial(uint32_t hresult, absl::string_view text) {
  return absl::StrFormat("Denied by Policy Module 0x%08X, %s", hresult, text);
}

bool IdentityIn(const google::protobuf::RepeatedPtrField<std::string>& list,
                absl::string_view identity, bool empty_means_everyone) {
  if (list.empty()) return empty_means_everyone;
  for (const std::string& entry : list) {
    if (entry == "*" && !identity.empty()) return true;
    if (absl::EqualsIgnoreCase(entry, identity)) return true;
  }
  return false;
}

// Serials the officer or an agent type are compared in adcs's one canonical form; text
// that is not a serial matches none.
std::string NormalizeSerial(absl::string_view serial) {
  return adcs::NormalizeSerialNumber(serial).value_or(std::string(serial));
}

// RFC 4514 escaping of one attribute value.
std::string EscapeDnValue(absl::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' ||
        c == '=' || (i == 0 && (c == '#' || c == ' ')) || (i + 1 == v.size() && c == ' ')) {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out;
}

absl::string_view DispositionWord(int disposition) {
  const adcs::DispositionEntry* d = adcs::FindDisposition(disposition);
  return d != nullptr ? d->name : absl::string_view("UNKNOWN");
}

// Key size from pki's refusal "... is RSA-1024; use ...", or 0.
int RefusedRsaBits(absl::string_view message) {
  const size_t at = message.find(" is RSA-");
  if (at == absl::string_view::npos) return 0;
  absl::string_view rest = message.substr(at + 8);
  size_t n = 0;
  while (n < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[n]))) ++n;
  int bits = 0;
  return absl::SimpleAtoi(rest.substr(0, n), &bits) ? bits : 0;
}

}  // namespace

std::optional<uint32_t> HresultOf(const absl::Status& status) {
  absl::string_view m = status.message();
  if (!absl::StartsWith(m, "0x") || m.size() < 10) return std::nullopt;
  return adcs::ParseHresult(m.substr(0, 10));
}

absl::Status ValidateConfig(const EmulatorConfig& config) {
  if (config.ca_name().empty()) {
    return absl::InvalidArgumentError("emulator config: ca_name is empty; name the CA, e.g. "
                                      "ca_name: \"Corp Issuing CA\"");
  }
  if (!config.key_type().empty()) {
    RETURN_IF_ERROR(pki::ParseKeyType(config.key_type()).status());
  }
  std::set<std::string> cns;
  for (const TemplateConfig& t : config.templates()) {
    if (t.cn().empty()) {
      return absl::InvalidArgumentError("emulator config: a template has an empty cn");
    }
    if (!cns.insert(absl::AsciiStrToLower(t.cn())).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("emulator config: template cn \"", t.cn(), "\" appears twice"));
    }
  }
  for (const auto& d : config.directory()) {
    if (d.identity().empty()) {
      return absl::InvalidArgumentError("emulator config: a directory entry has no identity");
    }
    if (!d.sid().empty() && !adcs::IsValidSid(d.sid())) {
      return absl::InvalidArgumentError(absl::StrCat("emulator config: directory entry \"",
                                                     d.identity(), "\": sid \"", d.sid(),
                                                     "\" is not a SID (S-1-5-21-...)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<EmulatorCa>> EmulatorCa::Create(Options options) {
  if (options.clock == nullptr) return absl::InvalidArgumentError("EmulatorCa: clock is null");
  RETURN_IF_ERROR(ValidateConfig(options.config));
  ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store,
                   StateStore::Open(options.state_dir, options.sync_writes));

  const std::string cert_path = options.state_dir + "/ca.cert.pem";
  const std::string key_path = options.state_dir + "/ca.key.pem";
  absl::StatusOr<std::string> cert_pem = ReadFile(cert_path);
  absl::StatusOr<std::string> key_pem = ReadFile(key_path);
  std::unique_ptr<pki::SigningCa> ca;
  if (cert_pem.ok() && key_pem.ok()) {
    ASSIGN_OR_RETURN(ca, pki::SigningCa::Load(*cert_pem, *key_pem));
  } else {
    pki::KeyType key_type = pki::KeyType::kRsa2048;
    if (!options.config.key_type().empty()) {
      ASSIGN_OR_RETURN(key_type, pki::ParseKeyType(options.config.key_type()));
    }
    const absl::Time now = options.clock->Now();
    const int days = options.config.ca_validity_days() > 0
                         ? static_cast<int>(options.config.ca_validity_days())
                         : 3650;
    ASSIGN_OR_RETURN(ca, pki::SigningCa::CreateSelfSigned(
                             absl::StrCat("CN=", EscapeDnValue(options.config.ca_name())),
                             key_type, now - absl::Hours(1), now + absl::Hours(24) * days));
    // Key first: a certificate without its key would be unusable on the next start.
    RETURN_IF_ERROR(WriteFileAtomically(key_path, ca->KeyPem(), 0600));
    RETURN_IF_ERROR(WriteFileAtomically(cert_path, ca->certificate().pem, 0644));
    LogInfo("emulator.ca_created", {{"state_dir", options.state_dir},
                                    {"subject", ca->certificate().subject}});
  }
  return std::unique_ptr<EmulatorCa>(new EmulatorCa(std::move(options), std::move(ca),
                                                    std::move(store)));
}

EmulatorCa::EmulatorCa(Options options, std::unique_ptr<pki::SigningCa> ca,
                       std::unique_ptr<StateStore> store)
    : options_(std::move(options)), ca_(std::move(ca)), store_(std::move(store)) {
  faults_ = options_.config.faults();
  absl::MutexLock lock(&mu_);
  state_ = store_->loaded();
  for (int i = 0; i < state_.requests_size(); ++i) index_[state_.requests(i).request_id()] = i;
}

std::string EmulatorCa::config_string() const {
  return absl::StrCat(options_.config.ca_host(), "\\", options_.config.ca_name());
}

adcsemu::v1::Faults EmulatorCa::faults() const {
  absl::MutexLock lock(&faults_mu_);
  return faults_;
}

void EmulatorCa::SetFaults(const adcsemu::v1::Faults& faults) {
  absl::MutexLock lock(&faults_mu_);
  faults_ = faults;
}

absl::Status EmulatorCa::ApplyFaults() const {
  const adcsemu::v1::Faults f = faults();
  if (f.latency_ms() > 0) absl::SleepFor(absl::Milliseconds(f.latency_ms()));
  if (f.unavailable()) {
    return HresultError(absl::StatusCode::kUnavailable, adcs::kRpcServerUnavailable,
                        "(adcs-emulator fault \"unavailable\")");
  }
  return absl::OkStatus();
}

absl::Status EmulatorCa::CheckOfficer(const std::string& officer) const {
  if (IdentityIn(options_.config.officer_identities(), officer, /*empty_means_everyone=*/true)) {
    return absl::OkStatus();
  }
  return HresultError(absl::StatusCode::kPermissionDenied, adcs::kAccessDenied,
                      absl::StrCat("\"", officer,
                                   "\" lacks \"Issue and Manage Certificates\" on the CA"));
}

const TemplateConfig* EmulatorCa::FindTemplate(absl::string_view cn) const {
  for (const TemplateConfig& t : options_.config.templates()) {
    if (absl::EqualsIgnoreCase(t.cn(), cn)) return &t;
  }
  return nullptr;
}

const adcsemu::v1::DirectoryEntry* EmulatorCa::FindDirectoryEntry(absl::string_view identity) const {
  for (const auto& d : options_.config.directory()) {
    if (absl::EqualsIgnoreCase(d.identity(), identity)) return &d;
  }
  return nullptr;
}

RequestRecord* EmulatorCa::FindRequestLocked(int64_t request_id) {
  auto it = index_.find(request_id);
  if (it == index_.end()) return nullptr;
  return state_.mutable_requests(it->second);
}

void EmulatorCa::DenyLocked(RequestRecord& record, int disposition, uint32_t hresult,
                            std::string message) {
  record.set_disposition(disposition);
  record.set_hresult(hresult);
  record.set_disposition_message(std::move(message));
  record.set_resolved_unix(absl::ToUnixSeconds(options_.clock->Now()));
}

absl::Status EmulatorCa::PersistLocked(const RequestRecord& record, uint64_t* deferred_sync) {
  auto it = index_.find(record.request_id());
  if (it == index_.end()) {
    index_[record.request_id()] = state_.requests_size();
    *state_.add_requests() = record;
  } else if (state_.mutable_requests(it->second) != &record) {
    *state_.mutable_requests(it->second) = record;
  }
  adcsemu::v1::LogRecord log;
  *log.mutable_request() = record;
  if (deferred_sync == nullptr) return store_->Append(log);
  ASSIGN_OR_RETURN(*deferred_sync, store_->AppendDeferred(log));
  return absl::OkStatus();
}

void EmulatorCa::IssueLocked(RequestRecord& record) {
  absl::StatusOr<pki::CsrInfo> csr = pki::ParseCsr(record.request_der());
  if (!csr.ok()) {
    DenyLocked(record, adcs::kDispositionError, adcs::kAsn1BadTag,
               absl::StrCat("Error Parsing Request ", csr.status().message()));
    return;
  }
  const bool standalone = options_.config.ca_kind() == adcsemu::v1::STANDALONE;
  const TemplateConfig* tmpl = standalone ? nullptr : FindTemplate(record.template_cn());
  if (!standalone && tmpl == nullptr) {
    DenyLocked(record, adcs::kDispositionDenied, adcs::kUnsupportedCertType,
               PolicyDenial(adcs::kUnsupportedCertType,
                            absl::StrCat("The request was for a certificate template that is "
                                         "not supported by the Active Directory Certificate "
                                         "Services Policy: ",
                                         record.template_cn(), ".")));
    return;
  }

  const absl::Time now = options_.clock->Now();
  pki::IssueParams params;
  params.csr_der = csr->der;
  params.not_before = now - absl::Minutes(5);
  const int days = tmpl != nullptr && tmpl->validity_days() > 0
                       ? static_cast<int>(tmpl->validity_days())
                       : 365;
  params.not_after = now + absl::Hours(24) * days;
  if (tmpl != nullptr) {
    params.extended_key_usages.assign(tmpl->eku_oids().begin(), tmpl->eku_oids().end());
  }

  const bool supplies_subject =
      tmpl == nullptr || (tmpl->name_flags() & adcs::kNameFlagEnrolleeSuppliesSubject) != 0;
  if (supplies_subject) {
    std::vector<pki::SubjectAltName> sans = csr->sans;
    const adcs::RequestAttributes attributes = adcs::ParseRequestAttributes(record.attributes());
    std::optional<std::string> san_attribute = attributes.Get("SAN");
    if (san_attribute.has_value() && options_.config.attribute_subject_alt_name2()) {
      absl::StatusOr<std::vector<adcs::SanAttributeEntry>> extra =
          adcs::ParseSanAttribute(*san_attribute);
      if (!extra.ok()) {
        DenyLocked(record, adcs::kDispositionDenied, adcs::kBadRequestSubject,
                   PolicyDenial(adcs::kBadRequestSubject, extra.status().message()));
        return;
      }
      for (const adcs::SanAttributeEntry& e : *extra) {
        if (auto type = pki::SanTypeFromAttributeType(e.type)) sans.push_back({*type, e.value});
      }
      params.override_sans = true;
      params.sans = std::move(sans);
    }
    if (csr->subject.empty() && csr->sans.empty() && params.sans.empty()) {
      DenyLocked(record, adcs::kDispositionDenied, adcs::kBadRequestSubject,
                 PolicyDenial(adcs::kBadRequestSubject,
                              "The request has neither a subject nor a subject alternative name."));
      return;
    }
  } else {
    // Build from "Active Directory": the CA ignores what the request asks for.
    const adcsemu::v1::DirectoryEntry* entry = FindDirectoryEntry(record.submitter());
    if (entry == nullptr) {
      DenyLocked(record, adcs::kDispositionDenied, adcs::kBadRequestSubject,
                 PolicyDenial(adcs::kBadRequestSubject,
                              absl::StrCat(WindowsText(adcs::kBadRequestSubject),
                                           " No directory entry for ", record.submitter(), ".")));
      return;
    }
    params.override_subject = true;
    params.subject = absl::StrCat(
        "CN=", EscapeDnValue(entry->common_name().empty() ? entry->identity()
                                                           : entry->common_name()));
    params.override_sans = true;
    if (!entry->upn().empty()) params.sans.push_back({pki::SubjectAltName::Type::kUpn, entry->upn()});
    if (!entry->dns_name().empty()) {
      params.sans.push_back({pki::SubjectAltName::Type::kDns, entry->dns_name()});
    }
    if ((tmpl->enrollment_flags() & adcs::kEnrollmentFlagNoSecurityExtension) == 0) {
      absl::StatusOr<std::string> sid_ext = pki::EncodeSidExtension(entry->sid());
      if (!sid_ext.ok()) {
        DenyLocked(record, adcs::kDispositionDenied, adcs::kSecExtDirectorySidRequired,
                   PolicyDenial(adcs::kSecExtDirectorySidRequired,
                                WindowsText(adcs::kSecExtDirectorySidRequired)));
        return;
      }
      params.extra_extensions.push_back(
          {std::string(pki::kSidExtensionOid), /*critical=*/false, *std::move(sid_ext)});
    }
  }

  absl::StatusOr<pki::CertificateInfo> cert = ca_->Issue(params);
  if (!cert.ok()) {
    const bool callers_fault = absl::IsInvalidArgument(cert.status());
    DenyLocked(record, adcs::kDispositionError, callers_fault ? adcs::kBadRequestSubject : 0x80004005,
               absl::StrCat("Error Constructing or Publishing Certificate ",
                            cert.status().message()));
    return;
  }
  record.set_disposition(adcs::kDispositionIssued);
  record.set_hresult(adcs::kHresultOk);
  record.set_disposition_message("Issued");
  record.set_certificate_der(cert->der);
  record.set_serial_hex(NormalizeSerial(cert->serial_hex));
  record.set_resolved_unix(absl::ToUnixSeconds(now));
}

CaResponse EmulatorCa::ResponseFor(const RequestRecord& record, bool with_certificate) const {
  CaResponse r;
  r.set_disposition(record.disposition());
  r.set_request_id(record.request_id());
  r.set_hresult(record.hresult());
  r.set_disposition_message(record.disposition_message());
  r.set_serial_hex(record.serial_hex());
  r.set_template_cn(record.template_cn());
  if (with_certificate && !record.certificate_der().empty() &&
      (record.disposition() == adcs::kDispositionIssued ||
       record.disposition() == adcs::kDispositionRevoked)) {
    absl::StatusOr<pki::CertificateInfo> cert = pki::ParseCertificate(record.certificate_der());
    if (cert.ok()) r.set_certificate_pem(cert->pem);
    r.set_chain_pem(ca_->certificate().pem);
  }
  return r;
}

absl::StatusOr<CaResponse> EmulatorCa::Submit(const std::string& identity,
                                              const adcsemu::v1::SubmitRequest& request) {
  // The answer goes out only once its log record is on disk, as before; the fdatasync is
  // waited for outside mu_ so that concurrent Submits share it (state_store.h).
  uint64_t sync_position = 0;
  absl::StatusOr<CaResponse> response = SubmitUnsynced(identity, request, sync_position);
  if (sync_position > 0) RETURN_IF_ERROR(store_->SyncThrough(sync_position));
  return response;
}

absl::StatusOr<CaResponse> EmulatorCa::SubmitUnsynced(const std::string& identity,
                                                    const adcsemu::v1::SubmitRequest& request,
                                                    uint64_t& sync_position) {
  RETURN_IF_ERROR(ApplyFaults());
  const adcsemu::v1::Faults faults_now = faults();
  absl::MutexLock lock(&mu_);
  if (!IdentityIn(options_.config.ca_enroll_identities(), identity, /*empty_means_everyone=*/true)) {
    // The CA's access check fails before the request is logged: no request id.
    CaResponse r;
    r.set_disposition(adcs::kDispositionDenied);
    r.set_hresult(adcs::kEnrollDenied);
    r.set_disposition_message(absl::StrCat(
        "Denied by Policy Module 0x80094011, ", WindowsText(adcs::kEnrollDenied)));
    return r;
  }

  RequestRecord record;
  record.set_request_id(std::max<int64_t>(state_.next_request_id(), 1));
  state_.set_next_request_id(record.request_id() + 1);
  record.set_submitter(identity);
  record.set_request_der(request.request());
  record.set_attributes(request.attributes());
  record.set_submitted_unix(absl::ToUnixSeconds(options_.clock->Now()));

  const bool standalone = options_.config.ca_kind() == adcsemu::v1::STANDALONE;
  const adcs::RequestAttributes attributes = adcs::ParseRequestAttributes(request.attributes());
  const std::optional<std::string> template_name = attributes.CertificateTemplate();
  const TemplateConfig* tmpl = nullptr;
  absl::StatusOr<pki::CsrInfo> csr = pki::ParseCsr(request.request());

  if (faults_now.deny_all()) {
    DenyLocked(record, adcs::kDispositionDenied, adcs::kAdminDeniedRequest,
               PolicyDenial(adcs::kAdminDeniedRequest,
                            absl::StrCat(WindowsText(adcs::kAdminDeniedRequest),
                                         " (adcs-emulator fault \"deny_all\")")));
  } else if (!csr.ok()) {
    const int bits = RefusedRsaBits(csr.status().message());
    if (bits > 0 && bits < 2048) {
      DenyLocked(record, adcs::kDispositionDenied, adcs::kKeyLength,
                 PolicyDenial(adcs::kKeyLength, WindowsText(adcs::kKeyLength)));
    } else {
      DenyLocked(record, adcs::kDispositionError, adcs::kAsn1BadTag,
                 absl::StrCat("Error Parsing Request ", csr.status().message()));
    }
  } else if (!standalone && !template_name.has_value()) {
    DenyLocked(record, adcs::kDispositionDenied, adcs::kNoCertType,
               PolicyDenial(adcs::kNoCertType, WindowsText(adcs::kNoCertType)));
  } else if (!standalone && (tmpl = FindTemplate(*template_name)) == nullptr) {
    DenyLocked(record, adcs::kDispositionDenied, adcs::kUnsupportedCertType,
               PolicyDenial(adcs::kUnsupportedCertType,
                            absl::StrCat("The request was for a certificate template that is "
                                         "not supported by the Active Directory Certificate "
                                         "Services Policy: ",
                                         *template_name, ".")));
  } else if (tmpl != nullptr &&
             !IdentityIn(tmpl->enroll_identities(), identity, /*empty_means_everyone=*/false)) {
    DenyLocked(record, adcs::kDispositionDenied, adcs::kTemplateDenied,
               PolicyDenial(adcs::kTemplateDenied, WindowsText(adcs::kTemplateDenied)));
  } else if (tmpl != nullptr && csr->key_bits < static_cast<int>(tmpl->minimal_key_size())) {
    DenyLocked(record, adcs::kDispositionDenied, adcs::kKeyLength,
               PolicyDenial(adcs::kKeyLength, WindowsText(adcs::kKeyLength)));
  } else {
    if (tmpl != nullptr) record.set_template_cn(tmpl->cn());
    if (standalone || (tmpl->enrollment_flags() & adcs::kEnrollmentFlagPendAllRequests) != 0) {
      record.set_disposition(adcs::kDispositionUnderSubmission);
      record.set_hresult(adcs::kHresultOk);
      record.set_disposition_message("Taken Under Submission");
    } else {
      IssueLocked(record);
    }
  }
  if (template_name.has_value() && record.template_cn().empty()) {
    record.set_template_cn(*template_name);
  }

  RETURN_IF_ERROR(PersistLocked(record, &sync_position));
  LogInfo("emulator.submit",
          {{"request_id", absl::StrCat(record.request_id())},
           {"identity", identity},
           {"disposition", DispositionWord(record.disposition())},
           {"hresult", adcs::FormatHresult(record.hresult())}});
  if (record.disposition() == adcs::kDispositionIssued && faults_now.die_after_issue()) {
    LogWarning("emulator.die_after_issue", {{"request_id", absl::StrCat(record.request_id())}});
    // Issued and logged, as a CA that dies before it answers: the record must be on disk.
    RETURN_IF_ERROR(store_->SyncThrough(sync_position));
    if (options_.die) options_.die();
  }
  return ResponseFor(record, /*with_certificate=*/true);
}

absl::StatusOr<CaResponse> EmulatorCa::RetrievePending(const std::string& identity,
                                                       int64_t request_id) {
  RETURN_IF_ERROR(ApplyFaults());
  absl::MutexLock lock(&mu_);
  const RequestRecord* record = FindRequestLocked(request_id);
  CaResponse r;
  r.set_request_id(request_id);
  if (record == nullptr) {
    r.set_disposition(adcs::kDispositionError);
    r.set_hresult(adcs::kPropertyEmpty);
    r.set_disposition_message(
        absl::StrCat(WindowsText(adcs::kPropertyEmpty), " No request ", request_id, "."));
    return r;
  }
  const bool only_submitter = !options_.config.has_retrieval_only_by_submitter() ||
                              options_.config.retrieval_only_by_submitter();
  if (only_submitter && !absl::EqualsIgnoreCase(identity, record->submitter())) {
    r.set_disposition(adcs::kDispositionError);
    r.set_hresult(adcs::kAccessDenied);
    r.set_disposition_message(absl::StrCat(WindowsText(adcs::kAccessDenied),
                                           " Request ", request_id,
                                           " was submitted by another identity."));
    return r;
  }
  return ResponseFor(*record, /*with_certificate=*/true);
}

absl::StatusOr<adcsemu::v1::GetCaCertificateResponse> EmulatorCa::GetCaCertificate() {
  RETURN_IF_ERROR(ApplyFaults());
  adcsemu::v1::GetCaCertificateResponse r;
  r.add_chain_pem(ca_->certificate().pem);
  r.set_config(config_string());
  return r;
}

absl::StatusOr<adcsemu::v1::ListTemplatesResponse> EmulatorCa::ListTemplates() {
  RETURN_IF_ERROR(ApplyFaults());
  adcsemu::v1::ListTemplatesResponse r;
  if (options_.config.ca_kind() == adcsemu::v1::STANDALONE) return r;
  for (const TemplateConfig& t : options_.config.templates()) {
    adcsemu::v1::PublishedTemplate* p = r.add_templates();
    p->set_cn(t.cn());
    p->set_display_name(t.display_name());
    p->set_oid(t.oid());
    p->set_minimal_key_size(t.minimal_key_size());
    p->set_name_flags(t.name_flags());
    p->set_enrollment_flags(t.enrollment_flags());
  }
  return r;
}

absl::StatusOr<adcsemu::v1::PingResponse> EmulatorCa::Ping() {
  RETURN_IF_ERROR(ApplyFaults());
  adcsemu::v1::PingResponse r;
  r.set_config(config_string());
  r.set_ca_kind(options_.config.ca_kind() == adcsemu::v1::STANDALONE ? adcsemu::v1::STANDALONE
                                                                      : adcsemu::v1::ENTERPRISE);
  return r;
}

absl::StatusOr<CaResponse> EmulatorCa::Resubmit(const std::string& officer, int64_t request_id) {
  RETURN_IF_ERROR(CheckOfficer(officer));
  absl::MutexLock lock(&mu_);
  RequestRecord* record = FindRequestLocked(request_id);
  if (record == nullptr) {
    return HresultError(absl::StatusCode::kNotFound, adcs::kPropertyEmpty,
                        absl::StrCat("No request ", request_id, "."));
  }
  if (record->disposition() != adcs::kDispositionUnderSubmission &&
      record->disposition() != adcs::kDispositionDenied) {
    return HresultError(absl::StatusCode::kFailedPrecondition, adcs::kBadRequestStatus,
                        absl::StrCat("Request ", request_id, " is ",
                                     DispositionWord(record->disposition()),
                                     "; only a pending or denied request can be resubmitted."));
  }
  RequestRecord updated = *record;
  IssueLocked(updated);
  RETURN_IF_ERROR(PersistLocked(updated));
  LogInfo("emulator.resubmit", {{"request_id", absl::StrCat(request_id)},
                                {"officer", officer},
                                {"disposition", DispositionWord(updated.disposition())}});
  return ResponseFor(updated, /*with_certificate=*/true);
}

absl::StatusOr<CaResponse> EmulatorCa::Deny(const std::string& officer, int64_t request_id) {
  RETURN_IF_ERROR(CheckOfficer(officer));
  absl::MutexLock lock(&mu_);
  RequestRecord* record = FindRequestLocked(request_id);
  if (record == nullptr) {
    return HresultError(absl::StatusCode::kNotFound, adcs::kPropertyEmpty,
                        absl::StrCat("No request ", request_id, "."));
  }
  if (record->disposition() != adcs::kDispositionUnderSubmission) {
    return HresultError(absl::StatusCode::kFailedPrecondition, adcs::kBadRequestStatus,
                        absl::StrCat("Request ", request_id, " is ",
                                     DispositionWord(record->disposition()),
                                     "; only a pending request can be denied."));
  }
  RequestRecord updated = *record;
  DenyLocked(updated, adcs::kDispositionDenied, adcs::kAdminDeniedRequest,
             absl::StrCat("Denied by ", officer.empty() ? "an officer" : officer));
  RETURN_IF_ERROR(PersistLocked(updated));
  LogInfo("emulator.deny", {{"request_id", absl::StrCat(request_id)}, {"officer", officer}});
  return ResponseFor(updated, /*with_certificate=*/false);
}

absl::StatusOr<adcsemu::v1::RevokeResponse> EmulatorCa::Revoke(const std::string& officer,
                                                               const std::string& serial_hex,
                                                               int32_t reason) {
  RETURN_IF_ERROR(CheckOfficer(officer));
  const bool release_hold =
      reason == -1 || reason == static_cast<int>(pki::CrlReason::kRemoveFromCrl);
  if (!release_hold && !pki::IsValidCrlReason(reason)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "revocation reason ", reason,
        " is not a CRL reason: use 0-6, 8 (remove from CRL) or -1 (release a hold)"));
  }
  const std::string serial = NormalizeSerial(serial_hex);
  absl::MutexLock lock(&mu_);
  RequestRecord* record = nullptr;
  for (RequestRecord& r : *state_.mutable_requests()) {
    if (!r.serial_hex().empty() && r.serial_hex() == serial) record = &r;
  }
  if (record == nullptr) {
    return HresultError(absl::StatusCode::kNotFound, adcs::kPropertyEmpty,
                        absl::StrCat("No certificate with serial ", serial, "."));
  }
  RequestRecord updated = *record;
  const bool on_hold = updated.disposition() == adcs::kDispositionRevoked &&
                       updated.revocation_reason() ==
                           static_cast<int>(pki::CrlReason::kCertificateHold);
  if (release_hold) {
    if (!on_hold) {
      return HresultError(absl::StatusCode::kFailedPrecondition, adcs::kBadRequestStatus,
                          absl::StrCat("Certificate ", serial, " is not on hold."));
    }
    updated.set_disposition(adcs::kDispositionIssued);
    updated.set_disposition_message("Issued");
    updated.set_revocation_reason(0);
    updated.set_revoked_unix(0);
  } else {
    if (updated.disposition() != adcs::kDispositionIssued && !on_hold) {
      return HresultError(absl::StatusCode::kFailedPrecondition, adcs::kBadRequestStatus,
                          absl::StrCat("Certificate ", serial, " of request ",
                                       updated.request_id(), " is ",
                                       DispositionWord(updated.disposition()), "."));
    }
    updated.set_disposition(adcs::kDispositionRevoked);
    updated.set_disposition_message("Revoked");
    updated.set_revocation_reason(reason);
    updated.set_revoked_unix(absl::ToUnixSeconds(options_.clock->Now()));
  }
  RETURN_IF_ERROR(PersistLocked(updated));
  LogInfo("emulator.revoke", {{"serial", serial},
                              {"reason", absl::StrCat(reason)},
                              {"officer", officer}});
  adcsemu::v1::RevokeResponse r;
  r.set_request_id(updated.request_id());
  return r;
}

absl::StatusOr<adcsemu::v1::CrlResponse> EmulatorCa::PublishCrlLocked() {
  const absl::Time now = options_.clock->Now();
  pki::CrlParams params;
  params.crl_number = state_.crl_number() + 1;
  params.this_update = now;
  const int hours = options_.config.crl_validity_hours() > 0
                        ? static_cast<int>(options_.config.crl_validity_hours())
                        : 168;
  params.next_update = now + absl::Hours(hours);
  for (const RequestRecord& r : state_.requests()) {
    if (r.disposition() != adcs::kDispositionRevoked) continue;
    params.revoked.push_back({r.serial_hex(), absl::FromUnixSeconds(r.revoked_unix()),
                              static_cast<pki::CrlReason>(r.revocation_reason())});
  }
  ASSIGN_OR_RETURN(std::string pem, pki::CreateCrlPem(*ca_, params));
  adcsemu::v1::LogRecord log;
  log.mutable_crl()->set_crl_number(params.crl_number);
  log.mutable_crl()->set_crl_pem(pem);
  RETURN_IF_ERROR(store_->Append(log));
  state_.set_crl_number(params.crl_number);
  state_.set_crl_pem(pem);
  // A copy where `openssl crl -in` and a CDP-serving script can find it.
  RETURN_IF_ERROR(WriteFileAtomically(options_.state_dir + "/ca.crl.pem", pem, 0644));
  adcsemu::v1::CrlResponse r;
  r.set_crl_pem(pem);
  r.set_crl_number(params.crl_number);
  return r;
}

absl::StatusOr<adcsemu::v1::CrlResponse> EmulatorCa::PublishCrl(const std::string& officer) {
  RETURN_IF_ERROR(CheckOfficer(officer));
  absl::MutexLock lock(&mu_);
  return PublishCrlLocked();
}

absl::StatusOr<adcsemu::v1::CrlResponse> EmulatorCa::GetCrl(const std::string& officer) {
  RETURN_IF_ERROR(CheckOfficer(officer));
  absl::MutexLock lock(&mu_);
  if (state_.crl_pem().empty()) return PublishCrlLocked();
  adcsemu::v1::CrlResponse r;
  r.set_crl_pem(state_.crl_pem());
  r.set_crl_number(state_.crl_number());
  return r;
}

absl::StatusOr<adcsemu::v1::FindRequestsResponse> EmulatorCa::FindRequests(
    const std::string& identity, const std::string& name, const std::string& value) {
  RETURN_IF_ERROR(ApplyFaults());
  if (name.empty()) {
    return absl::InvalidArgumentError("FindRequests: attribute_name is empty");
  }
  absl::MutexLock lock(&mu_);
  adcsemu::v1::FindRequestsResponse r;
  for (const RequestRecord& record : state_.requests()) {
    if (!absl::EqualsIgnoreCase(identity, record.submitter())) continue;
    const std::optional<std::string> v = adcs::ParseRequestAttributes(record.attributes()).Get(name);
    if (v.has_value() && *v == value) {
      *r.add_requests() = ResponseFor(record, /*with_certificate=*/true);
    }
  }
  return r;
}

absl::StatusOr<adcsemu::v1::ListRequestsResponse> EmulatorCa::ListRequests(
    const std::string& officer) {
  RETURN_IF_ERROR(CheckOfficer(officer));
  absl::MutexLock lock(&mu_);
  adcsemu::v1::ListRequestsResponse r;
  for (const RequestRecord& record : state_.requests()) {
    CaResponse* listed = r.add_requests();
    *listed = ResponseFor(record, /*with_certificate=*/false);
    listed->set_attributes(record.attributes());
  }
  return r;
}

}  // namespace certbridge::emulator
