#include "common/pki/crl.h"

#include <memory>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace certbridge::pki {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using CrlPtr = std::unique_ptr<X509_CRL, Deleter<X509_CRL, X509_CRL_free>>;
using RevokedPtr = std::unique_ptr<X509_REVOKED, Deleter<X509_REVOKED, X509_REVOKED_free>>;
using TimePtr = std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME, ASN1_TIME_free>>;
using IntegerPtr = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER, ASN1_INTEGER_free>>;
using EnumPtr = std::unique_ptr<ASN1_ENUMERATED, Deleter<ASN1_ENUMERATED, ASN1_ENUMERATED_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

absl::Status OpensslError(absl::string_view what) {
  return absl::InternalError(absl::StrCat("CRL: ", what, " failed in OpenSSL"));
}

TimePtr ToAsn1Time(absl::Time t) { return TimePtr(ASN1_TIME_set(nullptr, absl::ToTimeT(t))); }

}  // namespace

bool IsValidCrlReason(int reason) { return (reason >= 0 && reason <= 6) || reason == 8; }

absl::StatusOr<std::string> CreateCrlPem(const SigningCa& ca, const CrlParams& params) {
  X509* ca_cert = static_cast<X509*>(ca.native_cert());
  EVP_PKEY* ca_key = static_cast<EVP_PKEY*>(ca.native_key());
  if (ca_cert == nullptr || ca_key == nullptr) {
    return absl::FailedPreconditionError("CRL: the signing CA has no certificate or key");
  }
  CrlPtr crl(X509_CRL_new());
  if (!crl) return OpensslError("X509_CRL_new");
  if (X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca_cert)) != 1) {
    return OpensslError("setting version and issuer");
  }
  TimePtr this_update = ToAsn1Time(params.this_update);
  TimePtr next_update = ToAsn1Time(params.next_update);
  if (!this_update || !next_update || X509_CRL_set1_lastUpdate(crl.get(), this_update.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next_update.get()) != 1) {
    return OpensslError("setting thisUpdate/nextUpdate");
  }

  for (const RevokedCertificate& r : params.revoked) {
    BIGNUM* bn_raw = nullptr;
    if (r.serial_hex.empty() || BN_hex2bn(&bn_raw, r.serial_hex.c_str()) !=
                                    static_cast<int>(r.serial_hex.size())) {
      BN_free(bn_raw);
      return absl::InvalidArgumentError(
          absl::StrCat("CRL: serial \"", r.serial_hex, "\" is not a hex number"));
    }
    BnPtr bn(bn_raw);
    if (!IsValidCrlReason(static_cast<int>(r.reason))) {
      return absl::InvalidArgumentError(absl::StrCat("CRL: serial ", r.serial_hex, ": reason ",
                                                     static_cast<int>(r.reason),
                                                     " is not a CRLReason (0-6, 8)"));
    }
    IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    TimePtr when = ToAsn1Time(r.revoked_at);
    RevokedPtr entry(X509_REVOKED_new());
    if (!serial || !when || !entry || X509_REVOKED_set_serialNumber(entry.get(), serial.get()) != 1 ||
        X509_REVOKED_set_revocationDate(entry.get(), when.get()) != 1) {
      return OpensslError("building a revoked entry");
    }
    if (r.reason != CrlReason::kUnspecified) {
      EnumPtr code(ASN1_ENUMERATED_new());
      if (!code || ASN1_ENUMERATED_set(code.get(), static_cast<long>(r.reason)) != 1 ||
          X509_REVOKED_add1_ext_i2d(entry.get(), NID_crl_reason, code.get(), 0, 0) != 1) {
        return OpensslError("adding a reason code");
      }
    }
    if (X509_CRL_add0_revoked(crl.get(), entry.get()) != 1) return OpensslError("add revoked");
    entry.release();  // owned by the CRL now
  }

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca_cert, nullptr, nullptr, crl.get(), 0);
  ExtPtr aki(X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier,
                                 const_cast<char*>("keyid:always")));
  if (!aki || X509_CRL_add_ext(crl.get(), aki.get(), -1) != 1) {
    return OpensslError("adding authorityKeyIdentifier");
  }
  IntegerPtr number(ASN1_INTEGER_new());
  if (!number || ASN1_INTEGER_set_int64(number.get(), params.crl_number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) != 1) {
    return OpensslError("adding cRLNumber");
  }
  if (X509_CRL_sort(crl.get()) != 1 || X509_CRL_sign(crl.get(), ca_key, EVP_sha256()) <= 0) {
    return OpensslError("signing");
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_CRL(bio.get(), crl.get()) != 1) return OpensslError("PEM");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace certbridge::pki
