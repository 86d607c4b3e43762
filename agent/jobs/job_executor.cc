#include "agent/jobs/job_executor.h"

#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/events/admin_events.h"
#include "common/adcs/error_catalog.h"
#include "common/adcs/request_attributes.h"
#include "common/adcs/serial_number.h"
#include "common/log.h"
#include "common/pki/delivery.h"
#include "common/pki/pki.h"

namespace certbridge::agent {
namespace {

namespace v1 = ::certbridge::v1;

// "SUBMIT", not the enum value's name KIND_SUBMIT: the word the logs and events use.
std::string KindName(v1::Job::Kind kind) {
  return std::string(absl::StripPrefix(v1::Job::Kind_Name(kind), "KIND_"));
}

v1::JobResult ErrorResult(int64_t job_id, const absl::Status& status) {
  v1::JobResult r;
  r.set_job_id(job_id);
  r.set_ca_answered(false);
  r.set_error_code(absl::StatusCodeToString(status.code()));  // "UNAVAILABLE", ...
  r.set_error_message(std::string(status.message()));
  return r;
}

v1::JobResult RefusalResult(int64_t job_id, const PolicyRefusal& refusal) {
  v1::JobResult r;
  r.set_job_id(job_id);
  r.set_ca_answered(false);
  r.set_error_code(refusal.error_code);  // the broker records it as AGENT_<code>
  r.set_error_message(refusal.message);
  r.set_hint(refusal.remedy);
  return r;
}

bool IsIssued(int disposition) {
  return disposition == adcs::kDispositionIssued ||
         disposition == adcs::kDispositionIssuedOutOfBand;
}

// The serial of the certificate an issued result carries; nullopt for any other result.
absl::StatusOr<std::optional<std::string>> IssuedSerial(const v1::JobResult& result) {
  if (!result.ca_answered() || !IsIssued(result.disposition()) || result.certificate_pem().empty()) {
    return std::optional<std::string>();
  }
  absl::StatusOr<pki::CertificateInfo> cert = pki::ParseCertificate(result.certificate_pem());
  if (!cert.ok()) return cert.status();
  return std::optional<std::string>(std::move(cert->serial_hex));
}

std::string WithRequestId(const std::string& attributes, const std::string& request_name) {
  absl::string_view base = absl::StripTrailingAsciiWhitespace(attributes);
  const std::string line = absl::StrCat(kRequestIdAttribute, ":", request_name);
  return base.empty() ? line : absl::StrCat(base, "\n", line);
}

// "dns:host.example", "upn:a@b", "email:...", "uri:...", "ip:...".
absl::StatusOr<pki::SubjectAltName> ParseSan(absl::string_view text) {
  const size_t colon = text.find(':');
  if (colon == absl::string_view::npos || colon + 1 == text.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "subject alternative name \"", text, "\" is not TYPE:VALUE (dns, upn, email, uri, ip)"));
  }
  const std::string type = absl::AsciiStrToLower(text.substr(0, colon));
  pki::SubjectAltName san{pki::SubjectAltName::Type::kDns, std::string(text.substr(colon + 1))};
  if (type == "dns") {
    san.type = pki::SubjectAltName::Type::kDns;
  } else if (type == "upn") {
    san.type = pki::SubjectAltName::Type::kUpn;
  } else if (type == "email") {
    san.type = pki::SubjectAltName::Type::kEmail;
  } else if (type == "uri" || type == "url") {
    san.type = pki::SubjectAltName::Type::kUri;
  } else if (type == "ip") {
    san.type = pki::SubjectAltName::Type::kIp;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("subject alternative name \"", text,
                                                   "\": unknown type \"", type,
                                                   "\" (dns, upn, email, uri, ip)"));
  }
  return san;
}

absl::StatusOr<pki::Pkcs12Profile> ParseProfile(absl::string_view name) {
  if (name.empty() || absl::EqualsIgnoreCase(name, "MODERN")) return pki::Pkcs12Profile::kModern;
  if (absl::EqualsIgnoreCase(name, "LEGACY")) return pki::Pkcs12Profile::kLegacy;
  return absl::InvalidArgumentError(
      absl::StrCat("PKCS#12 profile \"", name, "\" is unknown (MODERN or LEGACY)"));
}

std::string FriendlyNameFor(const v1::KeyGenerationJob& keygen) {
  if (!keygen.subject().empty()) return keygen.subject();
  if (keygen.subject_alt_names_size() > 0) {
    absl::string_view san = keygen.subject_alt_names(0);
    const size_t colon = san.find(':');
    return std::string(colon == absl::string_view::npos ? san : san.substr(colon + 1));
  }
  return "";
}

