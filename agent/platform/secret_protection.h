// Protection of the agent's secrets at rest (agent.key, the pending-key encryption key) on
// top of the file's own access control (durable_files.h). One implementation per platform:
//   secret_protection_windows.cc  DPAPI, machine scope: CryptProtectData with
//                                 CRYPTPROTECT_LOCAL_MACHINE and a certbridge-specific
//                                 entropy. The stored form is
//                                   "certbridge-dpapi-machine-v1\n" base64(blob) "\n"
//                                 which only this machine can turn back into the secret: a
//                                 copied file, backup or disk image is useless elsewhere.
//   secret_protection_posix.cc    nothing beyond the file mode (0600 in a 0700 directory,
//                                 owned by the agent's account): the stored form is the
//                                 secret itself.
//
// A stored value that is not in this platform's protected form (written before protection
// existed, or put there by hand) is still accepted: UnprotectSecret returns it with
// `was_protected` false, and the caller rewrites it protected (ReadSecretFile in
// agent/client/state_dir.h does that).
//
// Errors: DATA_LOSS when a protected value is damaged or cannot be unprotected on this
// machine (copied from another host, or the machine's DPAPI key was reset): re-register the
// agent. INTERNAL when the OS refuses to protect. Thread-safe.
#ifndef CERTBRIDGE_AGENT_PLATFORM_SECRET_PROTECTION_H_
#define CERTBRIDGE_AGENT_PLATFORM_SECRET_PROTECTION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace certbridge::agent {

// For logs and `status`: "DPAPI (machine scope)" or "file permissions (0600 in a 0700 directory)".
absl::string_view SecretProtectionName();

// True where ProtectSecret encrypts (Windows), false where it returns the secret (POSIX).
bool SecretProtectionEncrypts();

// The form of `secret` to write to disk.
absl::StatusOr<std::string> ProtectSecret(absl::string_view secret);

struct UnprotectedSecret {
  std::string secret;
  bool was_protected = true;  // false: `stored` was the plain secret; rewrite it protected
};

// The secret in `stored` (ProtectSecret's output, or a plain legacy value).
absl::StatusOr<UnprotectedSecret> UnprotectSecret(absl::string_view stored);

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_PLATFORM_SECRET_PROTECTION_H_
