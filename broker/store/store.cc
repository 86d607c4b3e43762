#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "broker/store/record_validation.h"
#include "broker/store/store.h"
#include "common/status_macros.h"

namespace certbridge::broker {

absl::string_view ConnectorStateName(ConnectorState state) {
  switch (state) {
    case ConnectorState::kPending:
      return "PENDING";
    case ConnectorState::kActive:
      return "ACTIVE";
    case ConnectorState::kDisabled:
      return "DISABLED";
    case ConnectorState::kRejected:
      return "REJECTED";
  }
  return "UNKNOWN";
}

std::optional<ConnectorState> ConnectorStateFromName(absl::string_view name) {
  for (ConnectorState s : {ConnectorState::kPending, ConnectorState::kActive,
                           ConnectorState::kDisabled, ConnectorState::kRejected}) {
    if (ConnectorStateName(s) == name) return s;
  }
  return std::nullopt;
}

absl::Status ValidateId(absl::string_view kind, absl::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError(absl::StrCat(kind, " is empty"));
  if (id.size() > kMaxIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, " is longer than ", kMaxIdLength, " bytes"));
  }
  for (char c : id) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(kind, " contains a control character"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTenant(const Tenant& tenant) {
  return ValidateId("tenant id", tenant.tenant_id);
}

absl::Status ValidateApiKey(const ApiKeyRecord& key) {
  RETURN_IF_ERROR(ValidateId("API key id", key.key_id));
  RETURN_IF_ERROR(ValidateId("tenant id", key.tenant_id));
  if (key.secret_hash.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("API key \"", key.key_id, "\": no secret hash"));
  }
  for (const std::string& scope : key.scopes) {
    // Stored space-separated; a scope is a single word.
    if (scope.empty() ||
        std::any_of(scope.begin(), scope.end(), [](char c) {
          return absl::ascii_isspace(static_cast<unsigned char>(c)) ||
                 absl::ascii_iscntrl(static_cast<unsigned char>(c));
        })) {
      return absl::InvalidArgumentError(
          absl::StrCat("API key \"", key.key_id, "\": scope \"", absl::CEscape(scope),
                       "\" is empty or contains whitespace"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateEnrollmentToken(const EnrollmentTokenRecord& token) {
  RETURN_IF_ERROR(ValidateId("enrollment token hash", token.token_hash));
  return ValidateId("tenant id", token.tenant_id);
}

absl::Status ValidateNewConnector(const ConnectorRecord& connector) {
  RETURN_IF_ERROR(ValidateId("connector id", connector.connector_id));
  if (connector.poll_secret_hash.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("connector \"", connector.connector_id, "\": no poll secret hash"));
  }
  return absl::OkStatus();
}

absl::Status ValidateCertificateAuthority(const CertificateAuthorityRecord& ca) {
  RETURN_IF_ERROR(ValidateId("certificate authority id", ca.ca_id));
  RETURN_IF_ERROR(ValidateId("tenant id", ca.tenant_id));
  RETURN_IF_ERROR(ValidateId("certificate authority host", ca.host));
  return ValidateId("certificate authority name", ca.ca_name);
}

absl::Status ValidateSession(const SessionRecord& session) {
  RETURN_IF_ERROR(ValidateId("connector id", session.connector_id));
  RETURN_IF_ERROR(ValidateId("tenant id", session.tenant_id));
  return ValidateId("replica id", session.replica_id);
}

absl::Status ValidateAuditEvent(const AuditEventRecord& event) {
  if (!event.tenant_id.empty()) RETURN_IF_ERROR(ValidateId("tenant id", event.tenant_id));
  if (event.action.empty()) return absl::InvalidArgumentError("audit event has no action");
  return absl::OkStatus();
}

absl::Status ValidateAuditLimit(int limit) {
  if (limit <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit event page size must be positive, got ", limit));
  }
  return absl::OkStatus();
}

std::vector<std::string> NormalizeScopes(std::vector<std::string> scopes) {
  std::sort(scopes.begin(), scopes.end());
  scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
  return scopes;
}

absl::Time TruncateToMicros(absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return t;
  return absl::FromUnixMicros(absl::ToUnixMicros(t));
}

}  // namespace certbridge::broker
