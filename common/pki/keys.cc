// KeyType, PrivateKey and the small random/hash helpers of pki.h.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/pki/key_policy.h"
#include "common/pki/openssl_handles.h"
#include "common/pki/pki.h"

namespace certbridge::pki {

using internal::BioPtr;
using internal::EvpPkeyPtr;

absl::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kRsa2048:
      return "RSA-2048";
    case KeyType::kRsa3072:
      return "RSA-3072";
    case KeyType::kRsa4096:
      return "RSA-4096";
    case KeyType::kEcP256:
      return "EC-P256";
    case KeyType::kEcP384:
      return "EC-P384";
  }
  return "unknown";
}

absl::StatusOr<KeyType> ParseKeyType(absl::string_view name) {
  for (KeyType type : {KeyType::kRsa2048, KeyType::kRsa3072, KeyType::kRsa4096, KeyType::kEcP256,
                       KeyType::kEcP384}) {
    if (absl::EqualsIgnoreCase(name, KeyTypeName(type))) return type;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "key type \"", name, "\" unknown; use RSA-2048, RSA-3072, RSA-4096, EC-P256 or EC-P384"));
}

namespace internal {

absl::StatusOr<KeyType> ClassifyKey(const EVP_PKEY* pkey, absl::string_view what) {
  int bits = EVP_PKEY_get_bits(pkey);
  std::string found;
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    if (bits == 2048) return KeyType::kRsa2048;
    if (bits == 3072) return KeyType::kRsa3072;
    if (bits == 4096) return KeyType::kRsa4096;
    found = absl::StrCat("RSA-", bits);
  } else if (EVP_PKEY_is_a(pkey, "EC")) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &len) != 1) {
      TakeOpenSslError();
      found = "EC with explicit curve parameters";
    } else {
      absl::string_view curve(group, len);
      if (curve == "prime256v1" || curve == "P-256") return KeyType::kEcP256;
      if (curve == "secp384r1" || curve == "P-384") return KeyType::kEcP384;
      found = absl::StrCat("EC-", curve);
    }
  } else {
    const char* type_name = EVP_PKEY_get0_type_name(pkey);
    found = absl::StrCat(type_name != nullptr ? type_name : "unknown", "-", bits);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      what, " is ", found, "; use RSA 2048, 3072 or 4096 or EC P-256/P-384"));
}

}  // namespace internal

absl::StatusOr<PrivateKey> PrivateKey::Generate(KeyType type) {
  EVP_PKEY* pkey = nullptr;
  switch (type) {
    case KeyType::kRsa2048:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
      break;
    case KeyType::kRsa3072:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{3072});
      break;
    case KeyType::kRsa4096:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{4096});
      break;
    case KeyType::kEcP256:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::kEcP384:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
  }
  if (pkey == nullptr) {
    return internal::OpenSslInternalError(absl::StrCat("generating ", KeyTypeName(type), " key"));
  }
  return PrivateKey(pkey, type);
}

absl::StatusOr<PrivateKey> PrivateKey::FromPem(absl::string_view pem) {
  BioPtr bio = internal::ReadBio(pem);
  // A callback that supplies no passphrase: without it OpenSSL would prompt on the tty
  // for an encrypted key.
  auto no_passphrase = [](char*, int, int, void*) -> int { return -1; };
  EvpPkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (pkey == nullptr) {
    std::string reason = internal::TakeOpenSslError();
    return absl::InvalidArgumentError(absl::StrCat(
        "private key is not an unencrypted PEM key (PKCS#8 or traditional): ", reason));
  }
  absl::StatusOr<KeyType> type = internal::ClassifyKey(pkey.get(), "private key");
  if (!type.ok()) return type.status();
  return PrivateKey(pkey.release(), *type);
}

namespace {

// Hands `passphrase` (a string_view*) to PEM_read_bio_PrivateKey.
int SupplyPassphrase(char* buf, int size, int /*rwflag*/, void* u) {
  const absl::string_view* passphrase = static_cast<const absl::string_view*>(u);
  if (passphrase->size() > static_cast<size_t>(size)) return -1;
  std::memcpy(buf, passphrase->data(), passphrase->size());
  return static_cast<int>(passphrase->size());
}

}  // namespace