// What a person should try after 0x80094800: the published cn nearest to what was asked.
std::string TemplateHint(CaBackend& ca, const std::string& attributes, absl::Duration timeout) {
  const std::optional<std::string> requested =
      adcs::ParseRequestAttributes(attributes).CertificateTemplate();
  if (!requested.has_value()) return "";
  absl::StatusOr<std::vector<CaTemplate>> templates = ca.ListTemplates({.timeout = timeout});
  if (!templates.ok()) return "";
  std::vector<adcs::TemplateName> published;
  for (const CaTemplate& t : *templates) published.push_back({t.cn, t.display_name});
  const std::optional<std::string> suggestion = adcs::SuggestTemplate(*requested, published);
  if (!suggestion.has_value()) return "";
  return absl::StrCat("Did you mean template \"", *suggestion, "\"?");
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobExecutor>> JobExecutor::Create(JobExecutorOptions options) {
  if (options.journal == nullptr || options.keys == nullptr || options.backends == nullptr ||
      options.policy_state == nullptr) {
    return absl::InvalidArgumentError(
        "job executor: journal, key store, CA backends and policy state are required");
  }
  if (options.max_concurrent_jobs < 1) options.max_concurrent_jobs = 1;
  return std::unique_ptr<JobExecutor>(new JobExecutor(std::move(options)));
}

JobExecutor::JobExecutor(JobExecutorOptions options) : options_(std::move(options)) {
  for (int i = 0; i < options_.max_concurrent_jobs; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

JobExecutor::~JobExecutor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    queue_.clear();
  }
  for (std::thread& t : workers_) t.join();
}

void JobExecutor::SetResultSink(ResultSink sink) {
  absl::MutexLock lock(&sink_mu_);
  sink_ = std::move(sink);
}

bool JobExecutor::EnqueueLocked(v1::Job job, bool lookup_first) {
  if (stopping_ || !active_.insert(job.job_id()).second) return false;
  queue_.push_back({std::move(job), lookup_first});
  return true;
}

void JobExecutor::WorkerLoop() {
  while (true) {
    QueuedJob next;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    v1::JobResult result = Execute(next.job, next.lookup_first);
    {
      absl::MutexLock lock(&mu_);
      active_.erase(next.job.job_id());
    }
    Finish(result);
  }
}

void JobExecutor::Finish(const v1::JobResult& result) {
  absl::MutexLock lock(&sink_mu_);
  if (sink_) sink_(result);
}

std::vector<v1::JobResult> JobExecutor::PrepareHello() {
  std::vector<v1::JobResult> results;
  absl::StatusOr<std::vector<JournalEntry>> entries = options_.journal->List();
  if (!entries.ok()) {
    LogError("job.journal_unreadable", {{"error", entries.status().ToString()}});
    return results;
  }
  for (JournalEntry& entry : *entries) {
    if (entry.result.has_value()) {
      results.push_back(std::move(*entry.result));
      continue;
    }
    const int64_t job_id = entry.job.job_id();
    {
      absl::MutexLock lock(&mu_);
      if (active_.count(job_id) > 0) continue;  // running now: its result comes on the stream
    }
    // The agent died while this job was with the CA.
    // A job the policy refuses is not looked up: the worker refuses it (Execute).
    if (entry.job.kind() == v1::Job::KIND_SUBMIT && !CheckPolicy(entry.job).has_value()) {
      absl::StatusOr<CaBackend*> ca = options_.backends->ForConfig(entry.job.ca_config());
      absl::StatusOr<CaResult> found =
          ca.ok() ? (*ca)->FindRequestByAttribute({.attribute_name = kRequestIdAttribute,
                                                   .attribute_value = entry.job.request_name(),
                                                   .timeout = options_.recovery_lookup_timeout})
                  : absl::StatusOr<CaResult>(ca.status());
      if (found.ok() && !(entry.job.has_key_generation() && IsIssued(found->disposition))) {
        v1::JobResult result;
        result.set_job_id(job_id);
        AnswerFromCa(entry.job, **ca, *found, nullptr, result);
        const absl::Status journaled = JournalResult(entry.job, result);
        LogInfo("job.recovered", {{"job_id", absl::StrCat(job_id)},
                                  {"request", entry.job.request_name()},
                                  {"kind", KindName(entry.job.kind())},
                                  {"ca_request_id", absl::StrCat(found->ca_request_id)},
                                  {"disposition", absl::StrCat(found->disposition)}});
        if (!journaled.ok()) {
          LogError("job.journal_write_failed",
                   {{"job_id", absl::StrCat(job_id)}, {"error", journaled.ToString()}});
        }
        results.push_back(std::move(result));
        continue;
      }
      // Not found (submit now), a key-generation certificate (the PKCS#12 is built on a
      // worker), or the CA could not be asked (the worker asks again before submitting).
    }
    LogInfo("job.resumed", {{"job_id", absl::StrCat(job_id)},
                            {"request", entry.job.request_name()},
                            {"kind", KindName(entry.job.kind())}});
    absl::MutexLock lock(&mu_);
    EnqueueLocked(std::move(entry.job), /*lookup_first=*/true);
  }
  return results;
}

void JobExecutor::Dispatch(v1::Job job) {
  const int64_t job_id = job.job_id();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || active_.count(job_id) > 0) return;  // running: its result will come
  }
  absl::StatusOr<std::optional<JournalEntry>> entry = options_.journal->Get(job_id);
  if (entry.ok() && entry->has_value() && (*entry)->result.has_value()) {
    LogInfo("job.duplicate", {{"job_id", absl::StrCat(job_id)},
                              {"request", job.request_name()},
                              {"kind", KindName(job.kind())}});
    Finish(*(*entry)->result);
    return;
  }
  // Started before but not running: the agent was interrupted; look before submitting.
  const bool lookup_first = job.attempt() > 1 || (entry.ok() && entry->has_value());
  absl::MutexLock lock(&mu_);
  EnqueueLocked(std::move(job), lookup_first);
}

