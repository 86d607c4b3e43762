#include "common/pki/delivery.h"

#include <vector>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>

#include "absl/base/call_once.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/pki/openssl_handles.h"

namespace certbridge::pki {
namespace {

using internal::BioPtr;
using internal::OpenSslInternalError;
using internal::TakeOpenSslError;
using internal::X509Ptr;

constexpr int kPkcs12Iterations = 2048;

bool CipherAvailable(const char* name) {
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, name, nullptr);
  EVP_CIPHER_free(cipher);
  TakeOpenSslError();
  return cipher != nullptr;
}

// OpenSSL 3 builds may move 3DES to the legacy provider. Loading a provider explicitly
// stops the default one from auto-loading, so both are loaded (once, for the process;
// providers stay loaded, which is what every later call needs).
absl::Status EnsureTripleDes() {
  static absl::once_flag once;
  absl::call_once(once, [] {
    if (CipherAvailable("DES-EDE3-CBC")) return;
    OSSL_PROVIDER_load(nullptr, "default");
    OSSL_PROVIDER_load(nullptr, "legacy");
    TakeOpenSslError();
  });
  if (!CipherAvailable("DES-EDE3-CBC")) {
    return absl::FailedPreconditionError(
        "PKCS#12 legacy profile needs 3DES, which this OpenSSL provides only through the "
        "\"legacy\" provider, and it could not be loaded; install it (legacy.so) or set "
        "OPENSSL_MODULES, or use the modern profile");
  }
  return absl::OkStatus();
}

std::string ToDerPkcs12(PKCS12* p12) {
  unsigned char* buf = nullptr;
  int len = i2d_PKCS12(p12, &buf);
  if (len <= 0) return "";
  std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
  OPENSSL_free(buf);
  return out;
}

}  // namespace

absl::string_view Pkcs12ProfileName(Pkcs12Profile profile) {
  switch (profile) {
    case Pkcs12Profile::kModern:
      return "modern";
    case Pkcs12Profile::kLegacy:
      return "legacy";
  }
  return "unknown";
}

absl::StatusOr<std::string> CreatePkcs12(const PrivateKey& key, absl::string_view chain_pem,
                                         absl::string_view password,
                                         absl::string_view friendly_name, Pkcs12Profile profile) {
  EVP_PKEY* pkey = static_cast<EVP_PKEY*>(key.native());
  if (pkey == nullptr) return absl::InvalidArgumentError("PKCS#12: private key is empty");
  if (password.empty()) {
    return absl::InvalidArgumentError("PKCS#12 password must not be empty");
  }
  absl::StatusOr<std::vector<std::string>> blocks = SplitPemChain(chain_pem);
  if (!blocks.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PKCS#12 certificate chain: ", blocks.status().message()));
  }
  std::vector<X509Ptr> certs;
  for (const std::string& block : *blocks) {
    absl::StatusOr<X509Ptr> cert = internal::LoadCertificate(block, "PKCS#12 certificate");
    if (!cert.ok()) return cert.status();
    certs.push_back(*std::move(cert));
  }
  if (EVP_PKEY_eq(X509_get0_pubkey(certs[0].get()), pkey) != 1) {
    TakeOpenSslError();
    return absl::InvalidArgumentError(
        "PKCS#12: the first certificate of the chain does not belong to the private key");
  }
  internal::X509StackPtr ca_certs(sk_X509_new_null());
  if (ca_certs == nullptr) return OpenSslInternalError("PKCS#12 chain");
  for (size_t i = 1; i < certs.size(); ++i) {
    if (!X509_add_cert(ca_certs.get(), certs[i].get(), X509_ADD_FLAG_UP_REF)) {
      return OpenSslInternalError("PKCS#12 chain");
    }
  }

  int pbe_nid = NID_aes_256_cbc;  // PKCS12_create makes this PBES2 with PBKDF2
  const EVP_MD* mac_md = EVP_sha256();
  if (profile == Pkcs12Profile::kLegacy) {
    absl::Status status = EnsureTripleDes();
    if (!status.ok()) return status;
    pbe_nid = NID_pbe_WithSHA1And3_Key_TripleDES_CBC;
    mac_md = EVP_sha1();
  }
  std::string pass(password);
  std::string name(friendly_name);
  // mac_iter -1: no MAC here; it is set below with an explicit digest.
  internal::Pkcs12Ptr p12(PKCS12_create(pass.c_str(), name.empty() ? nullptr : name.c_str(),
                                        pkey, certs[0].get(), ca_certs.get(), pbe_nid, pbe_nid,
                                        kPkcs12Iterations, -1, 0));
  if (p12 == nullptr) {
    return OpenSslInternalError(
        absl::StrCat("creating PKCS#12 (", Pkcs12ProfileName(profile), " profile)"));
  }
  if (PKCS12_set_mac(p12.get(), pass.c_str(), static_cast<int>(pass.size()), nullptr, 0,
                     kPkcs12Iterations, mac_md) != 1) {
    return OpenSslInternalError("PKCS#12 MAC");
  }
  OPENSSL_cleanse(pass.data(), pass.size());
  std::string der = ToDerPkcs12(p12.get());
  if (der.empty()) return OpenSslInternalError("encoding PKCS#12");
  return der;
}

