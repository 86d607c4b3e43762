// SigningCa, ParseCertificate, SplitPemChain, VerifyChain, KeyMatchesCertificate.
#include <ctime>
#include <string>
#include <vector>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/adcs/serial_number.h"
#include "common/pki/certificate_request.h"
#include "common/pki/distinguished_name.h"
#include "common/pki/openssl_handles.h"
#include "common/pki/pki.h"
#include "common/pki/subject_alt_names.h"

namespace certbridge::pki {
namespace {

using internal::Asn1IntegerPtr;
using internal::Asn1ObjectPtr;
using internal::Asn1OctetStringPtr;
using internal::Asn1StringPtr;
using internal::Asn1TypePtr;
using internal::BasicConstraintsPtr;
using internal::BignumPtr;
using internal::ExtendedKeyUsagePtr;
using internal::GeneralNamesPtr;
using internal::OpenSslInternalError;
using internal::TakeOpenSslError;
using internal::X509NamePtr;
using internal::X509Ptr;

// KeyUsage bit positions (RFC 5280 4.2.1.3).
constexpr int kDigitalSignature = 0;
constexpr int kKeyEncipherment = 2;
constexpr int kKeyCertSign = 5;
constexpr int kCrlSign = 6;

absl::Time FromAsn1Time(const ASN1_TIME* t) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    TakeOpenSslError();
    return absl::InfinitePast();
  }
  return absl::FromCivil(absl::CivilSecond(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                                           tm.tm_hour, tm.tm_min, tm.tm_sec),
                         absl::UTCTimeZone());
}

// RFC 5280 method 1: SHA-1 of the subjectPublicKey BIT STRING contents.
absl::StatusOr<std::string> KeyIdentifier(EVP_PKEY* pkey) {
  X509_PUBKEY* xpk = nullptr;
  if (!X509_PUBKEY_set(&xpk, pkey)) return OpenSslInternalError("key identifier");
  const unsigned char* key_bytes = nullptr;
  int key_len = 0;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  bool ok = X509_PUBKEY_get0_param(nullptr, &key_bytes, &key_len, nullptr, xpk) == 1 &&
            EVP_Digest(key_bytes, static_cast<size_t>(key_len), digest, &digest_len, EVP_sha1(),
                       nullptr) == 1;
  X509_PUBKEY_free(xpk);
  if (!ok) return OpenSslInternalError("key identifier");
  return std::string(reinterpret_cast<char*>(digest), digest_len);
}

absl::StatusOr<BignumPtr> ChooseSerial(absl::string_view serial_hex) {
  BIGNUM* bn = nullptr;
  if (serial_hex.empty()) {
    // 128 random bits, read as an unsigned number: positive and, with overwhelming
    // probability, non-zero (retry otherwise).
    while (true) {
      std::string bytes = RandomBytes(16);
      bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), 16, nullptr);
      if (bn == nullptr) return OpenSslInternalError("serial number");
      if (!BN_is_zero(bn)) return BignumPtr(bn);
      BN_free(bn);
    }
  }
  bool hex = serial_hex.size() <= 40;
  for (char c : serial_hex) hex = hex && absl::ascii_isxdigit(static_cast<unsigned char>(c));
  if (!hex) {
    return absl::InvalidArgumentError(absl::StrCat(
        "serial \"", serial_hex, "\" must be 1 to 40 hex digits (at most 20 octets)"));
  }
  std::string text(serial_hex);
  if (BN_hex2bn(&bn, text.c_str()) == 0) return OpenSslInternalError("serial number");
  BignumPtr serial(bn);
  if (BN_is_zero(serial.get())) {
    return absl::InvalidArgumentError("serial must be positive (RFC 5280 4.1.2.2), got 0");
  }
  return serial;
}

absl::Status AddExtension(X509* cert, int nid, void* value, bool critical,
                          absl::string_view what) {
  if (X509_add1_ext_i2d(cert, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) != 1) {
    return OpenSslInternalError(absl::StrCat("adding ", what));
  }
  return absl::OkStatus();
}

