// FakeStore's CertificateStore half: the same semantics as PostgresStore (see
// broker/store/postgres/postgres_certificate_store.cc), over maps.
#include <algorithm>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "broker/store/fake/fake_store.h"
#include "broker/store/record_validation.h"
#include "common/status_macros.h"

namespace certbridge::broker {
namespace {

// Every mutable field, as PostgreSQL's UPDATE ... SET writes them.
void ApplyMutableFields(const CertificateRequestRecord& from, CertificateRequestRecord* to) {
  to->state = from.state;
  to->update_time = TruncateToMicros(from.update_time);
  to->ca_request_id = from.ca_request_id;
  to->disposition = from.disposition;
  to->hresult = from.hresult;
  to->disposition_message = from.disposition_message;
  to->error_code = from.error_code;
  to->error_message = from.error_message;
  to->remedy = from.remedy;
  to->waiting_reason = from.waiting_reason;
  to->connector_id = from.connector_id;
  to->ca_identity = from.ca_identity;
  to->certificate_pem = from.certificate_pem;
  to->chain_pem = from.chain_pem;
  to->serial_hex = from.serial_hex;
  to->not_after = TruncateToMicros(from.not_after);
  to->pkcs12 = from.pkcs12;
  to->enveloped_password = from.enveloped_password;
  to->revocation_reason = from.revocation_reason;
  to->revoke_time = TruncateToMicros(from.revoke_time);
}

bool Contains(const std::vector<RequestState>& states, RequestState state) {
  return std::find(states.begin(), states.end(), state) != states.end();
}

}  // namespace

void FakeStore::Notify(const std::vector<Change>& changes) {
  ChangeListener* listener;
  {
    absl::MutexLock lock(&mu_);
    listener = listener_;
  }
  if (listener == nullptr) return;
  for (const Change& c : changes) {
    if (!c.ca_id.empty()) listener->OnJobsReady(c.tenant_id, c.ca_id);
    if (!c.request_name.empty()) {
      listener->OnRequestChanged(c.tenant_id, c.request_name, c.change_seq, c.state);
    }
  }
}

void FakeStore::SetChangeListener(ChangeListener* listener) {
  absl::MutexLock lock(&mu_);
  listener_ = listener;
}

CertificateRequestRecord* FakeStore::FindRequest(const std::string& tenant_id,
                                                 const std::string& name) {
  auto it = requests_.find(name);
  if (it == requests_.end() || it->second.tenant_id != tenant_id) return nullptr;
  return &it->second;
}

void FakeStore::RecordChange(CertificateRequestRecord* r) {
  r->change_seq = next_change_seq_++;
  changes_[r->change_seq] = *r;
}

JobRecord FakeStore::InsertJob(JobRecord job) {
  job.job_id = next_job_id_++;
  job.lease_until = TruncateToMicros(job.lease_until);
  job.not_before = TruncateToMicros(job.not_before);
  job.create_time = TruncateToMicros(job.create_time);
  jobs_[job.job_id] = job;
  return job;
}

absl::Status FakeStore::SetDeliveryCertificate(const std::string& tenant_id,
                                               const std::string& certificate_pem) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  if (!TenantExists(tenant_id)) return TenantNotFound(tenant_id);
  delivery_certificates_[tenant_id] = certificate_pem;
  return absl::OkStatus();
}

absl::StatusOr<std::string> FakeStore::GetDeliveryCertificate(const std::string& tenant_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  if (!TenantExists(tenant_id)) return TenantNotFound(tenant_id);
  auto it = delivery_certificates_.find(tenant_id);
  return it == delivery_certificates_.end() ? std::string() : it->second;
}