void JobExecutor::Acknowledge(int64_t job_id) {
  if (absl::Status s = options_.journal->Remove(job_id); !s.ok()) {
    LogError("job.journal_write_failed", {{"job_id", absl::StrCat(job_id)}, {"error", s.ToString()}});
  }
}

v1::JobResult JobExecutor::Execute(const v1::Job& job, bool lookup_first) {
  LogInfo("job.started", {{"job_id", absl::StrCat(job.job_id())},
                          {"request", job.request_name()},
                          {"kind", KindName(job.kind())},
                          {"attempt", absl::StrCat(job.attempt())},
                          {"ca_config", job.ca_config()}});
  v1::JobResult result;
  absl::Status journaled = options_.journal->RecordStarted(job);
  std::optional<v1::JobResult> refused;
  absl::StatusOr<CaBackend*> ca = absl::UnknownError("not looked up");
  if (!journaled.ok()) {
    // Without the journal a lost answer could not be found again: do not call the CA.
    result = ErrorResult(job.job_id(), journaled);
  } else if (refused = CheckPolicy(job); refused.has_value()) {
    result = *std::move(refused);
  } else if (ca = options_.backends->ForConfig(job.ca_config()); !ca.ok()) {
    result = ErrorResult(job.job_id(), ca.status());
  } else {
    switch (job.kind()) {
      case v1::Job::KIND_SUBMIT:
        result = RunSubmit(job, **ca, lookup_first);
        break;
      case v1::Job::KIND_RETRIEVE:
        result = RunRetrieve(job, **ca);
        break;
      case v1::Job::KIND_REVOKE:
        result = RunRevoke(job, **ca);
        break;
      default:
        result = ErrorResult(job.job_id(), absl::InvalidArgumentError(absl::StrCat(
                                               "job kind ", job.kind(), " is unknown to this agent; "
                                               "upgrade the agent")));
    }
  }
  result.set_job_id(job.job_id());
  if (journaled.ok()) {
    absl::Status s = JournalResult(job, result);
    if (!s.ok()) {
      LogError("job.journal_write_failed",
               {{"job_id", absl::StrCat(job.job_id())}, {"error", s.ToString()}});
    } else if (job.has_key_generation() && result.ca_answered() &&
               result.disposition() != adcs::kDispositionUnderSubmission) {
      // The request is settled (PKCS#12 built, or denied): the key has no further use.
      // Removed only now that the result is journaled.
      if (absl::Status r = options_.keys->Remove(job.request_name()); !r.ok()) {
        LogWarning("job.pending_key_remove_failed",
                   {{"job_id", absl::StrCat(job.job_id())}, {"error", r.ToString()}});
      }
    }
  }
  const std::string job_id = absl::StrCat(job.job_id());
  const std::string disposition = result.ca_answered() ? absl::StrCat(result.disposition()) : "";
  const std::string ca_request_id = result.ca_answered() ? absl::StrCat(result.ca_request_id()) : "";
  const std::string hresult =
      !result.ca_answered() ? ""
      : job.kind() == v1::Job::KIND_REVOKE ? adcs::FormatHresult(result.revoke_hresult())
                                      : adcs::FormatHresult(result.hresult());
  LogInfo("job.finished", {{"job_id", job_id},
                           {"request", job.request_name()},
                           {"kind", KindName(job.kind())},
                           {"ca_answered", result.ca_answered() ? "true" : "false"},
                           {"disposition", disposition},
                           {"ca_request_id", ca_request_id},
                           {"hresult", hresult},
                           {"error_code", result.error_code()},
                           {"error", result.error_message()}});
  if (options_.event_log != nullptr) {
    if (std::optional<AdminEvent> event = JobEvent(job, result); event.has_value()) {
      options_.event_log->Report(*event);
    }
  }
  return result;
}