absl::Status AddKeyUsage(X509* cert, std::initializer_list<int> bits) {
  Asn1StringPtr usage(ASN1_BIT_STRING_new());
  if (usage == nullptr) return OpenSslInternalError("keyUsage");
  for (int bit : bits) {
    if (!ASN1_BIT_STRING_set_bit(usage.get(), bit, 1)) return OpenSslInternalError("keyUsage");
  }
  return AddExtension(cert, NID_key_usage, usage.get(), /*critical=*/true, "keyUsage");
}

absl::Status AddRawExtension(X509* cert, const RawExtension& raw) {
  Asn1ObjectPtr oid(OBJ_txt2obj(raw.oid.c_str(), /*no_name=*/1));
  if (oid == nullptr) {
    TakeOpenSslError();
    return absl::InvalidArgumentError(
        absl::StrCat("extra extension OID \"", raw.oid, "\" is not a dotted OID"));
  }
  if (X509_get_ext_by_OBJ(cert, oid.get(), -1) >= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extra extension ", raw.oid, " is already present in the certificate; add it once"));
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(raw.value_der.data());
  Asn1TypePtr parsed(d2i_ASN1_TYPE(nullptr, &p, static_cast<long>(raw.value_der.size())));
  if (parsed == nullptr ||
      p != reinterpret_cast<const unsigned char*>(raw.value_der.data()) + raw.value_der.size()) {
    TakeOpenSslError();
    return absl::InvalidArgumentError(absl::StrCat(
        "extra extension ", raw.oid, ": value is not a single DER-encoded element"));
  }
  Asn1OctetStringPtr value(ASN1_OCTET_STRING_new());
  if (value == nullptr ||
      !ASN1_OCTET_STRING_set(value.get(),
                             reinterpret_cast<const unsigned char*>(raw.value_der.data()),
                             static_cast<int>(raw.value_der.size()))) {
    return OpenSslInternalError("extra extension");
  }
  internal::X509ExtensionPtr extension(
      X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), raw.critical ? 1 : 0, value.get()));
  if (extension == nullptr || !X509_add_ext(cert, extension.get(), -1)) {
    return OpenSslInternalError(absl::StrCat("adding extension ", raw.oid));
  }
  return absl::OkStatus();
}

struct CertificateContents {
  const X509_NAME* subject;
  const X509_NAME* issuer;
  EVP_PKEY* public_key;
  std::string issuer_key_id;
  std::vector<SubjectAltName> sans;
  const IssueParams* params;
};

