#include "broker/service/job_dispatcher.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace certbridge::broker {

JobDispatcher::JobDispatcher(Store* store, CertificateStore* requests, WorkerPool* pool,
                             const Clock* clock, JobDispatcherOptions options)
    : store_(store),
      requests_(requests),
      pool_(pool),
      clock_(clock),
      options_(std::move(options)),
      metrics_(options_.metrics != nullptr ? options_.metrics : &no_metrics_) {}

int64_t JobDispatcher::AddAgent(const AgentSlotInfo& info, JobSink* sink) {
  absl::MutexLock lock(&mu_);
  const int64_t id = next_slot_id_++;
  Slot& slot = slots_[id];
  slot.info = info;
  if (slot.info.window <= 0) slot.info.window = 4;
  slot.sink = sink;
  metrics_->AgentConnected();
  // Jobs may wait that only this stream can take (bound to its identity or connector).
  for (const std::string& ca_id : slot.info.ca_ids) cas_[{info.tenant_id, ca_id}].slots.insert(id);
  ScheduleSlotCasLocked(slot);
  return id;
}

void JobDispatcher::UpdateAgentCas(int64_t slot_id, std::vector<std::string> ca_ids) {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(slot_id);
  if (it == slots_.end()) return;
  Slot& slot = it->second;
  std::vector<std::string> before = std::move(slot.info.ca_ids);
  slot.info.ca_ids = std::move(ca_ids);
  for (const std::string& ca_id : slot.info.ca_ids) {
    cas_[{slot.info.tenant_id, ca_id}].slots.insert(slot_id);
  }
  for (const std::string& ca_id : before) ScheduleLocked({slot.info.tenant_id, ca_id});
  ScheduleSlotCasLocked(slot);
}

void JobDispatcher::RemoveAgent(int64_t slot_id) {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(slot_id);
  if (it == slots_.end()) return;
  const AgentSlotInfo info = std::move(it->second.info);
  slots_.erase(it);
  metrics_->AgentDisconnected();
  // Its wake-ups go to the other slots (or nowhere, if none serves the CA here).
  for (const std::string& ca_id : info.ca_ids) {
    auto wake = cas_.find({info.tenant_id, ca_id});
    if (wake != cas_.end()) wake->second.slots.erase(slot_id);
    ScheduleLocked({info.tenant_id, ca_id});
  }
}

size_t JobDispatcher::AgentCount() const {
  absl::MutexLock lock(&mu_);
  return slots_.size();
}

bool JobDispatcher::Serves(const Slot& slot, const CaKey& ca) {
  return slot.info.tenant_id == ca.first &&
         std::find(slot.info.ca_ids.begin(), slot.info.ca_ids.end(), ca.second) !=
             slot.info.ca_ids.end();
}

void JobDispatcher::JobsReady(const std::string& tenant_id, const std::string& ca_id) {
  absl::MutexLock lock(&mu_);
  std::set<CaKey> woken;
  for (const auto& [id, slot] : slots_) {
    if (slot.info.tenant_id != tenant_id) continue;
    for (const std::string& served : slot.info.ca_ids) {
      if (ca_id.empty() || served == ca_id) woken.insert({tenant_id, served});
    }
  }
  // A CA no slot here serves is left to the replicas that hold its streams.
  for (const CaKey& ca : woken) {
    cas_[ca].any_slot = true;
    ScheduleLocked(ca);
  }
}

void JobDispatcher::JobsStillReady(const std::string& tenant_id, const std::string& ca_id) {
  absl::MutexLock lock(&mu_);
  const CaKey ca{tenant_id, ca_id};
  std::vector<int64_t> serving;
  for (const auto& [id, slot] : slots_) {
    if (Serves(slot, ca)) serving.push_back(id);
  }
  if (serving.empty()) return;
  CaWake& wake = cas_[ca];
  wake.slots.insert(serving.begin(), serving.end());
  ScheduleLocked(ca);
}

