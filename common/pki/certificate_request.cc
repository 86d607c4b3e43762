// CreateCsrPem, ParseCsr and CsrHasPublicKey.
#include "common/pki/certificate_request.h"

#include <string>
#include <utility>
#include <vector>

#include <openssl/pem.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/pki/distinguished_name.h"
#include "common/pki/key_policy.h"
#include "common/pki/pem.h"
#include "common/pki/subject_alt_names.h"

namespace certbridge::pki {

using internal::BioPtr;
using internal::ExtensionStackPtr;
using internal::GeneralNamesPtr;
using internal::TakeOpenSslError;
using internal::X509ReqPtr;

absl::StatusOr<std::string> CreateCsrPem(const PrivateKey& key, const CsrParams& params) {
  EVP_PKEY* pkey = static_cast<EVP_PKEY*>(key.native());
  if (pkey == nullptr) return absl::InvalidArgumentError("CSR: private key is empty (moved from)");
  absl::StatusOr<internal::X509NamePtr> subject =
      internal::ParseDistinguishedName(params.subject, "subject");
  if (!subject.ok()) return subject.status();

  X509ReqPtr req(X509_REQ_new());
  if (req == nullptr || !X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) ||
      !X509_REQ_set_subject_name(req.get(), subject->get()) ||
      !X509_REQ_set_pubkey(req.get(), pkey)) {
    return internal::OpenSslInternalError("building CSR");
  }
  if (!params.sans.empty()) {
    absl::StatusOr<GeneralNamesPtr> names = internal::EncodeSubjectAltNames(params.sans);
    if (!names.ok()) return names.status();
    ExtensionStackPtr extensions(sk_X509_EXTENSION_new_null());
    // RFC 5280 4.2.1.6: with an empty subject the SAN extension is critical.
    int critical = X509_NAME_entry_count(subject->get()) == 0 ? 1 : 0;
    X509_EXTENSION* san = X509V3_EXT_i2d(NID_subject_alt_name, critical, names->get());
    if (extensions == nullptr || san == nullptr ||
        !sk_X509_EXTENSION_push(extensions.get(), san)) {
      X509_EXTENSION_free(san);
      return internal::OpenSslInternalError("CSR subjectAltName");
    }
    if (!X509_REQ_add_extensions(req.get(), extensions.get())) {
      return internal::OpenSslInternalError("CSR extensions");
    }
  }
  if (!params.challenge_password.empty() &&
      !X509_REQ_add1_attr_by_NID(req.get(), NID_pkcs9_challengePassword, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(
                                     params.challenge_password.data()),
                                 static_cast<int>(params.challenge_password.size()))) {
    return internal::OpenSslInternalError("CSR challengePassword");
  }
  if (X509_REQ_sign(req.get(), pkey, EVP_sha256()) <= 0) {
    return internal::OpenSslInternalError("signing CSR");
  }
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509_REQ(out.get(), req.get())) {
    return internal::OpenSslInternalError("writing CSR");
  }
  return internal::BioContents(out.get());
}