absl::StatusOr<X509Ptr> BuildAndSign(const CertificateContents& contents, EVP_PKEY* signing_key,
                                     KeyType subject_key_type) {
  const IssueParams& params = *contents.params;
  if (params.not_after <= params.not_before) {
    return absl::InvalidArgumentError(
        absl::StrCat("validity: not_after (", absl::FormatTime(params.not_after),
                     ") must be after not_before (", absl::FormatTime(params.not_before), ")"));
  }
  absl::StatusOr<BignumPtr> serial = ChooseSerial(params.serial_hex);
  if (!serial.ok()) return serial.status();

  X509Ptr cert(X509_new());
  if (cert == nullptr) return OpenSslInternalError("X509_new");
  X509* x = cert.get();
  Asn1IntegerPtr serial_asn1(BN_to_ASN1_INTEGER(serial->get(), nullptr));
  if (serial_asn1 == nullptr || !X509_set_version(x, X509_VERSION_3) ||
      !X509_set_serialNumber(x, serial_asn1.get()) ||
      !X509_set_subject_name(x, contents.subject) || !X509_set_issuer_name(x, contents.issuer) ||
      !X509_set_pubkey(x, contents.public_key) ||
      ASN1_TIME_set(X509_getm_notBefore(x), absl::ToTimeT(params.not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(x), absl::ToTimeT(params.not_after)) == nullptr) {
    return OpenSslInternalError("building certificate");
  }

  absl::StatusOr<std::string> subject_key_id = KeyIdentifier(contents.public_key);
  if (!subject_key_id.ok()) return subject_key_id.status();
  Asn1OctetStringPtr ski(ASN1_OCTET_STRING_new());
  if (ski == nullptr ||
      !ASN1_OCTET_STRING_set(ski.get(),
                             reinterpret_cast<const unsigned char*>(subject_key_id->data()),
                             static_cast<int>(subject_key_id->size()))) {
    return OpenSslInternalError("subjectKeyIdentifier");
  }
  absl::Status status =
      AddExtension(x, NID_subject_key_identifier, ski.get(), false, "subjectKeyIdentifier");
  if (!status.ok()) return status;

  internal::AuthorityKeyIdPtr aki(AUTHORITY_KEYID_new());
  const std::string& issuer_key_id =
      contents.issuer_key_id.empty() ? *subject_key_id : contents.issuer_key_id;
  if (aki == nullptr || (aki->keyid = ASN1_OCTET_STRING_new()) == nullptr ||
      !ASN1_OCTET_STRING_set(aki->keyid,
                             reinterpret_cast<const unsigned char*>(issuer_key_id.data()),
                             static_cast<int>(issuer_key_id.size()))) {
    return OpenSslInternalError("authorityKeyIdentifier");
  }
  status = AddExtension(x, NID_authority_key_identifier, aki.get(), false,
                        "authorityKeyIdentifier");
  if (!status.ok()) return status;

  BasicConstraintsPtr constraints(BASIC_CONSTRAINTS_new());
  if (constraints == nullptr) return OpenSslInternalError("basicConstraints");
  constraints->ca = params.is_ca ? 0xFF : 0;
  status = AddExtension(x, NID_basic_constraints, constraints.get(), true, "basicConstraints");
  if (!status.ok()) return status;

  bool ec_key = subject_key_type == KeyType::kEcP256 || subject_key_type == KeyType::kEcP384;
  if (params.is_ca) {
    status = AddKeyUsage(x, {kKeyCertSign, kCrlSign});
  } else if (ec_key) {
    // An EC key cannot encipher keys; TLS and EAP-TLS with ECDHE need only signatures.
    status = AddKeyUsage(x, {kDigitalSignature});
  } else {
    status = AddKeyUsage(x, {kDigitalSignature, kKeyEncipherment});
  }
  if (!status.ok()) return status;

  if (!params.extended_key_usages.empty()) {
    ExtendedKeyUsagePtr usages(sk_ASN1_OBJECT_new_null());
    if (usages == nullptr) return OpenSslInternalError("extendedKeyUsage");
    for (const std::string& oid : params.extended_key_usages) {
      Asn1ObjectPtr object(OBJ_txt2obj(oid.c_str(), /*no_name=*/1));
      if (object == nullptr) {
        TakeOpenSslError();
        return absl::InvalidArgumentError(absl::StrCat(
            "extended key usage \"", oid, "\" is not a dotted OID (e.g. 1.3.6.1.5.5.7.3.2)"));
      }
      if (!sk_ASN1_OBJECT_push(usages.get(), object.get())) {
        return OpenSslInternalError("extendedKeyUsage");
      }
      object.release();
    }
    status = AddExtension(x, NID_ext_key_usage, usages.get(), false, "extendedKeyUsage");
    if (!status.ok()) return status;
  }

  if (!contents.sans.empty()) {
    absl::StatusOr<GeneralNamesPtr> names = internal::EncodeSubjectAltNames(contents.sans);
    if (!names.ok()) return names.status();
    // RFC 5280 4.2.1.6: with an empty subject the SAN extension is critical.
    bool critical = X509_NAME_entry_count(contents.subject) == 0;
    status = AddExtension(x, NID_subject_alt_name, names->get(), critical, "subjectAltName");
    if (!status.ok()) return status;
  } else if (X509_NAME_entry_count(contents.subject) == 0) {
    return absl::InvalidArgumentError(
        "certificate would have neither a subject nor a subjectAltName; give one of them");
  }

  for (const RawExtension& raw : params.extra_extensions) {
    status = AddRawExtension(x, raw);
    if (!status.ok()) return status;
  }

  if (X509_sign(x, signing_key, EVP_sha256()) <= 0) {
    return OpenSslInternalError("signing certificate");
  }
  return cert;
}

CertificateInfo DescribeCertificate(X509* cert) {
  CertificateInfo info;
  info.der = internal::ToDer(cert);
  info.pem = internal::ToPem(cert);
  info.subject = internal::FormatDistinguishedName(X509_get_subject_name(cert));
  // The certificate's own SubjectPublicKeyInfo structure, not i2d_PUBKEY of its key:
  // OpenSSL 3 runs its provider encoder lookup for the latter, most of this function's
  // time in a broker profile (docs/benchmarks.md, 2026-12-02).
  if (const X509_PUBKEY* key = X509_get_X509_PUBKEY(cert); key != nullptr) {
    unsigned char* spki = nullptr;
    const int spki_len = i2d_X509_PUBKEY(key, &spki);
    if (spki_len > 0) {
      info.public_key_der.assign(reinterpret_cast<char*>(spki), static_cast<size_t>(spki_len));
    }
    OPENSSL_free(spki);
  }
  info.issuer = internal::FormatDistinguishedName(X509_get_issuer_name(cert));
  BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (serial != nullptr) {
    char* hex = BN_bn2hex(serial.get());
    if (hex != nullptr) {
      // BN_bn2hex prints whole octets ("0A1B"); the contract is adcs's canonical form.
      info.serial_hex = adcs::NormalizeSerialNumber(hex).value_or(hex);
    }
    OPENSSL_free(hex);
  }
  info.not_before = FromAsn1Time(X509_get0_notBefore(cert));
  info.not_after = FromAsn1Time(X509_get0_notAfter(cert));
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  info.sans = internal::DecodeSubjectAltNames(names.get());
  ExtendedKeyUsagePtr usages(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr)));
  for (int i = 0; usages != nullptr && i < sk_ASN1_OBJECT_num(usages.get()); ++i) {
    char oid[128];
    int len = OBJ_obj2txt(oid, sizeof(oid), sk_ASN1_OBJECT_value(usages.get(), i), 1);
    if (len > 0 && static_cast<size_t>(len) < sizeof(oid)) info.extended_key_usages.push_back(oid);
  }
  BasicConstraintsPtr constraints(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(cert, NID_basic_constraints, nullptr, nullptr)));
  info.is_ca = constraints != nullptr && constraints->ca != 0;
  TakeOpenSslError();  // absent extensions are not errors
  return info;
}

