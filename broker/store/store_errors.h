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
// NOT_FOUND for the other objects and lookups both stores answer.
absl::Status ApiKeyNotFound(const std::string& key_id);
absl::Status RequestIdNotFound(const std::string& request_id);
absl::Status SerialNotFound(const std::string& ca_id, const std::string& serial_hex);
absl::Status CaNotAssigned(const std::string& ca_id, const std::string& connector_id);
absl::Status RegistrationCodeNotFound();
absl::Status EnrollmentTokenNotFound();

// ALREADY_EXISTS "<object> "<id>" already exists".
absl::Status TenantAlreadyExists(const std::string& tenant_id);
absl::Status ApiKeyAlreadyExists(const std::string& key_id);
absl::Status EnrollmentTokenAlreadyExists();
absl::Status ConnectorAlreadyExists(const std::string& connector_id);
absl::Status CaAlreadyExists(const std::string& ca_id);
absl::Status RequestAlreadyExists(const std::string& name);

// FAILED_PRECONDITION: the object is not in a state the operation accepts; `state` is the
// state's name as stored.
absl::Status EnrollmentTokenUsed();
absl::Status EnrollmentTokenExpired();
absl::Status ConnectorInState(const std::string& connector_id, absl::string_view operation,
                              absl::string_view state);
absl::Status RequestInState(const std::string& name, absl::string_view state);
absl::Status JobAlreadyEnded(int64_t job_id, absl::string_view state);

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