void JobDispatcher::ScheduleSlotCasLocked(const Slot& slot) {
  // Copied: a claim started here may not change the slot's CAs, but stays safe if it did.
  const std::vector<std::string> ca_ids = slot.info.ca_ids;
  for (const std::string& ca_id : ca_ids) ScheduleLocked({slot.info.tenant_id, ca_id});
}

void JobDispatcher::ScheduleLocked(const CaKey& ca) {
  auto it = cas_.find(ca);
  if (it == cas_.end()) return;
  CaWake& wake = it->second;
  if (wake.claiming) return;  // EndClaimLocked schedules again
  bool served = false;
  int64_t chosen_id = 0;
  Slot* chosen = nullptr;
  for (auto it_slot = wake.slots.begin(); it_slot != wake.slots.end();) {
    // A slot that left, or no longer serves the CA, owes it no claim.
    auto slot = slots_.find(*it_slot);
    if (slot == slots_.end() || !Serves(slot->second, ca)) {
      it_slot = wake.slots.erase(it_slot);
    } else {
      ++it_slot;
    }
  }
  for (auto& [id, slot] : slots_) {
    if (!Serves(slot, ca)) continue;
    served = true;
    if (!wake.any_slot && wake.slots.count(id) == 0) continue;
    const int free = slot.info.window - slot.in_flight;
    if (slot.claiming || free <= 0) continue;  // remembered: its claim's end or a result
    const int chosen_free = chosen == nullptr ? 0 : chosen->info.window - chosen->in_flight;
    if (chosen == nullptr || free > chosen_free ||
        (free == chosen_free && slot.last_chosen < chosen->last_chosen)) {
      chosen_id = id;
      chosen = &slot;
    }
  }
  if (!served) wake.any_slot = false;  // no stream for it here: other replicas claim
  if (!wake.any_slot && wake.slots.empty()) {
    cas_.erase(it);
    return;
  }
  if (chosen != nullptr) StartClaimLocked(chosen_id, *chosen);
}

void JobDispatcher::StartClaimLocked(int64_t slot_id, Slot& slot) {
  // One claim takes every woken CA of the slot that it may serve now: one transaction.
  std::vector<std::string> ca_ids;
  for (const std::string& ca_id : slot.info.ca_ids) {
    auto it = cas_.find({slot.info.tenant_id, ca_id});
    if (it == cas_.end()) continue;
    CaWake& wake = it->second;
    if (wake.claiming || !(wake.any_slot || wake.slots.count(slot_id) > 0)) continue;
    wake.claiming = true;
    wake.any_slot = false;
    wake.slots.erase(slot_id);
    ca_ids.push_back(ca_id);
  }
  if (ca_ids.empty()) return;
  slot.claiming = true;
  slot.last_chosen = ++choices_;
  pool_->Post([this, slot_id, tenant_id = slot.info.tenant_id, ca_ids = std::move(ca_ids)] {
    Claim(slot_id, tenant_id, ca_ids);
  });
}

void JobDispatcher::EndClaimLocked(const std::string& tenant_id,
                                   const std::vector<std::string>& ca_ids, bool more) {
  for (const std::string& ca_id : ca_ids) {
    auto it = cas_.find({tenant_id, ca_id});
    if (it == cas_.end()) continue;  // cannot happen: a claiming entry is kept
    it->second.claiming = false;
    if (more) it->second.any_slot = true;
  }
}

