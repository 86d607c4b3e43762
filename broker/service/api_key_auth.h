// Who is calling the API port, from the `authorization: Bearer <key>` metadata.
//
// Key formats:
//   tenant key   "cbk.<key_id>.<secret>"   looked up by key_id; SHA-256(secret) compared in
//                                          constant time with the stored hash
//   operator key any string of 32+ characters, from the broker's --operator-key-file;
//                only its SHA-256 is kept in memory
//
// Errors: UNAUTHENTICATED for a missing, malformed or unknown key (the message says which
// and never echoes the key); UNAVAILABLE when the store is down.
#ifndef CERTBRIDGE_BROKER_SERVICE_API_KEY_AUTH_H_
#define CERTBRIDGE_BROKER_SERVICE_API_KEY_AUTH_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "broker/store/store.h"

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

class ApiKeyAuthenticator {
 public:
  // `operator_key` may be empty (no operator access). Store is not owned; must outlive this.
  ApiKeyAuthenticator(Store* store, absl::string_view operator_key);

  // `authorization_header` is the metadata value, e.g. "Bearer cbk.abc.xyz". Blocking (store).
  absl::StatusOr<Caller> Authenticate(absl::string_view authorization_header) const;

 private:
  Store* store_;
  std::string operator_key_hash_;
};

// Tenant calls need a tenant key with `scope`; the operator key is refused with
// PERMISSION_DENIED saying to use a tenant key.
absl::Status RequireTenantScope(const Caller& caller, absl::string_view scope);
absl::Status RequireOperator(const Caller& caller);

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_API_KEY_AUTH_H_
