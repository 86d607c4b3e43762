// Who is calling the API port, from the `authorization: Bearer <key>` metadata.
//
// Key formats:
//   tenant key   "cbk.<key_id>.<secret>"   looked up by key_id; SHA-256(secret) compared in
//                                          constant time with the stored hash
//   operator key any string of 32+ characters, from the broker's --operator_key_file;
//                only its SHA-256 is kept in memory. The file may hold several keys, one
//                per line, so that a key is rotated without a restart: add the new key,
//                move callers over, remove the old one (the broker re-reads the file).
//
// Errors: UNAUTHENTICATED for a missing, malformed, unknown, expired or revoked key (the
// message says which and never echoes the key; "expired" and "revoked" are said only to a
// caller who holds the key's secret); UNAVAILABLE when the store is down.
//
// An unknown key id is remembered for a short while (negative cache), so that a flood of
// made-up keys costs no database lookups. Key ids are random, so a key created later
// cannot have been looked up before. A known key's record is kept for a few seconds too
// (positive cache): a busy caller, or one refused by a rate limit, costs a hash and no
// database read per call. A revocation therefore takes effect on every replica within
// known_key_ttl. A key's last use is written at most once per last_use_granularity.
#ifndef CERTBRIDGE_BROKER_SERVICE_API_KEY_AUTH_H_
#define CERTBRIDGE_BROKER_SERVICE_API_KEY_AUTH_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/store/store.h"
#include "common/clock.h"

namespace certbridge::broker {

inline constexpr absl::string_view kScopeAdmin = "admin";
inline constexpr absl::string_view kScopeCertificates = "certificates";

struct Caller {
  bool is_operator = false;
  std::string tenant_id;  // empty for the operator
  std::string key_id;     // empty for the operator
  std::vector<std::string> scopes;

  bool HasScope(absl::string_view scope) const;
  // "operator" or "api-key:<key_id>", for audit events and logs.
  std::string Actor() const;
};

// A new tenant key: what to store and the secret to show once.
struct NewApiKey {
  std::string key_id;
  std::string secret_hash;
  std::string full_key;  // "cbk.<key_id>.<secret>"
};
NewApiKey GenerateApiKey();

struct ApiKeyCacheOptions {
  // How long an unknown key id is answered without a lookup.
  absl::Duration unknown_key_ttl = absl::Seconds(30);
  // Most unknown key ids remembered; when full, about half is dropped.
  size_t max_unknown_keys = 10000;
  // How long a looked-up key's record answers without a lookup, and how many are kept.
  absl::Duration known_key_ttl = absl::Seconds(5);
  size_t max_known_keys = 10000;
  // How stale a key's stored last_use_time may be: a key in constant use costs one store
  // write per this interval.
  absl::Duration last_use_granularity = absl::Minutes(1);
};

// The operator keys in the text of --operator_key_file: one key per line; blank lines and
// lines starting with '#' are ignored. INVALID_ARGUMENT when there is no key or a key is
// shorter than 32 characters (the message gives the line number, never the key).
absl::StatusOr<std::vector<std::string>> ParseOperatorKeys(absl::string_view file_text);

class ApiKeyAuthenticator {
 public:
  // `operator_key` may be empty (no operator access). Store and clock are not owned; they
  // must outlive this.
  ApiKeyAuthenticator(Store* store, absl::string_view operator_key, const Clock* clock,
                      ApiKeyCacheOptions cache = {});

  // Replaces the accepted operator keys (an empty list: no operator access). Thread-safe;
  // calls already authenticated are not affected.
  void ReplaceOperatorKeys(const std::vector<std::string>& operator_keys);

  // `authorization_header` is the metadata value, e.g. "Bearer cbk.abc.xyz". Blocking
  // (store), thread-safe.
  absl::StatusOr<Caller> Authenticate(absl::string_view authorization_header) const;

 private:
  absl::StatusOr<Caller> AuthenticateTenantKey(absl::string_view key) const;
  bool IsOperatorKey(absl::string_view key) const;
  // Records the key's use in the store when the cached last use is older than the
  // granularity.
  void NoteUse(const ApiKeyRecord& record) const;
  bool KnownUnknown(const std::string& key_id) const;
  std::optional<ApiKeyRecord> CachedRecord(const std::string& key_id) const;
  void RememberRecord(const ApiKeyRecord& record) const;
  void RememberUnknown(const std::string& key_id) const;

  Store* store_;
  const Clock* clock_;
  const ApiKeyCacheOptions cache_options_;

  mutable absl::Mutex mu_;
  // SHA-256 hex of each accepted operator key.
  std::vector<std::string> operator_key_hashes_ ABSL_GUARDED_BY(mu_);
  // key id -> when the negative answer expires.
  mutable std::map<std::string, absl::Time> unknown_keys_ ABSL_GUARDED_BY(mu_);
  struct KnownKey {
    ApiKeyRecord record;
    absl::Time expire;
  };
  // key id -> the stored record, until `expire`.
  mutable std::map<std::string, KnownKey> known_keys_ ABSL_GUARDED_BY(mu_);
};

// Tenant calls need a tenant key with `scope`; the operator key is refused with
// PERMISSION_DENIED saying to use a tenant key.
absl::Status RequireTenantScope(const Caller& caller, absl::string_view scope);
absl::Status RequireOperator(const Caller& caller);

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_API_KEY_AUTH_H_