absl::StatusOr<std::vector<X509Ptr>> LoadChain(absl::string_view pem, absl::string_view what) {
  absl::StatusOr<std::vector<std::string>> blocks = SplitPemChain(pem);
  if (!blocks.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", blocks.status().message()));
  }
  std::vector<X509Ptr> certs;
  for (const std::string& block : *blocks) {
    absl::StatusOr<X509Ptr> cert = internal::LoadCertificate(block, what);
    if (!cert.ok()) return cert.status();
    certs.push_back(*std::move(cert));
  }
  return certs;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SigningCa>> SigningCa::Load(absl::string_view cert_pem,
                                                           absl::string_view key_pem) {
  absl::StatusOr<X509Ptr> cert = internal::LoadCertificate(cert_pem, "CA certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(key_pem);
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("CA key: ", key.status().message()));
  }
  if (EVP_PKEY_eq(X509_get0_pubkey(cert->get()), static_cast<EVP_PKEY*>(key->native())) != 1) {
    TakeOpenSslError();
    return absl::InvalidArgumentError(
        "CA private key does not belong to the CA certificate; check the key and certificate "
        "files");
  }
  CertificateInfo info = DescribeCertificate(cert->get());
  if (!info.is_ca) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CA certificate \"", info.subject,
        "\" is not a CA (basicConstraints CA:TRUE is missing); use a CA certificate"));
  }
  return std::unique_ptr<SigningCa>(
      new SigningCa(cert->release(), *std::move(key), std::move(info)));
}

