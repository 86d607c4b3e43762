#include "agent/jobs/pending_key_store.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/client/state_dir.h"
#include "common/status_macros.h"

namespace certbridge::agent {
namespace {

constexpr char kKekFile[] = "key-encryption-key";
constexpr char kCertificateBegin[] = "-----BEGIN CERTIFICATE-----";
constexpr char kFriendlyNamePrefix[] = "friendly-name: ";

}  // namespace

absl::StatusOr<std::unique_ptr<PendingKeyStore>> PendingKeyStore::Open(std::string dir) {
  RETURN_IF_ERROR(CreatePrivateDirectories(dir));
  RETURN_IF_ERROR(CheckPrivateDirectory(dir, "pending-key directory"));
  const std::string kek_path = absl::StrCat(dir, "/", kKekFile);
  absl::StatusOr<std::string> kek = ReadSecretFile(kek_path);
  if (absl::IsNotFound(kek.status())) {
    kek = absl::BytesToHexString(pki::RandomBytes(32));
    RETURN_IF_ERROR(WriteSecretFile(kek_path, *kek));
  }
  if (!kek.ok()) return kek.status();
  if (kek->size() != 64) {
    return absl::DataLossError(absl::StrCat("\"", kek_path, "\" is damaged; pending keys are lost"));
  }
  return std::unique_ptr<PendingKeyStore>(new PendingKeyStore(std::move(dir), *std::move(kek)));
}

std::string PendingKeyStore::PathFor(const std::string& request_name) const {
  return absl::StrCat(dir_, "/", pki::Sha256Hex(request_name), ".pem");
}

absl::Status PendingKeyStore::Save(const std::string& request_name, const pki::PrivateKey& key,
                                   const std::string& delivery_certificate_pem,
                                   const std::string& friendly_name) {
  ASSIGN_OR_RETURN(std::string encrypted_key, key.ToEncryptedPem(kek_));
  std::string name_line(friendly_name);
  for (char& c : name_line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  const std::string contents = absl::StrCat(encrypted_key, kFriendlyNamePrefix, name_line,
                                            "\n", delivery_certificate_pem);
  absl::MutexLock lock(&mu_);
  return WriteFileAtomically(PathFor(request_name), contents, FileAccess::kOwnerOnly);
}

absl::StatusOr<PendingKey> PendingKeyStore::Load(const std::string& request_name) const {
  std::string path = PathFor(request_name);
  absl::StatusOr<std::string> contents;
  {
    absl::MutexLock lock(&mu_);
    contents = ReadWholeFile(path);
  }
  if (absl::IsNotFound(contents.status())) {
    return absl::NotFoundError(
        absl::StrCat("no generated key is kept for request \"", request_name, "\""));
  }
  if (!contents.ok()) return contents.status();
  const size_t name_at = contents->find(kFriendlyNamePrefix);
  const size_t cert_at = contents->find(kCertificateBegin);
  if (name_at == std::string::npos || cert_at == std::string::npos || cert_at < name_at) {
    return absl::DataLossError(absl::StrCat("pending key file \"", path, "\" is damaged"));
  }
  absl::string_view name_line = absl::string_view(*contents).substr(name_at, cert_at - name_at);
  absl::ConsumePrefix(&name_line, kFriendlyNamePrefix);
  absl::ConsumeSuffix(&name_line, "\n");

  absl::StatusOr<pki::PrivateKey> key =
      pki::PrivateKey::FromEncryptedPem(absl::string_view(*contents).substr(0, name_at), kek_);
  if (!key.ok()) {
    return absl::DataLossError(
        absl::StrCat("pending key file \"", path, "\" does not decrypt with this agent's key"));
  }
  return PendingKey{*std::move(key), contents->substr(cert_at), std::string(name_line)};
}

absl::Status PendingKeyStore::Remove(const std::string& request_name) {
  absl::MutexLock lock(&mu_);
  return RemoveFileIfExists(PathFor(request_name));
}

}  // namespace certbridge::agent
