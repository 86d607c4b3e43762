// Every call on the API port passes here: it is queued in its caller's fair queue on the
// worker pool (WorkerPool, keyed by the API key id read from the metadata, so no database
// work is needed to choose the queue), then authenticated, then checked against the rate
// limits of its API key and its tenant, and only then handed to the service.
//
//   gate->Run(context, reactor, [=](const Caller& caller) {
//     absl::StatusOr<Record> r = api->Get(caller, *request);  // on the pool
//     reactor->Finish(ToGrpcStatus(r.status()));
//   });
//
// Refusals finish the call: UNAUTHENTICATED (ApiKeyAuthenticator), RESOURCE_EXHAUSTED when
// the caller's queue is full or a rate is exceeded. A rate refusal says which limit and
// when to retry, in the message and in the trailing metadata `certbridge-retry-after-ms`.
// The operator key has its own queue and no rate limit.
//
// Thread-safe.
#ifndef CERTBRIDGE_BROKER_SERVICE_API_CALL_GATE_H_
#define CERTBRIDGE_BROKER_SERVICE_API_CALL_GATE_H_

#include <functional>
#include <map>
#include <string>

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "broker/service/api_key_auth.h"
#include "broker/service/token_bucket.h"
#include "broker/service/worker_pool.h"
#include "common/clock.h"

namespace certbridge::broker {

struct ApiCallLimits {
  // Sustained calls per second and burst, per tenant (all its keys together) and per key.
  double tenant_calls_per_second = 1000;
  double tenant_burst = 2000;
  double key_calls_per_second = 500;
  double key_burst = 1000;
  // Calls of one API key waiting for a worker; more are refused at once.
  size_t max_queued_per_key = 256;
};

class ApiCallGate {
 public:
  // Nothing is owned; all must outlive this.
  ApiCallGate(const ApiKeyAuthenticator* auth, WorkerPool* pool, const Clock* clock,
              ApiCallLimits limits = {});

  // On a gRPC thread. `work` runs on the pool with the admitted caller and must finish
  // `reactor` (now or later); on a refusal the gate finishes it.
  void Run(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
           std::function<void(const Caller&)> work);

  // On the pool, for streams (which queue their own start): authenticates and applies
  // the rate limits.
  absl::StatusOr<Caller> Admit(absl::string_view authorization);

  // The fair-queue key for a call: "key:<id>" for "Bearer cbk.<id>.<secret>", else
  // "other" (the operator, malformed or missing keys share one queue). Exposed for tests.
  static std::string QueueKeyOf(absl::string_view authorization);

 private:
  // RESOURCE_EXHAUSTED naming the limit, or OK (a token was taken from both buckets).
  absl::Status CheckRates(const Caller& caller, absl::Duration* retry_after);

  const ApiKeyAuthenticator* auth_;
  WorkerPool* pool_;
  const Clock* clock_;
  const ApiCallLimits limits_;

  absl::Mutex mu_;
  std::map<std::string, TokenBucket> tenant_buckets_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, TokenBucket> key_buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_API_CALL_GATE_H_