std::optional<v1::JobResult> JobExecutor::CheckPolicy(const v1::Job& job) {
  const AgentPolicy& policy = options_.policy;
  std::optional<PolicyRefusal> refusal = policy.CheckCaConfig(job.ca_config());
  std::string value = job.ca_config();
  if (!refusal.has_value() && job.kind() == v1::Job::KIND_SUBMIT) {
    refusal = policy.CheckTemplates(job.attributes());
    value = adcs::ParseRequestAttributes(job.attributes()).CertificateTemplate().value_or("");
  }
  if (!refusal.has_value() && job.kind() == v1::Job::KIND_REVOKE) {
    value = job.serial_number();
    absl::StatusOr<bool> issued_here = options_.policy_state->WasIssuedHere(job.serial_number());
    if (!issued_here.ok()) return ErrorResult(job.job_id(), issued_here.status());
    refusal = policy.CheckRevoke(job.serial_number(), *issued_here);
  }
  if (!refusal.has_value() && job.kind() == v1::Job::KIND_SUBMIT && job.has_key_generation() &&
      !job.key_generation().delivery_certificate_pem().empty()) {
    absl::StatusOr<std::string> presented =
        DeliveryCertificateFingerprint(job.key_generation().delivery_certificate_pem());
    if (!presented.ok()) return ErrorResult(job.job_id(), presented.status());
    absl::StatusOr<std::optional<std::string>> pinned =
        options_.policy_state->PinnedDeliveryCertificate();
    if (!pinned.ok()) return ErrorResult(job.job_id(), pinned.status());
    value = *presented;
    refusal = AgentPolicy::CheckDeliveryCertificate(*pinned, *presented);
    if (!pinned->has_value()) {
      // Trust on first use: registration pins the tenant's delivery certificate, so no pin
      // means the tenant had none at approval (or the agent predates the pin); the first
      // key-generation job's is pinned. Not enveloping to it unless the pin is on disk.
      if (absl::Status s = options_.policy_state->PinDeliveryCertificate(*presented); !s.ok()) {
        return ErrorResult(job.job_id(), s);
      }
      LogWarning("policy.delivery_certificate_pinned",
                 {{"job_id", absl::StrCat(job.job_id())},
                  {"request", job.request_name()},
                  {"sha256", FormatSha256Fingerprint(*presented)},
                  {"file", options_.policy_state->PinPath()}});
    }
  }
  if (!refusal.has_value()) return std::nullopt;
  LogWarning("job.refused", {{"job_id", absl::StrCat(job.job_id())},
                             {"request", job.request_name()},
                             {"kind", KindName(job.kind())},
                             {"error_code", refusal->error_code},
                             {"value", value},
                             {"error", refusal->message}});
  return RefusalResult(job.job_id(), *refusal);
}

