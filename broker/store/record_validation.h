// Checks shared by every Store implementation, so that the fake and PostgreSQL reject
// the same malformed records with the same INVALID_ARGUMENT.
#ifndef CERTBRIDGE_BROKER_STORE_RECORD_VALIDATION_H_
#define CERTBRIDGE_BROKER_STORE_RECORD_VALIDATION_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "broker/store/certificate_store.h"
#include "broker/store/store.h"
#include "broker/store/store_errors.h"

namespace certbridge::broker {

// Longest id accepted, in bytes.
inline constexpr size_t kMaxIdLength = 256;

// `kind` names the id in the message ("tenant id"). Non-empty, at most kMaxIdLength
// bytes, no control characters.
absl::Status ValidateId(absl::string_view kind, absl::string_view id);

absl::Status ValidateTenant(const Tenant& tenant);
absl::Status ValidateApiKey(const ApiKeyRecord& key);
absl::Status ValidateEnrollmentToken(const EnrollmentTokenRecord& token);
// Ignores tenant_id (RegisterConnector takes it from the token).
absl::Status ValidateNewConnector(const ConnectorRecord& connector);
absl::Status ValidateCertificateAuthority(const CertificateAuthorityRecord& ca);
absl::Status ValidateSession(const SessionRecord& session);
absl::Status ValidateAuditEvent(const AuditEventRecord& event);
absl::Status ValidateAuditLimit(int limit);

// A new certificate request: ids as ValidateId; SANs non-empty; label keys non-empty;
// no SAN or label with \x1e, \x1f or NUL (the stores join them with those).
absl::Status ValidateCertificateRequest(const CertificateRequestRecord& request);
// A job to insert: ids as ValidateId, state READY.
absl::Status ValidateJob(const JobRecord& job);
// INVALID_ARGUMENT unless `state` is DISPATCHED or PENDING_APPROVAL (the states that wait
// at the CA and are expired by age).
absl::Status ValidateWaitingState(RequestState state);
// INVALID_ARGUMENT "<what> page size must be positive" for limit <= 0.
absl::Status ValidatePageSize(absl::string_view what, int limit);

// Inverses of JobKindName / JobStateName; nullopt for an unknown name.
std::optional<JobKind> JobKindFromName(absl::string_view name);
std::optional<JobState> JobStateFromName(absl::string_view name);

// Sorted, without duplicates: what ApiKeyRecord::scopes promises.
std::vector<std::string> NormalizeScopes(std::vector<std::string> scopes);

// Times are stored with microsecond precision: what a round trip leaves of `t`.
absl::Time TruncateToMicros(absl::Time t);

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_RECORD_VALIDATION_H_
