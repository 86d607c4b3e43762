#include "agent/jobs/pending_key_store.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/client/state_dir.h"
#include "common/status_macros.h"

// OpenSSL is used here directly (not through common/pki) only for PKCS#8 encryption,
// which common/pki does not offer.
namespace certbridge::agent {
namespace {

constexpr char kKekFile[] = "key-encryption-key";
constexpr char kCertificateBegin[] = "-----BEGIN CERTIFICATE-----";
constexpr char kFriendlyNamePrefix[] = "friendly-name: ";

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

// Unencrypted PKCS#8 in memory only, wiped after use.
struct WipedString {
  std::string value;
  ~WipedString() {
    if (!value.empty()) OPENSSL_cleanse(value.data(), value.size());
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<PendingKeyStore>> PendingKeyStore::Open(std::string dir) {
  RETURN_IF_ERROR(CreatePrivateDirectories(dir));
  RETURN_IF_ERROR(CheckPrivateDirectory(dir, "pending-key directory"));
  const std::string kek_path = absl::StrCat(dir, "/", kKekFile);
  absl::StatusOr<std::string> kek = ReadWholeFile(kek_path);
  if (absl::IsNotFound(kek.status())) {
    kek = absl::BytesToHexString(pki::RandomBytes(32));
    RETURN_IF_ERROR(WriteFileAtomically(kek_path, *kek, FileAccess::kOwnerOnly));
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
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PKCS8PrivateKey(bio.get(), static_cast<EVP_PKEY*>(key.native()),
                                    EVP_aes_256_cbc(), kek_.data(), static_cast<int>(kek_.size()),
                                    nullptr, nullptr) != 1) {
    return absl::InternalError("pending key: PKCS#8 encryption failed");
  }
  std::string name_line(friendly_name);
  for (char& c : name_line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  const std::string contents = absl::StrCat(BioContents(bio.get()), kFriendlyNamePrefix, name_line,
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

  BioPtr in(BIO_new_mem_buf(contents->data(), static_cast<int>(name_at)));
  PkeyPtr pkey(in == nullptr ? nullptr
                             : PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr,
                                                       const_cast<char*>(kek_.c_str())));
  if (pkey == nullptr) {
    return absl::DataLossError(
        absl::StrCat("pending key file \"", path, "\" does not decrypt with this agent's key"));
  }
  // Secure memory BIO: cleared when freed.
  BioPtr plain(BIO_new(BIO_s_secmem()));
  if (plain == nullptr || PEM_write_bio_PKCS8PrivateKey(plain.get(), pkey.get(), nullptr, nullptr,
                                                        0, nullptr, nullptr) != 1) {
    return absl::InternalError("pending key: PKCS#8 export failed");
  }
  WipedString pem{BioContents(plain.get())};
  ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::FromPem(pem.value));
  return PendingKey{std::move(key), contents->substr(cert_at), std::string(name_line)};
}

absl::Status PendingKeyStore::Remove(const std::string& request_name) {
  absl::MutexLock lock(&mu_);
  return RemoveFileIfExists(PathFor(request_name));
}

}  // namespace certbridge::agent
