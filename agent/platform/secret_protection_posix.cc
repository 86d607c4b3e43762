// POSIX has no machine-bound secret store the agent can rely on everywhere (no TPM or
// keyring on most servers): the state dir's permissions are the protection
// (durable_files_posix.cc: 0600 files in a 0700 directory owned by the agent's account).
#include "agent/platform/secret_protection.h"

namespace certbridge::agent {

absl::string_view SecretProtectionName() {
  return "file permissions (0600 in a 0700 directory)";
}

bool SecretProtectionEncrypts() { return false; }

absl::StatusOr<std::string> ProtectSecret(absl::string_view secret) {
  return std::string(secret);
}

absl::StatusOr<UnprotectedSecret> UnprotectSecret(absl::string_view stored) {
  return UnprotectedSecret{std::string(stored), true};
}

}  // namespace certbridge::agent