absl::Status JobExecutor::JournalResult(const v1::Job& job, const v1::JobResult& result) {
  // The serial goes to the issued-serial log first; when the journal keeps it for that log
  // (IssuedSerialJournalOptions), the FINISHED record's sync is the serial's too.
  const bool deferred = options_.journal->keeps_results_for_others();
  bool appended = false;
  absl::StatusOr<std::optional<std::string>> serial = IssuedSerial(result);
  if (!serial.ok() || serial->has_value()) {
    absl::Status s = !serial.ok() ? serial.status()
                     : deferred   ? options_.policy_state->AppendIssued(**serial, job.request_name())
                                  : options_.policy_state->RecordIssued(**serial, job.request_name());
    appended = s.ok();
    if (!s.ok()) {
      // The certificate is still delivered; revoking it through this agent will need
      // --allow-revoke-any.
      LogError("policy.issued_serial_not_recorded",
               {{"job_id", absl::StrCat(job.job_id())}, {"request", job.request_name()},
                {"error", s.ToString()}});
    }
  }
  absl::Status journaled = options_.journal->RecordFinished(result);
  if (!journaled.ok() && deferred && appended) {
    // The journal does not hold the certificate: the serial must reach the disk on its own.
    if (absl::Status s = options_.policy_state->SyncIssued(); !s.ok()) {
      LogError("policy.issued_serial_not_recorded",
               {{"job_id", absl::StrCat(job.job_id())}, {"request", job.request_name()},
                {"error", s.ToString()}});
    }
  }
  return journaled;
}

JobJournalOptions IssuedSerialJournalOptions(AgentPolicyState& policy_state) {
  JobJournalOptions options;
  options.on_replayed_result = [&policy_state](const JournalEntry& entry) {
    if (!entry.result.has_value()) return absl::OkStatus();
    // A certificate that does not parse was not recorded when the job ran either.
    absl::StatusOr<std::optional<std::string>> serial = IssuedSerial(*entry.result);
    if (!serial.ok() || !serial->has_value()) return absl::OkStatus();
    // Synced by the rewrite that follows the replay (before_rewrite).
    return policy_state.AppendIssued(**serial, entry.job.request_name());
  };
  options.before_rewrite = [&policy_state] { return policy_state.SyncIssued(); };
  return options;
}

v1::JobResult JobExecutor::RunSubmit(const v1::Job& job, CaBackend& ca, bool lookup_first) {
  const bool keygen = job.has_key_generation();
  v1::JobResult result;
  result.set_job_id(job.job_id());
  if (lookup_first) {
    absl::StatusOr<CaResult> found =
        ca.FindRequestByAttribute({.attribute_name = kRequestIdAttribute,
                                   .attribute_value = job.request_name(),
                                   .timeout = options_.call_timeout});
    if (found.ok()) {
      LogInfo("job.found_at_ca", {{"job_id", absl::StrCat(job.job_id())},
                                  {"request", job.request_name()},
                                  {"ca_request_id", absl::StrCat(found->ca_request_id)}});
      std::optional<PendingKey> key;
      if (keygen && IsIssued(found->disposition)) {
        absl::StatusOr<PendingKey> loaded = options_.keys->Load(job.request_name());
        if (!loaded.ok()) return ErrorResult(job.job_id(), loaded.status());
        key = std::move(*loaded);
      }
      AnswerFromCa(job, ca, *found, key.has_value() ? &*key : nullptr, result);
      return result;
    }
    // UNIMPLEMENTED (the backend cannot search): submitting is the only way forward.
    if (!absl::IsNotFound(found.status()) && !absl::IsUnimplemented(found.status())) {
      return ErrorResult(job.job_id(), found.status());
    }
  }

  SubmitParams params;
  params.attributes = WithRequestId(job.attributes(), job.request_name());
  params.timeout = options_.submit_timeout;
  std::optional<PendingKey> key;
  if (keygen) {
    const v1::KeyGenerationJob& spec = job.key_generation();
    if (spec.delivery_certificate_pem().empty()) {
      return ErrorResult(job.job_id(),
                         absl::FailedPreconditionError(
                             "key-generation job without a delivery certificate: the tenant "
                             "must set one with AdminService.SetDeliveryCertificate"));
    }
    absl::StatusOr<pki::KeyType> type = pki::ParseKeyType(spec.key_type());
    if (!type.ok()) return ErrorResult(job.job_id(), type.status());
    pki::CsrParams csr_params{.subject = spec.subject(), .sans = {}};
    for (const std::string& text : spec.subject_alt_names()) {
      absl::StatusOr<pki::SubjectAltName> san = ParseSan(text);
      if (!san.ok()) return ErrorResult(job.job_id(), san.status());
      csr_params.sans.push_back(*std::move(san));
    }
    absl::StatusOr<pki::PrivateKey> generated = pki::PrivateKey::Generate(*type);
    if (!generated.ok()) return ErrorResult(job.job_id(), generated.status());
    absl::StatusOr<std::string> csr = pki::CreateCsrPem(*generated, csr_params);
    if (!csr.ok()) return ErrorResult(job.job_id(), csr.status());
    params.csr_pem = *std::move(csr);
    key = PendingKey{*std::move(generated), spec.delivery_certificate_pem(), FriendlyNameFor(spec)};
    // Kept (encrypted) before the CA sees the request: a pending request or a lost answer
    // still finds its key.
    absl::Status saved = options_.keys->Save(job.request_name(), key->key,
                                             key->delivery_certificate_pem, key->friendly_name);
    if (!saved.ok()) return ErrorResult(job.job_id(), saved);
  } else {
    params.csr_pem = job.csr_pem();
  }
  absl::StatusOr<CaResult> answer = ca.Submit(params);
  if (!answer.ok()) return ErrorResult(job.job_id(), answer.status());
  AnswerFromCa(job, ca, *answer, key.has_value() ? &*key : nullptr, result);
  return result;
}