absl::StatusOr<std::unique_ptr<SigningCa>> SigningCa::CreateSelfSigned(absl::string_view subject,
                                                                       KeyType key_type,
                                                                       absl::Time not_before,
                                                                       absl::Time not_after) {
  absl::StatusOr<X509NamePtr> name = internal::ParseDistinguishedName(subject, "CA subject");
  if (!name.ok()) return name.status();
  if (X509_NAME_entry_count(name->get()) == 0) {
    return absl::InvalidArgumentError("CA subject must not be empty");
  }
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(key_type);
  if (!key.ok()) return key.status();
  IssueParams params;
  params.not_before = not_before;
  params.not_after = not_after;
  params.is_ca = true;
  EVP_PKEY* pkey = static_cast<EVP_PKEY*>(key->native());
  CertificateContents contents{name->get(), name->get(), pkey, "", {}, &params};
  absl::StatusOr<X509Ptr> cert = BuildAndSign(contents, pkey, key_type);
  if (!cert.ok()) return cert.status();
  CertificateInfo info = DescribeCertificate(cert->get());
  return std::unique_ptr<SigningCa>(
      new SigningCa(cert->release(), *std::move(key), std::move(info)));
}

SigningCa::~SigningCa() { X509_free(static_cast<X509*>(x509_)); }

std::string SigningCa::KeyPem() const { return key_.ToPem(); }

absl::StatusOr<CertificateInfo> SigningCa::Issue(const IssueParams& params) const {
  absl::StatusOr<internal::VerifiedCsr> csr = internal::ParseAndVerifyCsr(params.csr_der);
  if (!csr.ok()) return csr.status();
  X509* ca_cert = static_cast<X509*>(x509_);

  X509NamePtr override_subject;
  const X509_NAME* subject = X509_REQ_get_subject_name(csr->request.get());
  if (params.override_subject) {
    absl::StatusOr<X509NamePtr> parsed =
        internal::ParseDistinguishedName(params.subject, "subject");
    if (!parsed.ok()) return parsed.status();
    override_subject = *std::move(parsed);
    subject = override_subject.get();
  }

  std::string issuer_key_id;
  if (const ASN1_OCTET_STRING* ca_ski = X509_get0_subject_key_id(ca_cert)) {
    issuer_key_id.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ca_ski)),
                         static_cast<size_t>(ASN1_STRING_length(ca_ski)));
  } else {
    absl::StatusOr<std::string> computed = KeyIdentifier(X509_get0_pubkey(ca_cert));
    if (!computed.ok()) return computed.status();
    issuer_key_id = *std::move(computed);
  }

  CertificateContents contents{
      subject,
      X509_get_subject_name(ca_cert),
      X509_REQ_get0_pubkey(csr->request.get()),
      std::move(issuer_key_id),
      params.override_sans ? params.sans : csr->info.sans,
      &params};
  absl::StatusOr<X509Ptr> cert =
      BuildAndSign(contents, static_cast<EVP_PKEY*>(key_.native()), csr->info.key_type);
  if (!cert.ok()) return cert.status();
  return DescribeCertificate(cert->get());
}

absl::StatusOr<CertificateInfo> ParseCertificate(absl::string_view pem_or_der) {
  absl::StatusOr<X509Ptr> cert = internal::LoadCertificate(pem_or_der, "certificate");
  if (!cert.ok()) return cert.status();
  return DescribeCertificate(cert->get());
}

