// What an agent's JobResult means for the request: the request's next state, the job's
// fate and any follow-up job. Pure (no I/O) so every CA answer is unit-tested.
//
//   ISSUED (3)             → request ISSUED with certificate, serial, notAfter
//   UNDER_SUBMISSION (5)   → PENDING_APPROVAL + a RETRIEVE job for the same CA identity
//                            (key-generation mode: for the same connector, which holds the
//                            key), with backoff growing with the request's age
//   DENIED (2)             → DENIED with the catalog's code and remedy
//   ERROR (1) / other      → FAILED with the catalog's code and remedy
//   CA not reached         → retried after a backoff (the request says why it waits);
//                            after `max_unreachable_attempts`, FAILED. A SUBMIT's retry is
//                            a new job pinned like a RETRIEVE (same CA identity; in
//                            key-generation mode the same connector): the first may have
//                            reached the CA, and only that identity finds it there.
//                            RETRIEVE/REVOKE jobs go READY again (already pinned).
//   REVOKE answered 0      → REVOKED; otherwise the request stays ISSUED with the error
#ifndef CERTBRIDGE_BROKER_SERVICE_JOB_OUTCOME_H_
#define CERTBRIDGE_BROKER_SERVICE_JOB_OUTCOME_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "broker/store/certificate_store.h"
#include "certbridge/v1/agent.pb.h"

namespace certbridge::broker {

struct JobOutcomeOptions {
  absl::Duration min_retrieve_delay = absl::Seconds(2);
  absl::Duration max_retrieve_delay = absl::Minutes(5);
  absl::Duration unreachable_retry_delay = absl::Seconds(5);
  int max_unreachable_attempts = 5;
};

// `request` and `job` are the stored records; `connector_id` and `ca_identity` are the
// reporting agent's. INVALID_ARGUMENT if the result is malformed (e.g. an issued
// certificate that does not parse); the caller fails the job with that error.
absl::StatusOr<JobCompletion> OutcomeOfJob(const CertificateRequestRecord& request,
                                           const JobRecord& job, const v1::JobResult& result,
                                           const std::string& connector_id,
                                           const std::string& ca_identity, absl::Time now,
                                           const JobOutcomeOptions& options);

// Whether the agent `connector_id` (serving `ca_ids`) may report the result of `job`:
// the lease holder may; while nobody holds it (its lease expired and it is READY again)
// a connector serving the job's CA may, since it could have claimed it and its journal
// may hold the CA's answer — unless the job is bound to another connector
// (ConnectorBoundIdentity). Otherwise PERMISSION_DENIED naming who holds the job: another
// connector of the same tenant cannot complete work it was never given.
absl::Status CheckResultSender(const JobRecord& job, const std::string& connector_id,
                               const std::vector<std::string>& ca_ids);

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_JOB_OUTCOME_H_
