// The errors both Store implementations return about a named object, in one place, so
// that the fake and PostgreSQL answer with the same code and the same words. Codes follow
// store.h's retry rule: NOT_FOUND (the object is missing or another tenant's), ABORTED
// (re-read and decide again), FAILED_PRECONDITION (fix the state first).
#ifndef CERTBRIDGE_BROKER_STORE_STORE_ERRORS_H_
#define CERTBRIDGE_BROKER_STORE_STORE_ERRORS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "broker/store/certificate_store.h"

namespace certbridge::broker {

// NOT_FOUND "tenant "<id>" not found", and the same shape for the others.
absl::Status TenantNotFound(const std::string& tenant_id);
absl::Status ConnectorNotFound(const std::string& connector_id);
absl::Status CaNotFound(const std::string& ca_id);
absl::Status RequestNotFound(const std::string& name);
absl::Status JobNotFound(int64_t job_id);
// ABORTED "request <name> is no longer <state> ...": CompleteJob's answer when the
// request changed after the outcome was decided (JobCompletion::expected_request_state).
absl::Status RequestChangedMeanwhile(const std::string& name, RequestState expected);
// ABORTED "connector <id>: a newer stream took the session over": RefreshSession's answer
// to a stream whose session another stream owns now.
absl::Status SessionTakenOver(const std::string& connector_id);
// FAILED_PRECONDITION: ListRequestChanges' answer to a cursor that is not one of the
// tenant's kept changes (older than the retention, or never given to this tenant). The
// client lists the requests again and watches from cursor 0 (the oldest change kept).
absl::Status UnknownChangeCursor(int64_t cursor);

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_STORE_ERRORS_H_