void JobDispatcher::Claim(int64_t slot_id, const std::string& tenant_id,
                          const std::vector<std::string>& ca_ids) {
  ClaimParams params;
  {
    absl::MutexLock lock(&mu_);
    auto it = slots_.find(slot_id);
    if (it != slots_.end()) {
      const Slot& slot = it->second;
      params.tenant_id = slot.info.tenant_id;
      params.connector_id = slot.info.connector_id;
      params.ca_identity = slot.info.ca_identity;
      params.limit = slot.info.window - slot.in_flight;
      for (const std::string& ca_id : ca_ids) {
        if (Serves(slot, {tenant_id, ca_id})) params.ca_ids.push_back(ca_id);
      }
    }
    if (params.limit <= 0 || params.ca_ids.empty()) {
      // The stream ended, or re-sent leases filled its window, before the claim ran: the
      // wake-ups stay for another slot, or for this one's next free credit.
      EndClaimLocked(tenant_id, ca_ids, /*more=*/true);
      if (it != slots_.end()) it->second.claiming = false;
      for (const std::string& ca_id : ca_ids) ScheduleLocked({tenant_id, ca_id});
      if (it != slots_.end()) ScheduleSlotCasLocked(it->second);
      return;
    }
  }
  params.per_ca_limit = options_.per_ca_limit;
  params.now = clock_->Now();
  params.lease_until = params.now + options_.lease;
  // The requests the claim dispatched come back with it: no read per job (issue 9).
  std::map<std::string, CertificateRequestRecord> dispatched;
  params.dispatched_requests = &dispatched;
  absl::StatusOr<std::vector<JobRecord>> jobs = requests_->ClaimJobs(params);
  if (!jobs.ok()) {
    LogWarning("dispatch.claim_failed",
               {{"connector_id", params.connector_id}, {"error", jobs.status().message()}});
  }
  std::vector<v1::Job> messages;
  if (jobs.ok()) {
    metrics_->JobsClaimed(static_cast<int>(jobs->size()));
    for (const JobRecord& job : *jobs) {
      auto known = dispatched.find(job.request_name);
      absl::StatusOr<v1::Job> message =
          BuildJob(job, known != dispatched.end() ? &known->second : nullptr);
      if (message.ok()) {
        messages.push_back(*std::move(message));
        continue;
      }
      // The job cannot be described to an agent (e.g. its CA was deleted): fail it so
      // the request reaches a terminal state with the reason.
      JobCompletion failed;
      failed.job_id = job.job_id;
      failed.tenant_id = job.tenant_id;
      failed.connector_id = params.connector_id;
      failed.now = clock_->Now();
      failed.job_state = JobState::kFailed;
      absl::StatusOr<CertificateRequestRecord> request =
          requests_->GetCertificateRequest(job.tenant_id, job.request_name);
      if (request.ok()) {
        failed.request = *request;
        if (job.kind != JobKind::kRevoke) failed.request.state = RequestState::kFailed;
        failed.request.error_code = "DISPATCH_FAILED";
        failed.request.error_message = std::string(message.status().message());
        failed.request.update_time = failed.now;
      } else {
        failed.update_request = false;
      }
      (void)requests_->CompleteJob(failed);
    }
  }
  absl::MutexLock lock(&mu_);
  // A claim that filled its limit may have left more: the next slot claims. One that did
  // not found every job this slot may take; the rest wait for their own wake-up.
  EndClaimLocked(tenant_id, ca_ids,
                 /*more=*/jobs.ok() && static_cast<int>(jobs->size()) == params.limit);
  auto it = slots_.find(slot_id);
  if (it != slots_.end()) {
    Slot& slot = it->second;
    for (v1::Job& message : messages) {
      slot.sent[message.job_id()] = true;
      ++slot.in_flight;
      slot.sink->SendJob(std::move(message));
    }
    slot.claiming = false;
  }  // else the stream ended; its leases expire or are re-sent on reconnect
  for (const std::string& ca_id : ca_ids) ScheduleLocked({tenant_id, ca_id});
  if (it != slots_.end()) ScheduleSlotCasLocked(it->second);
}