absl::StatusOr<std::string> EnvelopeForRecipient(absl::string_view plaintext,
                                                 absl::string_view recipient_certificate_pem) {
  absl::StatusOr<X509Ptr> cert =
      internal::LoadCertificate(recipient_certificate_pem, "recipient certificate");
  if (!cert.ok()) return cert.status();
  EVP_PKEY* recipient_key = X509_get0_pubkey(cert->get());
  if (recipient_key == nullptr) {
    TakeOpenSslError();
    return absl::InvalidArgumentError("recipient certificate has no usable public key");
  }
  bool rsa = EVP_PKEY_is_a(recipient_key, "RSA");
  if (!rsa && !EVP_PKEY_is_a(recipient_key, "EC")) {
    return absl::InvalidArgumentError(
        "recipient certificate key must be RSA or EC to receive an envelope");
  }

  constexpr unsigned int kFlags = CMS_BINARY | CMS_PARTIAL;
  internal::CmsPtr cms(CMS_encrypt(nullptr, nullptr, EVP_aes_256_cbc(), kFlags));
  if (cms == nullptr) return OpenSslInternalError("CMS envelope");
  // CMS_KEY_PARAM leaves the RSA recipient open so that OAEP can be chosen; the EC
  // recipient uses OpenSSL's default ECDH key agreement.
  CMS_RecipientInfo* recipient =
      CMS_add1_recipient_cert(cms.get(), cert->get(), rsa ? kFlags | CMS_KEY_PARAM : kFlags);
  if (recipient == nullptr) return OpenSslInternalError("CMS recipient");
  if (rsa) {
    EVP_PKEY_CTX* pctx = CMS_RecipientInfo_get0_pkey_ctx(recipient);
    if (pctx == nullptr || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0) {
      return OpenSslInternalError("CMS RSA-OAEP parameters");
    }
  }
  BioPtr in = internal::ReadBio(plaintext);
  if (CMS_final(cms.get(), in.get(), nullptr, kFlags) != 1) {
    return OpenSslInternalError("CMS encrypt");
  }
  unsigned char* der = nullptr;
  int len = i2d_CMS_ContentInfo(cms.get(), &der);
  if (len <= 0) return OpenSslInternalError("encoding CMS");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

absl::StatusOr<std::string> DeliveryCertificateSha256(absl::string_view certificate_pem) {
  absl::StatusOr<CertificateInfo> cert = ParseCertificate(certificate_pem);
  if (!cert.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("delivery certificate: ", cert.status().message()));
  }
  return Sha256Hex(cert->der);
}

std::string FormatSha256Fingerprint(absl::string_view hex) {
  std::string out;
  for (size_t i = 0; i < hex.size(); ++i) {
    if (i > 0 && i % 2 == 0) out.push_back(':');
    out.push_back(absl::ascii_toupper(static_cast<unsigned char>(hex[i])));
  }
  return out;
}

}  // namespace certbridge::pki
