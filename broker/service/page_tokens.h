// Page tokens and audit event ids as callers see them: opaque and valid in one tenant only.
//
// The store pages by global sequence numbers (certificate requests' insertion order, audit
// event ids). ScopedIds wraps them with pki::OpaqueIdCodec in a scope of the tenant and the
// list, so a tenant neither learns how busy other tenants are nor can replay a token in
// another tenant or another list.
//
// The secret must be the same on every replica (a token from one replica is read by the
// next): the broker passes its connector CA key. Without one, a random per-process secret is
// used, which is safe but makes tokens and ids differ between processes (tests only).
#ifndef CERTBRIDGE_BROKER_SERVICE_PAGE_TOKENS_H_
#define CERTBRIDGE_BROKER_SERVICE_PAGE_TOKENS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/opaque_ids.h"

namespace certbridge::broker {

enum class IdKind {
  kRequestPage,  // ListCertificateRequests page tokens
  kAuditPage,    // ListAuditEvents page tokens
  kAuditEvent,   // AuditEvent.event_id
};

class ScopedIds {
 public:
  explicit ScopedIds(absl::string_view secret);

  std::string Encode(absl::string_view tenant_id, IdKind kind, int64_t number) const;
  // 0 for an empty token (the first page). INVALID_ARGUMENT "page_token is not one this
  // API returned" for anything Encode did not make for this tenant and kind.
  absl::StatusOr<int64_t> DecodePageToken(absl::string_view tenant_id, IdKind kind,
                                          absl::string_view token) const;

 private:
  pki::OpaqueIdCodec codec_;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_PAGE_TOKENS_H_