absl::StatusOr<v1::Job> JobDispatcher::BuildJob(const JobRecord& job,
                                                const CertificateRequestRecord* known) {
  absl::StatusOr<CertificateRequestRecord> request =
      known != nullptr ? absl::StatusOr<CertificateRequestRecord>(*known)
                       : requests_->GetCertificateRequest(job.tenant_id, job.request_name);
  if (!request.ok()) return request.status();
  absl::StatusOr<CertificateAuthorityRecord> ca = store_->GetCertificateAuthority(job.tenant_id, job.ca_id);
  if (absl::IsNotFound(ca.status())) {
    return absl::FailedPreconditionError(
        absl::StrCat("certificate authority ", job.ca_id, " was deleted"));
  }
  if (!ca.ok()) return ca.status();
  v1::Job out;
  out.set_job_id(job.job_id);
  out.set_request_name(job.request_name);
  out.set_ca_config(absl::StrCat(ca->host, "\\", ca->ca_name));
  out.set_attempt(job.attempts);
  switch (job.kind) {
    case JobKind::kSubmit:
      out.set_kind(v1::Job::KIND_SUBMIT);
      out.set_attributes(request->attributes);
      if (request->key_type.empty()) {
        out.set_csr_pem(request->csr_pem);
      } else {
        v1::KeyGenerationJob* keygen = out.mutable_key_generation();
        keygen->set_key_type(request->key_type);
        keygen->set_subject(request->subject);
        for (const std::string& san : request->subject_alt_names) keygen->add_subject_alt_names(san);
        keygen->set_pkcs12_profile(request->pkcs12_profile);
        absl::StatusOr<std::string> delivery = requests_->GetDeliveryCertificate(job.tenant_id);
        if (!delivery.ok()) return delivery.status();
        if (delivery->empty()) {
          return absl::FailedPreconditionError(
              "the tenant has no delivery certificate for key-generation mode; set one with "
              "AdminService.SetDeliveryCertificate");
        }
        keygen->set_delivery_certificate_pem(*delivery);
      }
      break;
    case JobKind::kRetrieve:
      out.set_kind(v1::Job::KIND_RETRIEVE);
      out.set_ca_request_id(request->ca_request_id);
      if (!request->key_type.empty()) {
        // The agent that generated the key builds the PKCS#12 when the certificate comes.
        out.mutable_key_generation()->set_pkcs12_profile(request->pkcs12_profile);
      }
      break;
    case JobKind::kRevoke:
      out.set_kind(v1::Job::KIND_REVOKE);
      out.set_serial_number(job.serial_hex);
      out.set_revocation_reason(job.revocation_reason);
      break;
  }
  return out;
}

absl::Status JobDispatcher::HandleResult(int64_t slot_id, const v1::JobResult& result) {
  const absl::Time received = clock_->Now();
  AgentSlotInfo info;
  {
    absl::MutexLock lock(&mu_);
    auto it = slots_.find(slot_id);
    if (it == slots_.end()) return absl::OkStatus();
    info = it->second.info;
  }
  absl::Status status = [&]() -> absl::Status {
    // The job and its request in one read (issue 9: one query per result, not two).
    absl::StatusOr<JobAndRequest> read = requests_->GetJobAndRequest(info.tenant_id, result.job_id());
    absl::StatusOr<JobRecord> job = read.ok() ? absl::StatusOr<JobRecord>(read->job) : read.status();
    if (absl::IsNotFound(job.status())) {
      LogWarning("dispatch.unknown_job", {{"connector_id", info.connector_id},
                                          {"job_id", absl::StrCat(result.job_id())}});
      return absl::OkStatus();
    }
    if (!job.ok()) return job.status();
    if (job->state == JobState::kDone || job->state == JobState::kFailed) return absl::OkStatus();
    if (absl::Status sender = CheckResultSender(*job, info.connector_id, info.ca_ids);
        !sender.ok()) {
      // Acknowledged and dropped: an agent whose lease was taken over must not resend it
      // forever, and the holder's own result is the one that counts.
      LogWarning("dispatch.result_refused", {{"connector_id", info.connector_id},
                                             {"tenant_id", info.tenant_id},
                                             {"error", sender.message()}});
      return absl::OkStatus();
    }
    // The outcome is decided from the request as read, and written only if the request
    // is still in that state (ABORTED otherwise): then read and decide again.
    absl::StatusOr<CertificateRequestRecord> stored;
    RequestState decided_on = RequestState::kQueued;
    absl::Time dispatched_at;
    for (int attempt = 0; attempt < 3; ++attempt) {
      absl::StatusOr<CertificateRequestRecord> request =
          attempt == 0 ? absl::StatusOr<CertificateRequestRecord>(read->request)
                       : requests_->GetCertificateRequest(info.tenant_id, job->request_name);
      if (!request.ok()) return request.status();
      decided_on = request->state;
      dispatched_at = request->update_time;  // ClaimJobs set it when it dispatched
      absl::StatusOr<JobCompletion> completion =
          OutcomeOfJob(*request, *job, result, info.connector_id, info.ca_identity,
                       clock_->Now(), options_.outcome);
      if (!completion.ok()) {
        v1::JobResult failed;
        failed.set_job_id(result.job_id());
        failed.set_error_code("INVALID_ARGUMENT");
        failed.set_error_message(std::string(completion.status().message()));
        completion = OutcomeOfJob(*request, *job, failed, info.connector_id, info.ca_identity,
                                  clock_->Now(), options_.outcome);
        if (!completion.ok()) return completion.status();
      }
      stored = requests_->CompleteJob(*completion);
      if (!absl::IsAborted(stored.status())) break;
    }
    if (absl::IsFailedPrecondition(stored.status())) return absl::OkStatus();  // duplicate
    if (!stored.ok()) return stored.status();
    RecordOutcomeMetrics(job->kind, result, decided_on, dispatched_at, received, *stored);
    LogInfo("job.completed", {{"tenant_id", info.tenant_id},
                              {"request", stored->name},
                              {"job_id", absl::StrCat(result.job_id())},
                              {"state", RequestStateName(stored->state)}});
    return absl::OkStatus();
  }();
  {
    absl::MutexLock lock(&mu_);
    auto it = slots_.find(slot_id);
    if (it != slots_.end()) {
      Slot& slot = it->second;
      if (slot.sent.erase(result.job_id()) > 0) --slot.in_flight;
      // Claims only for a wake-up remembered for its CAs (issue 9): an empty claim after
      // every result cost about one transaction per certificate.
      ScheduleSlotCasLocked(slot);
    }
  }
  return status;
}

