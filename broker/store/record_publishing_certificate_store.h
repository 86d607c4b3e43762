// RecordPublishingCertificateStore: a CertificateStore decorator that hands the record a
// write returned to this process's ChangeListener (OnRequestRecord) as soon as the write
// committed, so that a call waiting on this replica for that request answers from the
// record: no read, and no wait for the NOTIFY to come back through the database
// (docs/architecture.md, "Change notifications"; issue 9).
//
//   RecordPublishingCertificateStore requests(postgres_store);
//   JobDispatcher dispatcher(..., &requests, ...);   // writers go through the decorator
//   requests.SetChangeListener(&fanout);             // also sets the inner store's
//
// Published, after the inner call succeeded: the request that CompleteJob,
// UpdateCertificateRequest and UpdateRequestAndAddJob return (each is the committed row,
// change_seq included). Not published: CreateCertificateRequest (its caller holds the
// record already) and ClaimJobs (QUEUED -> DISPATCHED settles no waiter). Every other method
// is forwarded unchanged. The inner store's notifications are untouched: they still reach
// the same listener, for every replica, and remain what guarantees a wake-up.
//
// Thread-safety: as the inner store. The listener is called on the writer's thread, after
// the inner call returned, under a reader lock that SetChangeListener waits out: once
// SetChangeListener(nullptr) returned, the old listener is not called again.
#ifndef CERTBRIDGE_BROKER_STORE_RECORD_PUBLISHING_CERTIFICATE_STORE_H_
#define CERTBRIDGE_BROKER_STORE_RECORD_PUBLISHING_CERTIFICATE_STORE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "broker/store/certificate_store.h"

namespace certbridge::broker {

class RecordPublishingCertificateStore final : public CertificateStore {
 public:
  // `inner` is not owned and must outlive this.
  explicit RecordPublishingCertificateStore(CertificateStore* inner) : inner_(inner) {}

  absl::Status SetDeliveryCertificate(const std::string& tenant_id,
                                      const std::string& certificate_pem) override;
  absl::StatusOr<std::string> GetDeliveryCertificate(const std::string& tenant_id) override;
  absl::StatusOr<CreateRequestResult> CreateCertificateRequest(
      const CertificateRequestRecord& request, const JobRecord& first_job) override;
  absl::StatusOr<CertificateRequestRecord> GetCertificateRequest(const std::string& tenant_id,
                                                                 const std::string& name) override;
  absl::StatusOr<CertificateRequestRecord> GetCertificateRequestByRequestId(
      const std::string& tenant_id, const std::string& request_id) override;
  absl::StatusOr<CertificateRequestRecord> GetCertificateRequestBySerial(
      const std::string& tenant_id, const std::string& ca_id,
      const std::string& serial_hex) override;
  absl::StatusOr<std::vector<CertificateRequestRecord>> ListCertificateRequests(
      const std::string& tenant_id, const RequestFilter& filter, int64_t before_seq,
      int limit) override;
  absl::StatusOr<std::vector<CertificateRequestRecord>> ListRequestChanges(
      const std::string& tenant_id, int64_t after_change_seq, int limit) override;
  absl::StatusOr<int64_t> LatestChangeSeq(const std::string& tenant_id) override;
  absl::StatusOr<int> DeleteRequestChangesBefore(absl::Time update_time_before,
                                                 int limit) override;
  absl::StatusOr<CertificateRequestRecord> UpdateCertificateRequest(
      const std::string& tenant_id, const std::string& name,
      const std::vector<RequestState>& from, const CertificateRequestRecord& update,
      bool fail_open_jobs) override;
  absl::StatusOr<JobRecord> AddJob(const JobRecord& job) override;
  absl::StatusOr<CertificateRequestRecord> UpdateRequestAndAddJob(
      const std::string& tenant_id, const std::string& name,
      const std::vector<RequestState>& from, const CertificateRequestRecord& update,
      const JobRecord& job) override;
  absl::StatusOr<std::vector<JobRecord>> ClaimJobs(const ClaimParams& params) override;
  absl::StatusOr<CertificateRequestRecord> CompleteJob(const JobCompletion& completion) override;
  absl::StatusOr<int> ExpireLeases(absl::Time now) override;
  absl::StatusOr<std::vector<CertificateRequestRecord>> ListOverdueQueuedRequests(
      absl::Time now, int limit) override;
  absl::StatusOr<std::vector<CertificateRequestRecord>> ListWaitingRequestsCreatedBefore(
      RequestState state, absl::Time created_before, int limit) override;
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListCasWithReadyJobs(
      absl::Time now) override;
  absl::StatusOr<JobRecord> GetJob(const std::string& tenant_id, int64_t job_id) override;
  absl::StatusOr<JobAndRequest> GetJobAndRequest(const std::string& tenant_id,
                                                 int64_t job_id) override;
  absl::StatusOr<int> ExtendLeases(const std::string& tenant_id, const std::string& connector_id,
                                   absl::Time lease_until) override;
  absl::StatusOr<std::vector<JobRecord>> ListLeasedJobs(const std::string& tenant_id,
                                                        const std::string& connector_id) override;

  // Sets the inner store's listener and the one written records go to (the same).
  void SetChangeListener(ChangeListener* listener) override;

 private:
  // Hands a successful write's record to the listener; returns `written` unchanged.
  absl::StatusOr<CertificateRequestRecord> Published(
      absl::StatusOr<CertificateRequestRecord> written);

  CertificateStore* const inner_;
  absl::Mutex mu_;
  ChangeListener* listener_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_RECORD_PUBLISHING_CERTIFICATE_STORE_H_