absl::StatusOr<std::vector<std::string>> SplitPemChain(absl::string_view pem) {
  constexpr absl::string_view kBegin = "-----BEGIN ";
  constexpr absl::string_view kEnd = "-----END ";
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = pem.find(kBegin, pos)) != absl::string_view::npos) {
    size_t label_start = pos + kBegin.size();
    size_t label_end = pem.find("-----", label_start);
    if (label_end == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("PEM block ", out.size() + 1, " has an unterminated BEGIN line"));
    }
    absl::string_view label = pem.substr(label_start, label_end - label_start);
    if (label != "CERTIFICATE") {
      return absl::InvalidArgumentError(absl::StrCat("PEM block ", out.size() + 1, " is \"",
                                                     label, "\"; expected CERTIFICATE"));
    }
    std::string end_line = absl::StrCat(kEnd, label, "-----");
    size_t end = pem.find(end_line, label_end);
    if (end == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("PEM block ", out.size() + 1, " has no END CERTIFICATE line"));
    }
    end += end_line.size();
    absl::StatusOr<X509Ptr> cert = internal::LoadCertificate(
        pem.substr(pos, end - pos), absl::StrCat("PEM block ", out.size() + 1));
    if (!cert.ok()) return cert.status();
    out.push_back(internal::ToPem(cert->get()));
    pos = end;
  }
  if (out.empty()) {
    return absl::InvalidArgumentError("no PEM certificate (-----BEGIN CERTIFICATE-----) found");
  }
  return out;
}

absl::StatusOr<CertificateInfo> VerifyChain(absl::string_view chain_pem,
                                            absl::string_view trusted_root_pem, absl::Time now) {
  absl::StatusOr<std::vector<X509Ptr>> chain = LoadChain(chain_pem, "certificate chain");
  if (!chain.ok()) return chain.status();
  absl::StatusOr<std::vector<X509Ptr>> roots = LoadChain(trusted_root_pem, "trusted root");
  if (!roots.ok()) return roots.status();

  internal::X509StorePtr store(X509_STORE_new());
  internal::X509StackPtr untrusted(sk_X509_new_null());
  internal::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (store == nullptr || untrusted == nullptr || ctx == nullptr) {
    return OpenSslInternalError("certificate store");
  }
  for (const X509Ptr& root : *roots) {
    if (!X509_STORE_add_cert(store.get(), root.get())) {
      return OpenSslInternalError("adding trusted root");
    }
  }
  for (size_t i = 1; i < chain->size(); ++i) {
    if (!X509_add_cert(untrusted.get(), (*chain)[i].get(), X509_ADD_FLAG_UP_REF)) {
      return OpenSslInternalError("adding intermediate");
    }
  }
  X509* leaf = (*chain)[0].get();
  if (!X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get())) {
    return OpenSslInternalError("initialising verification");
  }
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()), absl::ToTimeT(now));
  if (X509_verify_cert(ctx.get()) != 1) {
    int error = X509_STORE_CTX_get_error(ctx.get());
    int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    X509* failing = X509_STORE_CTX_get_current_cert(ctx.get());
    std::string subject =
        failing != nullptr ? internal::FormatDistinguishedName(X509_get_subject_name(failing))
                           : "";
    TakeOpenSslError();
    return absl::UnauthenticatedError(absl::StrCat(
        "certificate chain does not verify: ", X509_verify_cert_error_string(error),
        " (depth ", depth, ", subject \"", subject, "\")"));
  }
  return DescribeCertificate(leaf);
}

bool KeyMatchesCertificate(const PrivateKey& key, absl::string_view certificate_pem) {
  absl::StatusOr<X509Ptr> cert = internal::LoadCertificate(certificate_pem, "certificate");
  if (!cert.ok() || key.native() == nullptr) return false;
  bool match =
      EVP_PKEY_eq(X509_get0_pubkey(cert->get()), static_cast<EVP_PKEY*>(key.native())) == 1;
  TakeOpenSslError();
  return match;
}

}  // namespace certbridge::pki
