// PendingKeyStore: keys the agent generated in key-generation mode, kept from the moment
// before Submit until the PKCS#12 is built (at once when the CA issues; after a later
// RETRIEVE when the request was taken under submission, or after a restart that lost the
// CA's answer). A key is never written unencrypted:
//
//   DIR/                      0700 (state_dir/pending-keys)
//     key-encryption-key      0600  32 random bytes (hex), made on first use; on Windows
//                                   DPAPI-protected (WriteSecretFile in state_dir.h)
//     <sha256(request)>.pem   0600  the key as encrypted PKCS#8 (PBES2: PBKDF2-HMAC-SHA256,
//                                   AES-256-CBC, under the key-encryption key), then the
//                                   delivery certificate and a friendly-name line
//
// The key-encryption key lives beside the keys: on Linux this protects against the keys
// leaking through backups of the journal or logs, not against someone who can read the whole
// state dir (who could also use agent.key). On Windows DPAPI ties the key-encryption key to
// this machine, so a copy of the whole state dir is of no use elsewhere. Files are written
// atomically.
//
// Errors: NOT_FOUND when no key is kept for the request; DATA_LOSS for a damaged file or a
// key that does not decrypt; INTERNAL for I/O. Thread-safe.
#ifndef CERTBRIDGE_AGENT_JOBS_PENDING_KEY_STORE_H_
#define CERTBRIDGE_AGENT_JOBS_PENDING_KEY_STORE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/pki/pki.h"

namespace certbridge::agent {

struct PendingKey {
  pki::PrivateKey key;
  std::string delivery_certificate_pem;
  std::string friendly_name;
};

class PendingKeyStore {
 public:
  // Creates DIR (0700) and the key-encryption key if needed.
  static absl::StatusOr<std::unique_ptr<PendingKeyStore>> Open(std::string dir);

  // Keeps `key` for the certificate request `request_name` (replacing an older one).
  absl::Status Save(const std::string& request_name, const pki::PrivateKey& key,
                    const std::string& delivery_certificate_pem, const std::string& friendly_name);
  absl::StatusOr<PendingKey> Load(const std::string& request_name) const;
  // OK when nothing is kept.
  absl::Status Remove(const std::string& request_name);

 private:
  PendingKeyStore(std::string dir, std::string kek) : dir_(std::move(dir)), kek_(std::move(kek)) {}
  std::string PathFor(const std::string& request_name) const;

  const std::string dir_;
  const std::string kek_;
  mutable absl::Mutex mu_;
};

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_JOBS_PENDING_KEY_STORE_H_