v1::JobResult JobExecutor::RunRetrieve(const v1::Job& job, CaBackend& ca) {
  v1::JobResult result;
  result.set_job_id(job.job_id());
  absl::StatusOr<CaResult> answer =
      ca.RetrievePending({.ca_request_id = job.ca_request_id(), .timeout = options_.call_timeout});
  if (!answer.ok()) return ErrorResult(job.job_id(), answer.status());
  std::optional<PendingKey> key;
  if (job.has_key_generation() && IsIssued(answer->disposition)) {
    absl::StatusOr<PendingKey> loaded = options_.keys->Load(job.request_name());
    if (!loaded.ok()) {
      return ErrorResult(job.job_id(),
                         absl::FailedPreconditionError(absl::StrCat(
                             "CA request ", job.ca_request_id(),
                             " was issued but the key generated for it is not on this agent (",
                             loaded.status().message(),
                             "); create a new certificate request")));
    }
    key = std::move(*loaded);
  }
  AnswerFromCa(job, ca, *answer, key.has_value() ? &*key : nullptr, result);
  return result;
}

v1::JobResult JobExecutor::RunRevoke(const v1::Job& job, CaBackend& ca) {
  v1::JobResult result;
  result.set_job_id(job.job_id());
  absl::StatusOr<RevokeResult> answer = ca.Revoke({.serial_hex = job.serial_number(),
                                                   .reason = job.revocation_reason(),
                                                   .timeout = options_.call_timeout});
  if (!answer.ok()) return ErrorResult(job.job_id(), answer.status());
  result.set_ca_answered(true);
  result.set_revoke_hresult(answer->hresult);
  result.set_disposition_message(answer->message);
  return result;
}

void JobExecutor::AnswerFromCa(const v1::Job& job, CaBackend& ca, const CaResult& answer,
                               const PendingKey* key, v1::JobResult& result) {
  result.set_ca_answered(true);
  result.set_disposition(answer.disposition);
  result.set_ca_request_id(answer.ca_request_id);
  result.set_hresult(answer.hresult);
  result.set_disposition_message(answer.disposition_message);
  result.set_certificate_pem(answer.certificate_pem);
  result.set_chain_pem(answer.chain_pem);
  if (answer.hresult == adcs::kUnsupportedCertType) {
    result.set_hint(TemplateHint(ca, job.attributes(), options_.call_timeout));
  }
  if (!job.has_key_generation() || !IsIssued(answer.disposition) || key == nullptr) return;

  auto fail = [&](const absl::Status& s) { result = ErrorResult(job.job_id(), s); };
  absl::StatusOr<pki::Pkcs12Profile> profile = ParseProfile(job.key_generation().pkcs12_profile());
  if (!profile.ok()) return fail(profile.status());
  std::string chain = answer.certificate_pem;
  if (!chain.empty() && chain.back() != '\n') chain += '\n';
  chain += answer.chain_pem;
  std::string password = pki::RandomToken(24);
  absl::StatusOr<std::string> p12 =
      pki::CreatePkcs12(key->key, chain, password, key->friendly_name, *profile);
  absl::StatusOr<std::string> envelope =
      p12.ok() ? pki::EnvelopeForRecipient(password, key->delivery_certificate_pem)
               : absl::StatusOr<std::string>(p12.status());
  std::fill(password.begin(), password.end(), '\0');
  if (!envelope.ok()) return fail(envelope.status());
  result.set_pkcs12(*std::move(p12));
  result.set_enveloped_password(*std::move(envelope));
}

}  // namespace certbridge::agent
