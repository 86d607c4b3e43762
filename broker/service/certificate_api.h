// CertificateService's logic apart from gRPC wiring: validation, idempotent creation,
// reading, cancelling and revoking requests. Blocking (store): call it on the worker pool.
// Waiting for a terminal state is the gRPC layer's job (CertificateGrpcService).
//
// As in AdminApi, each RPC has a method of its name returning its response message, built
// by proto_mapping.h; Create is the in-process entry (SCEP) and returns the stored record.
#ifndef CERTBRIDGE_BROKER_SERVICE_CERTIFICATE_API_H_
#define CERTBRIDGE_BROKER_SERVICE_CERTIFICATE_API_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/service/page_tokens.h"
#include "broker/metrics/broker_metrics.h"
#include "broker/service/api_key_auth.h"
#include "broker/store/certificate_store.h"
#include "broker/store/store.h"
#include "certbridge/v1/certificate.pb.h"
#include "common/clock.h"

namespace certbridge::broker {

struct CertificateApiOptions {
  // A request that no connected, ACTIVE, assigned connector takes within this time fails
  // (EXPIRED) with the reason.
  absl::Duration queue_timeout = absl::Minutes(5);
  absl::Duration max_wait = absl::Seconds(60);
  // A connector counts as connected while its heartbeat is younger than this.
  absl::Duration session_liveness = absl::Seconds(90);
  // CreateCertificateRequest's waiting reason: a CA found served by a live connector is
  // taken as served, without reading its connectors, for this long (issue 9: one read per
  // certificate). Liveness is already a heartbeat up to session_liveness old; this adds at
  // most served_memo to it. Zero: read on every create.
  absl::Duration served_memo = absl::Seconds(1);
  // Age limits of requests waiting at the CA (see ExpireWaitingRequests). A CA answers a
  // SUBMIT in seconds, so a day means its answer was lost; officers may take weeks.
  absl::Duration dispatch_timeout = absl::Hours(24);
  absl::Duration pending_approval_timeout = absl::Hours(24 * 30);
  // Not owned; must outlive the CertificateApi. nullptr: nothing is recorded.
  BrokerMetrics* metrics = nullptr;
  // Secret of the opaque page tokens; the same on every replica (see page_tokens.h).
  // Empty: a random one per process.
  std::string opaque_id_secret;
};

class CertificateApi {
 public:
  // Nothing is owned; all must outlive this.
  CertificateApi(Store* store, CertificateStore* requests, const Clock* clock,
                 CertificateApiOptions options);

  // Errors: INVALID_ARGUMENT (names the field and what is expected), NOT_FOUND (CA),
  // ALREADY_EXISTS (request_id reused with other parameters), FAILED_PRECONDITION
  // (key-generation mode without a delivery certificate).
  // *inserted (when given): true if this call inserted the record it returns, false if it
  // returns an earlier call's (an idempotent repeat), read from the store.
  absl::StatusOr<CertificateRequestRecord> Create(const Caller& caller,
                                                  const v1::CreateCertificateRequestRequest& r,
                                                  bool* inserted = nullptr);
  // Create, as the RPC answers it.
  absl::StatusOr<v1::CertificateRequest> CreateCertificateRequest(
      const Caller& caller, const v1::CreateCertificateRequestRequest& r);
  absl::StatusOr<v1::CertificateRequest> GetCertificateRequest(
      const Caller& caller, const v1::GetCertificateRequestRequest& r);
  // One page, newest first, and the Watch cursor of the newest change committed before
  // the page was read: watching from it repeats at most changes the page already shows.
  absl::StatusOr<v1::ListCertificateRequestsResponse> ListCertificateRequests(
      const Caller& caller, const v1::ListCertificateRequestsRequest& r);
  // FAILED_PRECONDITION (REQUEST_NOT_CANCELLABLE) unless the request is QUEUED.
  absl::StatusOr<v1::CertificateRequest> CancelCertificateRequest(
      const Caller& caller, const v1::CancelCertificateRequestRequest& r);
  // Adds a REVOKE job routed to the submitting identity; returns the request as it is now.
  absl::StatusOr<v1::CertificateRequest> RevokeCertificate(
      const Caller& caller, const v1::RevokeCertificateRequest& r);
  // Where a WatchCertificateRequests stream starts: the request's cursor, or the tenant's
  // newest change when it has none. INVALID_ARGUMENT (field cursor) for a cursor this API
  // cannot have returned. Whether the change is still retained is the store's to say when
  // the stream reads (CURSOR_EXPIRED).
  absl::StatusOr<int64_t> WatchCursor(const Caller& caller,
                                      const v1::WatchCertificateRequestsRequest& r);

  // Why requests for this CA wait, in words about the API (MDMs show it), or "" when a live
  // connector serves it. `code` gets NO_CONNECTOR_ASSIGNED, CONNECTOR_PENDING_APPROVAL,
  // CONNECTOR_DISABLED or CONNECTORS_DISCONNECTED; `remedy`, when not null, what a tenant
  // admin does about it (may name a certbridgectl command).
  absl::StatusOr<std::string> WhyCaIsNotServed(const std::string& tenant_id,
                                               const std::string& ca_id, std::string* code,
                                               std::string* remedy = nullptr);

  // The sweeper: QUEUED requests past their queue deadline become EXPIRED with the reason.
  absl::StatusOr<int> ExpireOverdueRequests();

  // The sweeper: DISPATCHED requests older than dispatch_timeout (DISPATCH_TIMEOUT) and
  // PENDING_APPROVAL ones older than pending_approval_timeout (PENDING_APPROVAL_TIMEOUT)
  // become EXPIRED; their open jobs (a RETRIEVE retried with backoff) fail with them.
  absl::StatusOr<int> ExpireWaitingRequests();

 private:
  // Create after the checks of the call alone: the CA, the mode, the insert. A taken
  // request_id is answered by the insert (the stored request, *inserted false).
  absl::StatusOr<CertificateRequestRecord> CreateNew(const Caller& caller,
                                                     const v1::CreateCertificateRequestRequest& r,
                                                     const std::string& fingerprint,
                                                     bool* inserted);
  // WhyCaIsNotServed for a create, answering "" (served) from served_until_ while a recent
  // answer found the CA served.
  absl::StatusOr<std::string> WhyCaIsNotServedForCreate(const std::string& tenant_id,
                                                        const std::string& ca_id);

  Store* store_;
  CertificateStore* requests_;
  const Clock* clock_;
  CertificateApiOptions options_;
  absl::Mutex served_mu_;
  // (tenant_id, ca_id) -> until when the CA counts as served; bounded by clearing.
  std::map<std::pair<std::string, std::string>, absl::Time> served_until_
      ABSL_GUARDED_BY(served_mu_);
  const ScopedIds ids_;
  NoBrokerMetrics no_metrics_;
  BrokerMetrics* metrics_;  // options_.metrics or &no_metrics_
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_CERTIFICATE_API_H_