absl::StatusOr<PrivateKey> PrivateKey::FromEncryptedPem(absl::string_view pem,
                                                        absl::string_view passphrase) {
  if (!absl::StrContains(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
    return absl::InvalidArgumentError("private key is not an encrypted PKCS#8 PEM key");
  }
  BioPtr bio = internal::ReadBio(pem);
  EvpPkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, SupplyPassphrase, &passphrase));
  if (pkey == nullptr) {
    std::string reason = internal::TakeOpenSslError();
    return absl::InvalidArgumentError(
        absl::StrCat("encrypted private key does not decrypt with this passphrase: ", reason));
  }
  absl::StatusOr<KeyType> type = internal::ClassifyKey(pkey.get(), "private key");
  if (!type.ok()) return type.status();
  return PrivateKey(pkey.release(), *type);
}

PrivateKey::PrivateKey(PrivateKey&& other) noexcept : pkey_(other.pkey_), type_(other.type_) {
  other.pkey_ = nullptr;
}

PrivateKey& PrivateKey::operator=(PrivateKey&& other) noexcept {
  if (this != &other) {
    EVP_PKEY_free(static_cast<EVP_PKEY*>(pkey_));
    pkey_ = other.pkey_;
    type_ = other.type_;
    other.pkey_ = nullptr;
  }
  return *this;
}

PrivateKey::~PrivateKey() { EVP_PKEY_free(static_cast<EVP_PKEY*>(pkey_)); }

std::string PrivateKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (pkey_ == nullptr || !PEM_write_bio_PrivateKey(bio.get(), static_cast<EVP_PKEY*>(pkey_),
                                                    nullptr, nullptr, 0, nullptr, nullptr)) {
    internal::TakeOpenSslError();
    return "";
  }
  return internal::BioContents(bio.get());
}

absl::StatusOr<std::string> PrivateKey::ToEncryptedPem(absl::string_view passphrase) const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || pkey_ == nullptr ||
      PEM_write_bio_PKCS8PrivateKey(bio.get(), static_cast<EVP_PKEY*>(pkey_), EVP_aes_256_cbc(),
                                    passphrase.data(), static_cast<int>(passphrase.size()),
                                    nullptr, nullptr) != 1) {
    return internal::OpenSslInternalError("encrypting a private key (PKCS#8)");
  }
  return internal::BioContents(bio.get());
}

std::string PrivateKey::PublicKeyPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (pkey_ == nullptr || !PEM_write_bio_PUBKEY(bio.get(), static_cast<EVP_PKEY*>(pkey_))) {
    internal::TakeOpenSslError();
    return "";
  }
  return internal::BioContents(bio.get());
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    // Continuing with predictable "random" bytes would hand out guessable codes and keys.
    std::fprintf(stderr, "certbridge: RAND_bytes failed; refusing to continue\n");
    std::abort();
  }
  return out;
}

std::string RandomCode(size_t n) {
  static constexpr absl::string_view kAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
  // Rejection sampling: bytes >= 248 (= 8 * 31) would bias the first characters.
  constexpr unsigned kLimit = 256 - 256 % kAlphabet.size();
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    std::string bytes = RandomBytes(n - out.size() + 8);
    for (char b : bytes) {
      unsigned value = static_cast<unsigned char>(b);
      if (value >= kLimit) continue;
      out.push_back(kAlphabet[value % kAlphabet.size()]);
      if (out.size() == n) break;
    }
  }
  return out;
}

std::string RandomToken(size_t bytes) { return absl::WebSafeBase64Escape(RandomBytes(bytes)); }

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    internal::TakeOpenSslError();
    return "";
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), len));
}

bool SamePublicKey(absl::string_view spki_der_a, absl::string_view spki_der_b) {
  if (spki_der_a == spki_der_b) return !spki_der_a.empty();
  auto decode = [](absl::string_view der) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    return EvpPkeyPtr(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  };
  EvpPkeyPtr a = decode(spki_der_a);
  EvpPkeyPtr b = decode(spki_der_b);
  const bool same = a != nullptr && b != nullptr && EVP_PKEY_eq(a.get(), b.get()) == 1;
  internal::TakeOpenSslError();
  return same;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace certbridge::pki
