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

namespace {
// Far above anything GenerateApiKey makes; checked before the header is split or looked up.
constexpr size_t kMaxAuthorizationHeader = 512;
constexpr size_t kMaxKeyId = 64;
}  // namespace

ApiKeyAuthenticator::ApiKeyAuthenticator(Store* store, absl::string_view operator_key,
                                         const Clock* clock, ApiKeyCacheOptions cache)
    : store_(store),
      operator_key_hash_(operator_key.empty() ? "" : pki::Sha256Hex(operator_key)),
      clock_(clock),
      cache_options_(cache) {}

bool ApiKeyAuthenticator::KnownUnknown(const std::string& key_id) const {
  absl::MutexLock lock(&mu_);
  auto it = unknown_keys_.find(key_id);
  if (it == unknown_keys_.end()) return false;
  if (it->second > clock_->Now()) return true;
  unknown_keys_.erase(it);
  return false;
}

void ApiKeyAuthenticator::RememberUnknown(const std::string& key_id) const {
  absl::MutexLock lock(&mu_);
  if (unknown_keys_.size() >= cache_options_.max_unknown_keys) {
    // Drop expired entries, then, if still full, every other one: bounded memory, and an
    // attacker cannot keep one id cached by flooding others.
    const absl::Time now = clock_->Now();
    bool drop = false;
    for (auto it = unknown_keys_.begin(); it != unknown_keys_.end();) {
      if (it->second <= now || (drop = !drop)) {
        it = unknown_keys_.erase(it);
      } else {
        ++it;
      }
    }
  }
  unknown_keys_[key_id] = clock_->Now() + cache_options_.unknown_key_ttl;
}

std::optional<ApiKeyRecord> ApiKeyAuthenticator::CachedRecord(const std::string& key_id) const {
  absl::MutexLock lock(&mu_);
  auto it = known_keys_.find(key_id);
  if (it == known_keys_.end()) return std::nullopt;
  if (it->second.expire > clock_->Now()) return it->second.record;
  known_keys_.erase(it);
  return std::nullopt;
}

void ApiKeyAuthenticator::RememberRecord(const ApiKeyRecord& record) const {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  if (known_keys_.size() >= cache_options_.max_known_keys) {
    for (auto it = known_keys_.begin(); it != known_keys_.end();) {
      it = it->second.expire <= now ? known_keys_.erase(it) : std::next(it);
    }
    if (known_keys_.size() >= cache_options_.max_known_keys) known_keys_.clear();
  }
  known_keys_[record.key_id] = KnownKey{record, now + cache_options_.known_key_ttl};
}

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
  if (authorization_header.size() > kMaxAuthorizationHeader) {
    return absl::UnauthenticatedError(absl::StrCat(
        "authorization metadata is longer than ", kMaxAuthorizationHeader, " bytes"));
  }
  absl::string_view key = absl::StripAsciiWhitespace(authorization_header.substr(7));
  if (absl::StartsWith(key, "cbk.")) {
    std::vector<absl::string_view> parts = absl::StrSplit(key, absl::MaxSplits('.', 2));
    if (parts.size() != 3 || parts[1].empty() || parts[2].empty() ||
        parts[1].size() > kMaxKeyId) {
      return absl::UnauthenticatedError("malformed API key: expected cbk.<key_id>.<secret>");
    }
    const std::string key_id(parts[1]);
    if (KnownUnknown(key_id)) return absl::UnauthenticatedError("unknown or revoked API key");
    absl::StatusOr<ApiKeyRecord> record;
    if (std::optional<ApiKeyRecord> cached = CachedRecord(key_id)) {
      record = *std::move(cached);
    } else {
      record = store_->LookupApiKey(key_id);
      if (record.ok()) RememberRecord(*record);
    }
    if (absl::IsNotFound(record.status())) RememberUnknown(key_id);
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
