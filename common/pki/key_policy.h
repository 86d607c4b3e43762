// Internal to common/pki: which public keys certbridge accepts.
#ifndef CERTBRIDGE_COMMON_PKI_KEY_POLICY_H_
#define CERTBRIDGE_COMMON_PKI_KEY_POLICY_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/openssl_handles.h"
#include "common/pki/pki.h"

namespace certbridge::pki::internal {

// The KeyType of `pkey`, or INVALID_ARGUMENT "<what> is RSA-1024; use RSA 2048, 3072 or
// 4096 or EC P-256/P-384".
absl::StatusOr<KeyType> ClassifyKey(const EVP_PKEY* pkey, absl::string_view what);

}  // namespace certbridge::pki::internal

#endif  // CERTBRIDGE_COMMON_PKI_KEY_POLICY_H_
