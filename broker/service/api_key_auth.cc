#include "broker/service/api_key_auth.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/api_error.h"
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

absl::Status Unauthenticated(absl::string_view reason, absl::string_view message) {
  return ApiError(absl::StatusCode::kUnauthenticated, reason, message);
}
}  // namespace

absl::StatusOr<std::vector<std::string>> ParseOperatorKeys(absl::string_view file_text) {
  std::vector<std::string> keys;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(file_text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    if (line.size() < 32) {
      return absl::InvalidArgumentError(absl::StrCat(
          "operator key file, line ", line_number,
          ": a key must have at least 32 characters (one key per line)"));
    }
    keys.emplace_back(line);
  }
  if (keys.empty()) {
    return absl::InvalidArgumentError(
        "operator key file holds no key: write one key of 32+ characters per line");
  }
  return keys;
}

ApiKeyAuthenticator::ApiKeyAuthenticator(Store* store, absl::string_view operator_key,
                                         const Clock* clock, ApiKeyCacheOptions cache)
    : store_(store), clock_(clock), cache_options_(cache) {
  if (!operator_key.empty()) operator_key_hashes_.push_back(pki::Sha256Hex(operator_key));
}

void ApiKeyAuthenticator::ReplaceOperatorKeys(const std::vector<std::string>& operator_keys) {
  std::vector<std::string> hashes;
  for (const std::string& key : operator_keys) hashes.push_back(pki::Sha256Hex(key));
  absl::MutexLock lock(&mu_);
  operator_key_hashes_ = std::move(hashes);
}

bool ApiKeyAuthenticator::IsOperatorKey(absl::string_view key) const {
  const std::string hash = pki::Sha256Hex(key);
  absl::MutexLock lock(&mu_);
  bool match = false;
  // Every hash is compared, so the time taken does not say which key matched.
  for (const std::string& accepted : operator_key_hashes_) {
    match |= pki::ConstantTimeEquals(accepted, hash);
  }
  return match;
}

void ApiKeyAuthenticator::NoteUse(const ApiKeyRecord& record) const {
  const absl::Time now = clock_->Now();
  if (record.last_use_time.has_value() &&
      *record.last_use_time >= now - cache_options_.last_use_granularity) {
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = known_keys_.find(record.key_id);
    if (it != known_keys_.end()) it->second.record.last_use_time = now;
  }
  // The last use is advisory (shown by ListApiKeys): a failed write must not fail the call
  // it describes, and the next call after the granularity tries again.
  store_->RecordApiKeyUse(record.key_id, now, cache_options_.last_use_granularity)
      .IgnoreError();
}

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
    return Unauthenticated("API_KEY_MISSING",
                           "missing API key: send metadata \"authorization: Bearer <key>\"");
  }
  if (!absl::StartsWithIgnoreCase(authorization_header, "Bearer ")) {
    return Unauthenticated("API_KEY_MALFORMED", "authorization metadata must be \"Bearer <key>\"");
  }
  if (authorization_header.size() > kMaxAuthorizationHeader) {
    return Unauthenticated("API_KEY_MALFORMED",
                           absl::StrCat("authorization metadata is longer than ",
                                        kMaxAuthorizationHeader, " bytes"));
  }
  absl::string_view key = absl::StripAsciiWhitespace(authorization_header.substr(7));
  if (absl::StartsWith(key, "cbk.")) return AuthenticateTenantKey(key);
  if (IsOperatorKey(key)) {
    Caller caller;
    caller.is_operator = true;
    return caller;
  }
  return Unauthenticated("API_KEY_UNKNOWN", "unknown or revoked API key");
}

absl::StatusOr<Caller> ApiKeyAuthenticator::AuthenticateTenantKey(absl::string_view key) const {
  std::vector<absl::string_view> parts = absl::StrSplit(key, absl::MaxSplits('.', 2));
  if (parts.size() != 3 || parts[1].empty() || parts[2].empty() || parts[1].size() > kMaxKeyId) {
    return Unauthenticated("API_KEY_MALFORMED", "malformed API key: expected cbk.<key_id>.<secret>");
  }
  const std::string key_id(parts[1]);
  if (KnownUnknown(key_id)) return Unauthenticated("API_KEY_UNKNOWN", "unknown or revoked API key");
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
    return Unauthenticated("API_KEY_UNKNOWN", "unknown or revoked API key");
  }
  if (!record.ok()) return record.status();
  // Only a caller holding the secret learns why its key no longer works.
  if (record->revoke_time.has_value()) {
    return ApiError(absl::StatusCode::kUnauthenticated, "API_KEY_REVOKED",
                    absl::StrCat("API key ", key_id, " was revoked at ",
                                 absl::FormatTime(absl::RFC3339_sec, *record->revoke_time,
                                                  absl::UTCTimeZone())))
        .Metadata("key_id", key_id)
        .Remedy("ask the tenant's admin for a new API key");
  }
  if (record->expire_time.has_value() && *record->expire_time <= clock_->Now()) {
    return ApiError(absl::StatusCode::kUnauthenticated, "API_KEY_EXPIRED",
                    absl::StrCat("API key ", key_id, " expired at ",
                                 absl::FormatTime(absl::RFC3339_sec, *record->expire_time,
                                                  absl::UTCTimeZone())))
        .Metadata("key_id", key_id)
        .Remedy("ask the tenant's admin for a new API key");
  }
  NoteUse(*record);
  Caller caller;
  caller.tenant_id = record->tenant_id;
  caller.key_id = record->key_id;
  caller.scopes = record->scopes;
  return caller;
}

absl::Status RequireTenantScope(const Caller& caller, absl::string_view scope) {
  if (caller.is_operator) {
    return ApiError(absl::StatusCode::kPermissionDenied, "OPERATOR_KEY_NOT_ALLOWED",
                    "the operator key manages tenants only; use an API key of the tenant")
        .Remedy("create a tenant API key with `certbridgectl api-keys create --tenant ID "
                "--scopes admin`");
  }
  if (!caller.HasScope(scope)) {
    return ApiError(absl::StatusCode::kPermissionDenied, "SCOPE_MISSING",
                    absl::StrCat("API key ", caller.key_id, " lacks the \"", scope, "\" scope"))
        .Metadata("key_id", caller.key_id)
        .Metadata("scope", scope)
        .Remedy("use an API key with that scope; a tenant admin creates one with "
                "CreateApiKey");
  }
  return absl::OkStatus();
}

absl::Status RequireOperator(const Caller& caller) {
  if (!caller.is_operator) {
    return ApiError(absl::StatusCode::kPermissionDenied, "OPERATOR_KEY_REQUIRED",
                    "only the operator key may manage tenants");
  }
  return absl::OkStatus();
}

}  // namespace certbridge::broker