absl::StatusOr<CreateRequestResult> FakeStore::CreateCertificateRequest(
    const CertificateRequestRecord& request, const JobRecord& first_job) {
  std::vector<Change> changes;
  CreateRequestResult result;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(BeginCall());
    RETURN_IF_ERROR(ValidateCertificateRequest(request));
    JobRecord job = first_job;
    job.tenant_id = request.tenant_id;
    job.request_name = request.name;
    RETURN_IF_ERROR(ValidateJob(job));
    if (!TenantExists(request.tenant_id)) return TenantNotFound(request.tenant_id);
    for (const auto& [name, stored] : requests_) {
      if (stored.tenant_id == request.tenant_id && stored.request_id == request.request_id) {
        result.request = stored;
        result.created = false;
        return result;
      }
    }
    if (requests_.count(request.name) > 0) {
      return RequestAlreadyExists(request.name);
    }
    CertificateRequestRecord stored = request;
    stored.create_time = TruncateToMicros(request.create_time);
    stored.queue_deadline = TruncateToMicros(request.queue_deadline);
    ApplyMutableFields(request, &stored);
    stored.state = RequestState::kQueued;
    stored.seq = next_request_seq_++;
    RecordChange(&stored);
    requests_[stored.name] = stored;
    JobRecord inserted = InsertJob(job);
    result.request = stored;
    result.created = true;
    changes.push_back({stored.tenant_id,
                       inserted.not_before <= stored.create_time ? inserted.ca_id : "",
                       stored.name, stored.change_seq, stored.state});
  }
  Notify(changes);
  return result;
}

absl::StatusOr<CertificateRequestRecord> FakeStore::GetCertificateRequest(
    const std::string& tenant_id, const std::string& name) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  CertificateRequestRecord* r = FindRequest(tenant_id, name);
  if (r == nullptr) return RequestNotFound(name);
  return *r;
}

absl::StatusOr<CertificateRequestRecord> FakeStore::GetCertificateRequestByRequestId(
    const std::string& tenant_id, const std::string& request_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  for (const auto& [name, r] : requests_) {
    if (r.tenant_id == tenant_id && r.request_id == request_id) return r;
  }
  return RequestIdNotFound(request_id);
}

absl::StatusOr<CertificateRequestRecord> FakeStore::GetCertificateRequestBySerial(
    const std::string& tenant_id, const std::string& ca_id, const std::string& serial_hex) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  const CertificateRequestRecord* newest = nullptr;
  for (const auto& [name, r] : requests_) {
    if (!serial_hex.empty() && r.tenant_id == tenant_id && r.ca_id == ca_id &&
        r.serial_hex == serial_hex && (newest == nullptr || r.seq > newest->seq)) {
      newest = &r;
    }
  }
  if (newest == nullptr) {
    return SerialNotFound(ca_id, serial_hex);
  }
  return *newest;
}

absl::StatusOr<std::vector<CertificateRequestRecord>> FakeStore::ListCertificateRequests(
    const std::string& tenant_id, const RequestFilter& filter, int64_t before_seq, int limit) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  RETURN_IF_ERROR(ValidatePageSize("certificate request", limit));
  std::vector<CertificateRequestRecord> out;
  for (const auto& [name, r] : requests_) {
    if (r.tenant_id != tenant_id) continue;
    if (before_seq > 0 && r.seq >= before_seq) continue;
    if (filter.state.has_value() && r.state != *filter.state) continue;
    if (!filter.ca_id.empty() && r.ca_id != filter.ca_id) continue;
    if (!filter.device_id.empty() && r.device_id != filter.device_id) continue;
    out.push_back(r);
  }
  std::sort(out.begin(), out.end(),
            [](const CertificateRequestRecord& a, const CertificateRequestRecord& b) {
              return a.seq > b.seq;
            });
  if (out.size() > static_cast<size_t>(limit)) out.resize(limit);
  return out;
}

absl::StatusOr<std::vector<CertificateRequestRecord>> FakeStore::ListRequestChanges(
    const std::string& tenant_id, int64_t after_change_seq, int limit) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  RETURN_IF_ERROR(ValidatePageSize("request change", limit));
  if (after_change_seq < 0) return UnknownChangeCursor(after_change_seq);
  if (after_change_seq > 0) {
    auto cursor = changes_.find(after_change_seq);
    if (cursor == changes_.end() || cursor->second.tenant_id != tenant_id) {
      return UnknownChangeCursor(after_change_seq);
    }
  }
  std::vector<CertificateRequestRecord> out;
  for (auto it = changes_.upper_bound(after_change_seq);
       it != changes_.end() && static_cast<int>(out.size()) < limit; ++it) {
    if (it->second.tenant_id != tenant_id) continue;
    out.push_back(it->second);
  }
  return out;
}

absl::StatusOr<int64_t> FakeStore::LatestChangeSeq(const std::string& tenant_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  if (!TenantExists(tenant_id)) return TenantNotFound(tenant_id);
  for (auto it = changes_.rbegin(); it != changes_.rend(); ++it) {
    if (it->second.tenant_id == tenant_id) return it->first;
  }
  return 0;
}

