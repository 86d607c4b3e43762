#include "common/pki/openssl_handles.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace certbridge::pki::internal {

std::string TakeOpenSslError() {
  unsigned long last = 0;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) last = e;
  if (last == 0) return "unknown OpenSSL error";
  const char* reason = ERR_reason_error_string(last);
  if (reason != nullptr) return reason;
  char buf[256];
  ERR_error_string_n(last, buf, sizeof(buf));
  return buf;
}

absl::Status OpenSslInternalError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", TakeOpenSslError()));
}

BioPtr ReadBio(absl::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) return "";
  return std::string(data, static_cast<size_t>(len));
}

absl::StatusOr<X509Ptr> LoadCertificate(absl::string_view pem_or_der, absl::string_view what) {
  X509Ptr cert;
  if (absl::StrContains(pem_or_der, "-----BEGIN")) {
    BioPtr bio = ReadBio(pem_or_der);
    cert.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  } else {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(pem_or_der.data());
    cert.reset(d2i_X509(nullptr, &p, static_cast<long>(pem_or_der.size())));
    if (cert != nullptr &&
        p != reinterpret_cast<const unsigned char*>(pem_or_der.data()) + pem_or_der.size()) {
      cert.reset();
    }
  }
  if (cert == nullptr) {
    std::string reason = TakeOpenSslError();
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not a valid X.509 certificate (PEM or DER): ", reason));
  }
  return cert;
}

std::string ToDer(X509* cert) {
  unsigned char* buf = nullptr;
  int len = i2d_X509(cert, &buf);
  if (len <= 0) return "";
  std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
  OPENSSL_free(buf);
  return out;
}

std::string ToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert)) return "";
  return BioContents(bio.get());
}

}  // namespace certbridge::pki::internal