void JobDispatcher::RecordOutcomeMetrics(JobKind kind, const v1::JobResult& result,
                                         RequestState decided_on, absl::Time dispatched_at,
                                         absl::Time received,
                                         const CertificateRequestRecord& stored) {
  metrics_->CaOutcome(kind, result.ca_answered(),
                      kind == JobKind::kRevoke ? result.revoke_hresult() : result.hresult());
  if (stored.state == decided_on) return;
  const bool key_generation = !stored.key_type.empty();
  metrics_->RequestEntered(stored.state, key_generation);
  // The CA's first answer ended the request: the agent and the CA had it from dispatch
  // until the result arrived; the rest is the broker's.
  if (decided_on == RequestState::kDispatched && IsTerminal(stored.state)) {
    metrics_->RequestAnswered(key_generation, clock_->Now() - stored.create_time,
                              received - dispatched_at);
  }
}

absl::Status JobDispatcher::ExtendLeases(int64_t slot_id) {
  AgentSlotInfo info;
  {
    absl::MutexLock lock(&mu_);
    auto it = slots_.find(slot_id);
    if (it == slots_.end()) return absl::OkStatus();
    info = it->second.info;
  }
  return requests_
      ->ExtendLeases(info.tenant_id, info.connector_id, clock_->Now() + options_.lease)
      .status();
}

void JobDispatcher::ResendLeased(int64_t slot_id) {
  pool_->Post([this, slot_id] {
    AgentSlotInfo info;
    {
      absl::MutexLock lock(&mu_);
      auto it = slots_.find(slot_id);
      if (it == slots_.end()) return;
      info = it->second.info;
    }
    absl::StatusOr<std::vector<JobRecord>> leased =
        requests_->ListLeasedJobs(info.tenant_id, info.connector_id);
    if (!leased.ok()) return;
    std::vector<v1::Job> messages;
    for (const JobRecord& job : *leased) {
      absl::StatusOr<v1::Job> message = BuildJob(job);
      if (message.ok()) messages.push_back(*std::move(message));
    }
    absl::MutexLock lock(&mu_);
    auto it = slots_.find(slot_id);
    if (it == slots_.end()) return;
    for (v1::Job& message : messages) {
      if (it->second.sent.count(message.job_id())) continue;
      it->second.sent[message.job_id()] = true;
      ++it->second.in_flight;
      it->second.sink->SendJob(std::move(message));
    }
  });
}

}  // namespace certbridge::broker