absl::StatusOr<int> FakeStore::DeleteRequestChangesBefore(absl::Time update_time_before,
                                                          int limit) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  RETURN_IF_ERROR(ValidatePageSize("request change", limit));
  int deleted = 0;
  for (auto it = changes_.begin(); it != changes_.end() && deleted < limit;) {
    if (it->second.update_time < update_time_before) {
      it = changes_.erase(it);
      ++deleted;
    } else {
      ++it;
    }
  }
  return deleted;
}

absl::StatusOr<CertificateRequestRecord> FakeStore::UpdateCertificateRequest(
    const std::string& tenant_id, const std::string& name, const std::vector<RequestState>& from,
    const CertificateRequestRecord& update, bool fail_open_jobs) {
  CertificateRequestRecord result;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(BeginCall());
    CertificateRequestRecord* r = FindRequest(tenant_id, name);
    if (r == nullptr) return RequestNotFound(name);
    if (!Contains(from, r->state)) {
      return RequestInState(name, RequestStateName(r->state));
    }
    ApplyMutableFields(update, r);
    RecordChange(r);
    if (fail_open_jobs) {
      for (auto& [id, job] : jobs_) {
        if (job.tenant_id == tenant_id && job.request_name == name &&
            (job.state == JobState::kReady || job.state == JobState::kLeased)) {
          job.state = JobState::kFailed;
        }
      }
    }
    result = *r;
  }
  Notify({{tenant_id, "", name, result.change_seq, result.state}});
  return result;
}

absl::StatusOr<JobRecord> FakeStore::AddJob(const JobRecord& job) {
  JobRecord inserted;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(BeginCall());
    RETURN_IF_ERROR(ValidateJob(job));
    if (FindRequest(job.tenant_id, job.request_name) == nullptr) {
      return RequestNotFound(job.request_name);
    }
    inserted = InsertJob(job);
  }
  if (inserted.not_before <= inserted.create_time) {
    Notify({{inserted.tenant_id, inserted.ca_id, "", 0}});
  }
  return inserted;
}

absl::StatusOr<CertificateRequestRecord> FakeStore::UpdateRequestAndAddJob(
    const std::string& tenant_id, const std::string& name, const std::vector<RequestState>& from,
    const CertificateRequestRecord& update, const JobRecord& job) {
  CertificateRequestRecord result;
  JobRecord inserted;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(BeginCall());
    JobRecord new_job = job;
    new_job.tenant_id = tenant_id;
    new_job.request_name = name;
    RETURN_IF_ERROR(ValidateJob(new_job));
    CertificateRequestRecord* r = FindRequest(tenant_id, name);
    if (r == nullptr) return RequestNotFound(name);
    if (!Contains(from, r->state)) {
      return RequestInState(name, RequestStateName(r->state));
    }
    ApplyMutableFields(update, r);
    RecordChange(r);
    inserted = InsertJob(new_job);
    result = *r;
  }
  std::vector<Change> changes = {{tenant_id, "", name, result.change_seq}};
  if (inserted.not_before <= inserted.create_time) {
    changes.push_back({tenant_id, inserted.ca_id, "", 0});
  }
  Notify(changes);
  return result;
}

absl::StatusOr<std::vector<JobRecord>> FakeStore::ClaimJobs(const ClaimParams& params) {
  std::vector<JobRecord> claimed;
  std::vector<Change> changes;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(BeginCall());
    if (params.per_ca_limit <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "claim jobs: per_ca_limit must be positive, got ", params.per_ca_limit));
    }
    if (params.limit <= 0 || params.ca_ids.empty()) return claimed;
    for (const std::string& ca_id : params.ca_ids) {
      RETURN_IF_ERROR(ValidateId("certificate authority id", ca_id));
    }
    const std::set<std::string> cas(params.ca_ids.begin(), params.ca_ids.end());
    std::map<std::string, int> leased;
    for (const auto& [id, job] : jobs_) {
      if (job.tenant_id == params.tenant_id && job.state == JobState::kLeased) {
        ++leased[job.ca_id];
      }
    }
    for (auto& [id, job] : jobs_) {  // job id order: oldest first
      if (static_cast<int>(claimed.size()) >= params.limit) break;
      if (job.tenant_id != params.tenant_id || job.state != JobState::kReady ||
          cas.count(job.ca_id) == 0 || job.not_before > params.now ||
          (!job.required_identity.empty() && job.required_identity != params.ca_identity &&
           job.required_identity !=
               ConnectorBoundIdentity(params.ca_identity, params.connector_id)) ||
          leased[job.ca_id] >= params.per_ca_limit) {
        continue;
      }
      ++leased[job.ca_id];
      job.state = JobState::kLeased;
      job.connector_id = params.connector_id;
      job.lease_until = TruncateToMicros(params.lease_until);
      ++job.attempts;
      claimed.push_back(job);
      if (job.kind != JobKind::kSubmit) continue;
      CertificateRequestRecord* r = FindRequest(job.tenant_id, job.request_name);
      if (r == nullptr || r->state != RequestState::kQueued) continue;
      r->state = RequestState::kDispatched;
      r->connector_id = params.connector_id;
      r->ca_identity = params.ca_identity;
      r->update_time = TruncateToMicros(params.now);
      RecordChange(r);
      changes.push_back({r->tenant_id, "", r->name, r->change_seq, r->state});
      if (params.dispatched_requests != nullptr) (*params.dispatched_requests)[r->name] = *r;
    }
  }
  Notify(changes);
  return claimed;
}

