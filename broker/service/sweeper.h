// The broker's slow safety net and the fan-out of store notifications.
//
// ChangeFanout turns the store's change notifications (from every replica) into wake-ups
// of the dispatcher (new READY jobs), of waiting calls and Watch streams, of threads waiting
// for a request (RequestChangeWaiters: the SCEP listener's Enroll), and of the agent
// streams and registration long-polls of a changed connector; and the records written on
// this replica (RecordPublishingCertificateStore) into answers of the waiting calls and
// threads, without a read.
//
// Sweeper runs every `period` on its own thread: leases whose agent vanished go back to
// READY, QUEUED requests past their deadline become EXPIRED with the reason, and every CA
// with READY jobs is woken once more in case a notification was lost. It also removes
// request changes (the Watch history) older than the retention, a bounded batch per pass,
// so a Watch cursor older than that is refused and the client re-lists
// (docs/architecture.md §4.8).
#ifndef CERTBRIDGE_BROKER_SERVICE_SWEEPER_H_
#define CERTBRIDGE_BROKER_SERVICE_SWEEPER_H_

#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "broker/service/certificate_api.h"
#include "broker/service/certificate_grpc_service.h"
#include "broker/service/connector_events.h"
#include "broker/service/job_dispatcher.h"
#include "broker/service/request_change_waiters.h"
#include "broker/store/certificate_store.h"
#include "common/clock.h"

namespace certbridge::broker {

class ChangeFanout final : public ChangeListener {
 public:
  // Nothing is owned. waiting_threads may be nullptr (nobody waits synchronously).
  ChangeFanout(JobDispatcher* dispatcher, CertificateGrpcService* certificates,
               ConnectorEvents* connectors, RequestChangeWaiters* waiting_threads = nullptr)
      : dispatcher_(dispatcher),
        certificates_(certificates),
        connectors_(connectors),
        waiting_threads_(waiting_threads) {}
  void OnJobsReady(const std::string& tenant_id, const std::string& ca_id) override {
    dispatcher_->JobsReady(tenant_id, ca_id);
  }
  void OnRequestChanged(const std::string& tenant_id, const std::string& request_name,
                        int64_t change_seq, std::optional<RequestState> state) override {
    certificates_->RequestChanged(tenant_id, request_name, change_seq, state);
    if (waiting_threads_ != nullptr) {
      waiting_threads_->RequestChanged(tenant_id, request_name, change_seq, state);
    }
  }
  // A write on this replica returned the record: its waiters answer from it (no read).
  // Watch streams and the dispatcher follow OnRequestChanged only.
  void OnRequestRecord(const CertificateRequestRecord& record) override {
    certificates_->RequestRecorded(record);
    if (waiting_threads_ != nullptr) waiting_threads_->RequestRecorded(record);
  }
  void OnConnectorChanged(const std::string&, const std::string& connector_id) override {
    connectors_->ConnectorChanged(connector_id);
  }

 private:
  JobDispatcher* dispatcher_;
  CertificateGrpcService* certificates_;
  ConnectorEvents* connectors_;
  RequestChangeWaiters* waiting_threads_;
};

class Sweeper {
 public:
  // Nothing is owned; all must outlive this. Starts the thread.
  // change_retention: how long request changes are kept for Watch cursors (> 0).
  Sweeper(CertificateStore* requests, CertificateApi* api, JobDispatcher* dispatcher,
          const Clock* clock, absl::Duration period, absl::Duration change_retention);
  // Stops and joins the thread.
  ~Sweeper();

  // One pass (also what the thread runs). Blocking.
  void SweepOnce();

 private:
  CertificateStore* requests_;
  CertificateApi* api_;
  JobDispatcher* dispatcher_;
  const Clock* clock_;
  absl::Duration period_;
  absl::Duration change_retention_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_SWEEPER_H_
