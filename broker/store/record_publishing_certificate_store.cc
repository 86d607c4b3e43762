#include "broker/store/record_publishing_certificate_store.h"

namespace certbridge::broker {

absl::StatusOr<CertificateRequestRecord> RecordPublishingCertificateStore::Published(
    absl::StatusOr<CertificateRequestRecord> written) {
  if (!written.ok()) return written;
  absl::ReaderMutexLock lock(&mu_);
  if (listener_ != nullptr) listener_->OnRequestRecord(*written);
  return written;
}

void RecordPublishingCertificateStore::SetChangeListener(ChangeListener* listener) {
  // The inner store first: when stopping, its listener thread is done before this returns;
  // the writer lock then waits for a publication under way.
  inner_->SetChangeListener(listener);
  absl::MutexLock lock(&mu_);
  listener_ = listener;
}

absl::StatusOr<CertificateRequestRecord> RecordPublishingCertificateStore::CompleteJob(
    const JobCompletion& completion) {
  return Published(inner_->CompleteJob(completion));
}

absl::StatusOr<CertificateRequestRecord> RecordPublishingCertificateStore::UpdateCertificateRequest(
    const std::string& tenant_id, const std::string& name, const std::vector<RequestState>& from,
    const CertificateRequestRecord& update, bool fail_open_jobs) {
  return Published(inner_->UpdateCertificateRequest(tenant_id, name, from, update, fail_open_jobs));
}

absl::StatusOr<CertificateRequestRecord> RecordPublishingCertificateStore::UpdateRequestAndAddJob(
    const std::string& tenant_id, const std::string& name, const std::vector<RequestState>& from,
    const CertificateRequestRecord& update, const JobRecord& job) {
  return Published(inner_->UpdateRequestAndAddJob(tenant_id, name, from, update, job));
}

// ---- Forwarded unchanged.

absl::Status RecordPublishingCertificateStore::SetDeliveryCertificate(
    const std::string& tenant_id, const std::string& certificate_pem) {
  return inner_->SetDeliveryCertificate(tenant_id, certificate_pem);
}

absl::StatusOr<std::string> RecordPublishingCertificateStore::GetDeliveryCertificate(
    const std::string& tenant_id) {
  return inner_->GetDeliveryCertificate(tenant_id);
}

absl::StatusOr<CreateRequestResult> RecordPublishingCertificateStore::CreateCertificateRequest(
    const CertificateRequestRecord& request, const JobRecord& first_job) {
  return inner_->CreateCertificateRequest(request, first_job);
}

absl::StatusOr<CertificateRequestRecord> RecordPublishingCertificateStore::GetCertificateRequest(
    const std::string& tenant_id, const std::string& name) {
  return inner_->GetCertificateRequest(tenant_id, name);
}

absl::StatusOr<CertificateRequestRecord>
RecordPublishingCertificateStore::GetCertificateRequestByRequestId(const std::string& tenant_id,
                                                                  const std::string& request_id) {
  return inner_->GetCertificateRequestByRequestId(tenant_id, request_id);
}

absl::StatusOr<CertificateRequestRecord>
RecordPublishingCertificateStore::GetCertificateRequestBySerial(const std::string& tenant_id,
                                                               const std::string& ca_id,
                                                               const std::string& serial_hex) {
  return inner_->GetCertificateRequestBySerial(tenant_id, ca_id, serial_hex);
}

absl::StatusOr<std::vector<CertificateRequestRecord>>
RecordPublishingCertificateStore::ListCertificateRequests(const std::string& tenant_id,
                                                         const RequestFilter& filter,
                                                         int64_t before_seq, int limit) {
  return inner_->ListCertificateRequests(tenant_id, filter, before_seq, limit);
}

absl::StatusOr<std::vector<CertificateRequestRecord>>
RecordPublishingCertificateStore::ListRequestChanges(const std::string& tenant_id,
                                                    int64_t after_change_seq, int limit) {
  return inner_->ListRequestChanges(tenant_id, after_change_seq, limit);
}

absl::StatusOr<int64_t> RecordPublishingCertificateStore::LatestChangeSeq(
    const std::string& tenant_id) {
  return inner_->LatestChangeSeq(tenant_id);
}

absl::StatusOr<int> RecordPublishingCertificateStore::DeleteRequestChangesBefore(
    absl::Time update_time_before, int limit) {
  return inner_->DeleteRequestChangesBefore(update_time_before, limit);
}

absl::StatusOr<JobRecord> RecordPublishingCertificateStore::AddJob(const JobRecord& job) {
  return inner_->AddJob(job);
}

absl::StatusOr<std::vector<JobRecord>> RecordPublishingCertificateStore::ClaimJobs(
    const ClaimParams& params) {
  return inner_->ClaimJobs(params);
}

absl::StatusOr<int> RecordPublishingCertificateStore::ExpireLeases(absl::Time now) {
  return inner_->ExpireLeases(now);
}

absl::StatusOr<std::vector<CertificateRequestRecord>>
RecordPublishingCertificateStore::ListOverdueQueuedRequests(absl::Time now, int limit) {
  return inner_->ListOverdueQueuedRequests(now, limit);
}

absl::StatusOr<std::vector<CertificateRequestRecord>>
RecordPublishingCertificateStore::ListWaitingRequestsCreatedBefore(RequestState state,
                                                                  absl::Time created_before,
                                                                  int limit) {
  return inner_->ListWaitingRequestsCreatedBefore(state, created_before, limit);
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
RecordPublishingCertificateStore::ListCasWithReadyJobs(absl::Time now) {
  return inner_->ListCasWithReadyJobs(now);
}

absl::StatusOr<JobRecord> RecordPublishingCertificateStore::GetJob(const std::string& tenant_id,
                                                                   int64_t job_id) {
  return inner_->GetJob(tenant_id, job_id);
}

absl::StatusOr<JobAndRequest> RecordPublishingCertificateStore::GetJobAndRequest(
    const std::string& tenant_id, int64_t job_id) {
  return inner_->GetJobAndRequest(tenant_id, job_id);
}

absl::StatusOr<int> RecordPublishingCertificateStore::ExtendLeases(const std::string& tenant_id,
                                                                   const std::string& connector_id,
                                                                   absl::Time lease_until) {
  return inner_->ExtendLeases(tenant_id, connector_id, lease_until);
}

absl::StatusOr<std::vector<JobRecord>> RecordPublishingCertificateStore::ListLeasedJobs(
    const std::string& tenant_id, const std::string& connector_id) {
  return inner_->ListLeasedJobs(tenant_id, connector_id);
}

}  // namespace certbridge::broker