absl::StatusOr<CertificateRequestRecord> FakeStore::CompleteJob(const JobCompletion& completion) {
  CertificateRequestRecord result;
  std::vector<Change> changes;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(BeginCall());
    if (completion.job_state == JobState::kLeased) {
      return absl::InvalidArgumentError(
          absl::StrCat("complete job ", completion.job_id, ": the outcome cannot be LEASED"));
    }
    auto it = jobs_.find(completion.job_id);
    if (it == jobs_.end() || it->second.tenant_id != completion.tenant_id) {
      return JobNotFound(completion.job_id);
    }
    JobRecord& job = it->second;
    if (job.state == JobState::kDone || job.state == JobState::kFailed) {
      return JobAlreadyEnded(job.job_id, JobStateName(job.state));
    }
    std::optional<JobRecord> follow_up = completion.follow_up;
    if (follow_up.has_value()) {
      follow_up->tenant_id = job.tenant_id;
      follow_up->request_name = job.request_name;
      RETURN_IF_ERROR(ValidateJob(*follow_up));
    }
    CertificateRequestRecord* r = FindRequest(job.tenant_id, job.request_name);
    if (r == nullptr) return RequestNotFound(job.request_name);  // cannot happen: jobs cascade
    const bool writes_request =
        completion.update_request || completion.job_state != JobState::kReady;
    if (writes_request && completion.expected_request_state.has_value() &&
        r->state != *completion.expected_request_state) {
      return RequestChangedMeanwhile(r->name, *completion.expected_request_state);
    }

    const bool was_leased = job.state == JobState::kLeased;
    job.state = completion.job_state;
    bool ca_ready = false;
    if (completion.job_state == JobState::kReady) {
      job.connector_id.clear();
      job.lease_until = absl::InfinitePast();
      job.not_before = TruncateToMicros(completion.retry_not_before);
      ca_ready = job.not_before <= completion.now;
    }
    // As PostgresStore: a job that left LEASED freed a place under the per-CA limit, and
    // READY jobs of its CA that are claimable now may have no notification coming.
    if (was_leased && !ca_ready) {
      for (const auto& [other_id, other] : jobs_) {
        if (other_id != job.job_id && other.tenant_id == job.tenant_id &&
            other.ca_id == job.ca_id && other.state == JobState::kReady &&
            other.not_before <= completion.now) {
          ca_ready = true;
          break;
        }
      }
    }
    if (ca_ready) changes.push_back({job.tenant_id, job.ca_id, "", 0});
    if (completion.update_request || completion.job_state != JobState::kReady) {
      ApplyMutableFields(completion.request, r);
      RecordChange(r);
      changes.push_back({r->tenant_id, "", r->name, r->change_seq, r->state});
    }
    if (follow_up.has_value()) {
      JobRecord inserted = InsertJob(*follow_up);
      if (inserted.not_before <= completion.now) {
        changes.push_back({inserted.tenant_id, inserted.ca_id, "", 0});
      }
    }
    result = *r;
  }
  Notify(changes);
  return result;
}

