#include "broker/service/page_tokens.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/pki/pki.h"

namespace certbridge::broker {
namespace {

pki::OpaqueIdCodec MakeCodec(absl::string_view secret) {
  absl::StatusOr<pki::OpaqueIdCodec> codec =
      pki::OpaqueIdCodec::Create(secret.empty() ? pki::RandomToken(32) : std::string(secret));
  // Only an OpenSSL failure in HMAC-SHA-256 gets here: nothing could be served.
  if (!codec.ok()) std::abort();
  return *std::move(codec);
}

absl::string_view KindName(IdKind kind) {
  switch (kind) {
    case IdKind::kRequestPage: return "request-page";
    case IdKind::kAuditPage: return "audit-page";
    case IdKind::kAuditEvent: return "audit-event";
  }
  return "";
}

std::string Scope(absl::string_view tenant_id, IdKind kind) {
  return absl::StrCat(tenant_id, "/", KindName(kind));
}

}  // namespace

ScopedIds::ScopedIds(absl::string_view secret) : codec_(MakeCodec(secret)) {}

std::string ScopedIds::Encode(absl::string_view tenant_id, IdKind kind, int64_t number) const {
  return codec_.Encode(Scope(tenant_id, kind), static_cast<uint64_t>(number));
}

absl::StatusOr<int64_t> ScopedIds::DecodePageToken(absl::string_view tenant_id, IdKind kind,
                                                   absl::string_view token) const {
  if (token.empty()) return 0;
  absl::StatusOr<uint64_t> number = codec_.Decode(Scope(tenant_id, kind), token);
  if (!number.ok() || *number == 0 || *number > static_cast<uint64_t>(INT64_MAX)) {
    return absl::InvalidArgumentError(
        "page_token is not one this API returned (tokens are valid only for the same list "
        "and key's tenant): start again without page_token");
  }
  return static_cast<int64_t>(*number);
}

}  // namespace certbridge::broker