namespace internal {

std::string RawCsrPublicKeyInfo(absl::string_view der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* const end = p + der.size();
  // Reads one definite-length header at p; true if it is `tag` (universal class) with the
  // constructed bit as expected. p is left at the element's contents.
  auto header = [&](int tag, bool constructed, long* length) {
    int got_tag = 0;
    int got_class = 0;
    const int r = ASN1_get_object(&p, length, &got_tag, &got_class, end - p);
    return r == (constructed ? V_ASN1_CONSTRUCTED : 0) && got_tag == tag &&
           got_class == V_ASN1_UNIVERSAL;
  };
  long length = 0;
  if (!header(V_ASN1_SEQUENCE, true, &length)) return "";  // CertificationRequest
  if (!header(V_ASN1_SEQUENCE, true, &length)) return "";  // CertificationRequestInfo
  if (!header(V_ASN1_INTEGER, false, &length)) return "";  // version
  p += length;
  if (!header(V_ASN1_SEQUENCE, true, &length)) return "";  // subject
  p += length;
  const unsigned char* const spki = p;
  if (!header(V_ASN1_SEQUENCE, true, &length)) return "";  // subjectPKInfo
  p += length;
  return std::string(reinterpret_cast<const char*>(spki), static_cast<size_t>(p - spki));
}

absl::StatusOr<VerifiedCsr> ParseAndVerifyCsr(absl::string_view pem_or_der) {
  // A PKCS#10 request with a 4096-bit key and many SANs is a few KiB; more is abuse.
  constexpr size_t kMaxCsrBytes = 64 * 1024;
  if (pem_or_der.size() > kMaxCsrBytes) {
    return absl::InvalidArgumentError(absl::StrCat("CSR is ", pem_or_der.size(),
                                                   " bytes; at most ", kMaxCsrBytes,
                                                   " are accepted"));
  }
  VerifiedCsr out;
  if (absl::StrContains(pem_or_der, "-----BEGIN")) {
    BioPtr bio = ReadBio(pem_or_der);
    out.request.reset(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  } else {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(pem_or_der.data());
    out.request.reset(d2i_X509_REQ(nullptr, &p, static_cast<long>(pem_or_der.size())));
    if (out.request != nullptr &&
        p != reinterpret_cast<const unsigned char*>(pem_or_der.data()) + pem_or_der.size()) {
      out.request.reset();  // trailing bytes after the request
    }
  }
  if (out.request == nullptr) {
    TakeOpenSslError();
    return absl::InvalidArgumentError("CSR is not a valid PKCS#10 request (PEM or DER)");
  }
  X509_REQ* req = out.request.get();
  EVP_PKEY* pkey = X509_REQ_get0_pubkey(req);
  if (pkey == nullptr) {
    TakeOpenSslError();
    return absl::InvalidArgumentError("CSR public key is missing or malformed");
  }
  absl::StatusOr<KeyType> key_type = ClassifyKey(pkey, "CSR key");
  if (!key_type.ok()) return key_type.status();
  if (X509_REQ_verify(req, pkey) != 1) {
    TakeOpenSslError();
    return absl::InvalidArgumentError("CSR signature does not verify");
  }

  CsrInfo& info = out.info;
  unsigned char* der = nullptr;
  int der_len = i2d_X509_REQ(req, &der);
  if (der_len <= 0) return OpenSslInternalError("encoding CSR");
  info.der.assign(reinterpret_cast<char*>(der), static_cast<size_t>(der_len));
  OPENSSL_free(der);
  // The request's own SubjectPublicKeyInfo structure, not i2d_PUBKEY(pkey): OpenSSL 3 runs
  // its provider encoder lookup for the latter, a sixth of ParseCsr's time in a broker
  // profile (docs/benchmarks.md, 2026-12-02).
  unsigned char* spki = nullptr;
  int spki_len = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &spki);
  if (spki_len <= 0) return OpenSslInternalError("encoding CSR public key");
  info.public_key_der.assign(reinterpret_cast<char*>(spki), static_cast<size_t>(spki_len));
  OPENSSL_free(spki);
  info.subject = FormatDistinguishedName(X509_REQ_get_subject_name(req));
  info.key_type = *key_type;
  info.key_bits = EVP_PKEY_get_bits(pkey);

  ExtensionStackPtr extensions(X509_REQ_get_extensions(req));
  if (extensions != nullptr) {
    int critical = -1;
    GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
        X509V3_get_d2i(extensions.get(), NID_subject_alt_name, &critical, nullptr)));
    if (names == nullptr && critical != -1) {
      TakeOpenSslError();
      return absl::InvalidArgumentError(
          critical == -2 ? "CSR has more than one subjectAltName extension"
                         : "CSR subjectAltName extension is malformed");
    }
    info.sans = DecodeSubjectAltNames(names.get());
  }
  TakeOpenSslError();  // lookups of absent extensions leave nothing worth keeping
  return out;
}

}  // namespace internal

bool CsrHasPublicKey(absl::string_view csr_pem_or_der, absl::string_view spki_der) {
  constexpr size_t kMaxCsrBytes = 64 * 1024;  // as ParseCsr
  if (csr_pem_or_der.size() > kMaxCsrBytes || spki_der.empty()) return false;
  std::string der;
  if (absl::StrContains(csr_pem_or_der, "-----BEGIN")) {
    for (absl::string_view label : {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"}) {
      absl::StatusOr<std::vector<std::string>> blocks = PemBlocksDer(csr_pem_or_der, label);
      if (blocks.ok() && !blocks->empty()) {
        der = std::move(blocks->front());
        break;
      }
    }
  } else {
    der = std::string(csr_pem_or_der);
  }
  std::string request_spki = internal::RawCsrPublicKeyInfo(der);
  TakeOpenSslError();  // a header that did not parse
  if (request_spki == spki_der) return true;
  if (request_spki.empty()) {
    // Not walkable (e.g. indefinite lengths): let OpenSSL parse the whole request.
    absl::StatusOr<CsrInfo> csr = ParseCsr(csr_pem_or_der);
    if (!csr.ok()) return false;
    request_spki = std::move(csr->public_key_der);
  }
  return SamePublicKey(request_spki, spki_der);
}

absl::StatusOr<CsrInfo> ParseCsr(absl::string_view pem_or_der) {
  absl::StatusOr<internal::VerifiedCsr> csr = internal::ParseAndVerifyCsr(pem_or_der);
  if (!csr.ok()) return csr.status();
  return std::move(csr->info);
}

}  // namespace certbridge::pki
