// CertificateService on the API port over the callback API. Store work runs on the
// worker pool. Calls that wait (CreateCertificateRequest's wait_timeout, RevokeCertificate)
// and Watch streams are woken by RequestChanged, which the store's change listener calls
// for changes committed by any replica; a waiting call is also answered by RequestRecorded,
// with the record a write on this replica returned (no read); a once-a-second tick ends
// waits whose time is up and re-reads Watch streams as a safety net.
#ifndef CERTBRIDGE_BROKER_SERVICE_CERTIFICATE_GRPC_SERVICE_H_
#define CERTBRIDGE_BROKER_SERVICE_CERTIFICATE_GRPC_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "broker/metrics/broker_metrics.h"
#include "broker/service/api_call_gate.h"
#include "broker/service/certificate_api.h"
#include "broker/service/pending_call.h"
#include "broker/service/worker_pool.h"
#include "broker/store/certificate_store.h"
#include "certbridge/v1/certificate.grpc.pb.h"
#include "common/clock.h"

namespace certbridge::broker {

struct CertificateServiceLimits {
  // Watch streams one tenant may hold open (on this replica); more are refused with
  // RESOURCE_EXHAUSTED. One stream sees all of a tenant's changes, so a few suffice.
  int max_watch_streams_per_tenant = 16;
  // Where open Watch streams are counted. Not owned; must outlive the service. nullptr:
  // nothing is recorded.
  BrokerMetrics* metrics = nullptr;
};

class CertificateGrpcService final : public v1::CertificateService::CallbackService {
 public:
  // Nothing is owned; all must outlive this.
  CertificateGrpcService(CertificateApi* api, CertificateStore* requests,
                         ApiCallGate* gate, WorkerPool* pool, const Clock* clock,
                         CertificateServiceLimits limits = {});
  ~CertificateGrpcService() override;

  grpc::ServerUnaryReactor* CreateCertificateRequest(
      grpc::CallbackServerContext* context, const v1::CreateCertificateRequestRequest* request,
      v1::CertificateRequest* response) override;
  grpc::ServerUnaryReactor* GetCertificateRequest(grpc::CallbackServerContext* context,
                                                  const v1::GetCertificateRequestRequest* request,
                                                  v1::CertificateRequest* response) override;
  grpc::ServerUnaryReactor* ListCertificateRequests(
      grpc::CallbackServerContext* context, const v1::ListCertificateRequestsRequest* request,
      v1::ListCertificateRequestsResponse* response) override;
  grpc::ServerWriteReactor<v1::CertificateRequestEvent>* WatchCertificateRequests(
      grpc::CallbackServerContext* context,
      const v1::WatchCertificateRequestsRequest* request) override;
  grpc::ServerUnaryReactor* CancelCertificateRequest(
      grpc::CallbackServerContext* context, const v1::CancelCertificateRequestRequest* request,
      v1::CertificateRequest* response) override;
  grpc::ServerUnaryReactor* RevokeCertificate(grpc::CallbackServerContext* context,
                                              const v1::RevokeCertificateRequest* request,
                                              v1::CertificateRequest* response) override;

  // A request of this tenant changed (empty name: some request of the tenant), by the
  // change numbered change_seq (0: unknown), leaving it in `state` (nullopt: unknown). A
  // waiting call whose last read already showed that change (or a later one) of its
  // request is not re-read, nor a waiting create when `state` would not settle it
  // (docs/architecture.md, "Change notifications"). Non-blocking.
  void RequestChanged(const std::string& tenant_id, const std::string& name,
                      int64_t change_seq = 0, std::optional<RequestState> state = std::nullopt);

  // A write on this replica committed and returned `record` (ChangeListener::
  // OnRequestRecord). A waiting call for that request (same tenant and name) that has not
  // seen this change answers from it at once if it settles the call, without a read; the
  // change's notification, when it comes, then finds nothing to do. Watch streams are not
  // touched (they follow the notifications). Runs on the writer's thread; never blocks
  // beyond short mutex holds.
  void RequestRecorded(const CertificateRequestRecord& record);

  // Ends every Watch stream and answers every waiting call (graceful shutdown).
  void Drain();

  // Watch streams registered now, across tenants (for metrics and tests).
  int WatchStreamCount();

 private:
  class WatchStream;
  friend class WatchStream;
  using Waiter = PendingCall<v1::CertificateRequest>;
  struct WaiterEntry {
    std::string name;  // the request waited for
    // Its SeenVersion is the change_seq of the newest record of the request it has read or
    // been offered (0: unknown). Per-request change numbers grow with each write (the
    // BEFORE trigger of migration 0005 draws them under the row lock), so a record
    // numbered n shows every change <= n.
    std::shared_ptr<Waiter> call;
    // Whether a change leaving the request in this state may settle the call; nullptr:
    // any change may (the call's rule looks at more than the state).
    bool (*settled_by_state)(RequestState) = nullptr;
  };
  // A RequestChanged call, kept for a while so that a call registering as a waiter can
  // tell whether its request changed since it was read (AddWaiter).
  struct RecentChange {
    uint64_t number;  // notifications_ after this one
    std::string tenant_id;
    std::string name;
    int64_t change_seq;
    std::optional<RequestState> state = std::nullopt;
  };
  static constexpr size_t kRecentChanges = 1024;

  // Notifications counted so far; taken before the read that AddWaiter's `seen_seq` is from.
  uint64_t NotificationCount();
  // `seen_seq` > 0: the response holds the request as a read with that change_seq left it,
  // and the read began after `since` = NotificationCount(); the registration reads again
  // only if a change of the request may have been notified in between. 0: it reads.
  // `settled_by_state`: `settled`'s verdict from the request state alone, when `settled`
  // looks at nothing else; then changes whose state it says does not settle are not read.
  // nullptr: every change is read.
  void AddWaiter(grpc::ServerUnaryReactor* reactor, v1::CertificateRequest* response,
                 const std::string& tenant_id, const std::string& name, absl::Time deadline,
                 bool (*settled)(const v1::CertificateRequest&), int64_t seen_seq = 0,
                 uint64_t since = 0, bool (*settled_by_state)(RequestState) = nullptr);
  void RemoveWaiter(const std::string& tenant_id, Waiter* waiter);
  // False (nothing added) when the tenant is at its Watch stream limit.
  bool AddWatch(const std::string& tenant_id, WatchStream* stream);
  void RemoveWatch(const std::string& tenant_id, WatchStream* stream);
  void TickerLoop();

  CertificateApi* api_;
  CertificateStore* requests_;
  ApiCallGate* gate_;
  WorkerPool* pool_;
  const Clock* clock_;
  const CertificateServiceLimits limits_;
  NoBrokerMetrics no_metrics_;
  BrokerMetrics* metrics_;  // limits_.metrics or &no_metrics_

  absl::Mutex mu_;
  // Keyed by tenant_id.
  std::multimap<std::string, WaiterEntry> waiters_ ABSL_GUARDED_BY(mu_);
  std::multimap<std::string, WatchStream*> watches_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t notifications_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<RecentChange> recent_changes_ ABSL_GUARDED_BY(mu_);  // at most kRecentChanges

  absl::Notification stop_ticker_;
  std::thread ticker_;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_CERTIFICATE_GRPC_SERVICE_H_
