// Checks shared by every Store implementation, so that the fake and PostgreSQL reject
// the same malformed records with the same INVALID_ARGUMENT.
#ifndef CERTBRIDGE_BROKER_STORE_RECORD_VALIDATION_H_
#define CERTBRIDGE_BROKER_STORE_RECORD_VALIDATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "broker/store/store.h"

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

// Sorted, without duplicates: what ApiKeyRecord::scopes promises.
std::vector<std::string> NormalizeScopes(std::vector<std::string> scopes);

// Times are stored with microsecond precision: what a round trip leaves of `t`.
absl::Time TruncateToMicros(absl::Time t);

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_RECORD_VALIDATION_H_