absl::StatusOr<int> FakeStore::ExpireLeases(absl::Time now) {
  int expired = 0;
  std::vector<Change> changes;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(BeginCall());
    std::set<std::pair<std::string, std::string>> ready;
    for (auto& [id, job] : jobs_) {
      if (job.state != JobState::kLeased || job.lease_until >= now) continue;
      job.state = JobState::kReady;
      job.connector_id.clear();
      job.lease_until = absl::InfinitePast();
      if (job.kind == JobKind::kSubmit) {
        const CertificateRequestRecord* r = FindRequest(job.tenant_id, job.request_name);
        if (r != nullptr && !r->ca_identity.empty()) job.required_identity = r->ca_identity;
      }
      ++expired;
      ready.insert({job.tenant_id, job.ca_id});
    }
    for (const auto& [tenant_id, ca_id] : ready) changes.push_back({tenant_id, ca_id, "", 0});
  }
  Notify(changes);
  return expired;
}

absl::StatusOr<std::vector<CertificateRequestRecord>> FakeStore::ListWaitingRequestsCreatedBefore(
    RequestState state, absl::Time created_before, int limit) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  RETURN_IF_ERROR(ValidateWaitingState(state));
  RETURN_IF_ERROR(ValidatePageSize("waiting request", limit));
  std::vector<CertificateRequestRecord> out;
  for (const auto& [name, r] : requests_) {
    if (r.state == state && r.create_time < created_before) out.push_back(r);
  }
  std::sort(out.begin(), out.end(),
            [](const CertificateRequestRecord& a, const CertificateRequestRecord& b) {
              return std::tie(a.create_time, a.name) < std::tie(b.create_time, b.name);
            });
  if (static_cast<int>(out.size()) > limit) out.resize(limit);
  return out;
}

absl::StatusOr<std::vector<CertificateRequestRecord>> FakeStore::ListOverdueQueuedRequests(
    absl::Time now, int limit) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  RETURN_IF_ERROR(ValidatePageSize("overdue request", limit));
  std::vector<CertificateRequestRecord> out;
  for (const auto& [name, r] : requests_) {
    if (r.state == RequestState::kQueued && r.queue_deadline < now) out.push_back(r);
  }
  std::sort(out.begin(), out.end(),
            [](const CertificateRequestRecord& a, const CertificateRequestRecord& b) {
              return std::tie(a.queue_deadline, a.name) < std::tie(b.queue_deadline, b.name);
            });
  if (out.size() > static_cast<size_t>(limit)) out.resize(limit);
  return out;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> FakeStore::ListCasWithReadyJobs(
    absl::Time now) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  std::set<std::pair<std::string, std::string>> ready;
  for (const auto& [id, job] : jobs_) {
    if (job.state == JobState::kReady && job.not_before <= now) {
      ready.insert({job.tenant_id, job.ca_id});
    }
  }
  return std::vector<std::pair<std::string, std::string>>(ready.begin(), ready.end());
}

absl::StatusOr<JobRecord> FakeStore::GetJob(const std::string& tenant_id, int64_t job_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || it->second.tenant_id != tenant_id) return JobNotFound(job_id);
  return it->second;
}

absl::StatusOr<JobAndRequest> FakeStore::GetJobAndRequest(const std::string& tenant_id,
                                                         int64_t job_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || it->second.tenant_id != tenant_id) return JobNotFound(job_id);
  const CertificateRequestRecord* request = FindRequest(tenant_id, it->second.request_name);
  if (request == nullptr) return JobNotFound(job_id);  // jobs go with their request
  return JobAndRequest{it->second, *request};
}

absl::StatusOr<int> FakeStore::ExtendLeases(const std::string& tenant_id,
                                            const std::string& connector_id,
                                            absl::Time lease_until) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  int extended = 0;
  for (auto& [id, job] : jobs_) {
    if (job.tenant_id == tenant_id && job.state == JobState::kLeased &&
        job.connector_id == connector_id) {
      job.lease_until = std::max(job.lease_until, TruncateToMicros(lease_until));
      ++extended;
    }
  }
  return extended;
}

absl::StatusOr<std::vector<JobRecord>> FakeStore::ListLeasedJobs(const std::string& tenant_id,
                                                                 const std::string& connector_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(BeginCall());
  std::vector<JobRecord> out;
  for (const auto& [id, job] : jobs_) {
    if (job.tenant_id == tenant_id && job.state == JobState::kLeased &&
        job.connector_id == connector_id) {
      out.push_back(job);
    }
  }
  return out;
}

}  // namespace certbridge::broker
