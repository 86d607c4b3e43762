#include "broker/service/api_key_auth.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/pki/pki.h"

namespace certbridge::broker {

bool Caller::HasScope(absl::string_view scope) const {
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

std::string Caller::Actor() const {
  return is_operator ? std::string("operator") : absl::StrCat("api-key:", key_id);
}

NewApiKey GenerateApiKey() {
  NewApiKey key;
  key.key_id = absl::AsciiStrToLower(pki::RandomCode(12));
  std::string secret = pki::RandomToken(32);
  key.secret_hash = pki::Sha256Hex(secret);
  key.full_key = absl::StrCat("cbk.", key.key_id, ".", secret);
  return key;
}

ApiKeyAuthenticator::ApiKeyAuthenticator(Store* store, absl::string_view operator_key)
    : store_(store),
      operator_key_hash_(operator_key.empty() ? "" : pki::Sha256Hex(operator_key)) {}

absl::StatusOr<Caller> ApiKeyAuthenticator::Authenticate(
    absl::string_view authorization_header) const {
  if (authorization_header.empty()) {
    return absl::UnauthenticatedError(
        "missing API key: send metadata \"authorization: Bearer <key>\"");
  }
  if (!absl::StartsWithIgnoreCase(authorization_header, "Bearer ")) {
    return absl::UnauthenticatedError(
        "authorization metadata must be \"Bearer <key>\"");
  }
  absl::string_view key = absl::StripAsciiWhitespace(authorization_header.substr(7));
  if (absl::StartsWith(key, "cbk.")) {
    std::vector<absl::string_view> parts = absl::StrSplit(key, absl::MaxSplits('.', 2));
    if (parts.size() != 3 || parts[1].empty() || parts[2].empty()) {
      return absl::UnauthenticatedError("malformed API key: expected cbk.<key_id>.<secret>");
    }
    absl::StatusOr<ApiKeyRecord> record = store_->LookupApiKey(std::string(parts[1]));
    if (absl::IsNotFound(record.status()) ||
        (record.ok() && !pki::ConstantTimeEquals(record->secret_hash, pki::Sha256Hex(parts[2])))) {
      return absl::UnauthenticatedError("unknown or revoked API key");
    }
    if (!record.ok()) return record.status();
    Caller caller;
    caller.tenant_id = record->tenant_id;
    caller.key_id = record->key_id;
    caller.scopes = record->scopes;
    return caller;
  }
  if (!operator_key_hash_.empty() &&
      pki::ConstantTimeEquals(operator_key_hash_, pki::Sha256Hex(key))) {
    Caller caller;
    caller.is_operator = true;
    return caller;
  }
  return absl::UnauthenticatedError("unknown or revoked API key");
}

absl::Status RequireTenantScope(const Caller& caller, absl::string_view scope) {
  if (caller.is_operator) {
    return absl::PermissionDeniedError(
        "the operator key manages tenants only; use an API key of the tenant (certbridgectl "
        "api-keys create --tenant ID --scopes admin)");
  }
  if (!caller.HasScope(scope)) {
    return absl::PermissionDeniedError(absl::StrCat("API key ", caller.key_id,
                                                    " lacks the \"", scope, "\" scope"));
  }
  return absl::OkStatus();
}

absl::Status RequireOperator(const Caller& caller) {
  if (!caller.is_operator) {
    return absl::PermissionDeniedError("only the operator key may manage tenants");
  }
  return absl::OkStatus();
}

}  // namespace certbridge::broker
