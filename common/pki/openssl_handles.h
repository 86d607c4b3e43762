// Internal to common/pki: owning handles for OpenSSL objects and the conversion of
// OpenSSL's thread-local error queue into absl::Status. Not for use outside this folder.
#ifndef CERTBRIDGE_COMMON_PKI_OPENSSL_HANDLES_H_
#define CERTBRIDGE_COMMON_PKI_OPENSSL_HANDLES_H_

#include <memory>
#include <string>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace certbridge::pki::internal {

template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* p) const { Free(p); }
};

template <typename T, void (*Free)(T*)>
using OpenSslPtr = std::unique_ptr<T, OpenSslDeleter<T, Free>>;

inline void FreeBio(BIO* b) { BIO_free_all(b); }
inline void FreeGeneralNames(GENERAL_NAMES* g) { GENERAL_NAMES_free(g); }
inline void FreeX509Stack(STACK_OF(X509)* s) { sk_X509_pop_free(s, X509_free); }
inline void FreeExtensionStack(STACK_OF(X509_EXTENSION)* s) {
  sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
}
inline void FreeObjectStack(STACK_OF(ASN1_OBJECT)* s) {
  sk_ASN1_OBJECT_pop_free(s, ASN1_OBJECT_free);
}

using BioPtr = OpenSslPtr<BIO, FreeBio>;
using BignumPtr = OpenSslPtr<BIGNUM, BN_free>;
using EvpPkeyPtr = OpenSslPtr<EVP_PKEY, EVP_PKEY_free>;
using EvpPkeyCtxPtr = OpenSslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using X509Ptr = OpenSslPtr<X509, X509_free>;
using X509ReqPtr = OpenSslPtr<X509_REQ, X509_REQ_free>;
using X509NamePtr = OpenSslPtr<X509_NAME, X509_NAME_free>;
using X509ExtensionPtr = OpenSslPtr<X509_EXTENSION, X509_EXTENSION_free>;
using X509StorePtr = OpenSslPtr<X509_STORE, X509_STORE_free>;
using X509StoreCtxPtr = OpenSslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;
using X509StackPtr = OpenSslPtr<STACK_OF(X509), FreeX509Stack>;
using ExtensionStackPtr = OpenSslPtr<STACK_OF(X509_EXTENSION), FreeExtensionStack>;
using ObjectStackPtr = OpenSslPtr<STACK_OF(ASN1_OBJECT), FreeObjectStack>;
using GeneralNamesPtr = OpenSslPtr<GENERAL_NAMES, FreeGeneralNames>;
using GeneralNamePtr = OpenSslPtr<GENERAL_NAME, GENERAL_NAME_free>;
using Asn1ObjectPtr = OpenSslPtr<ASN1_OBJECT, ASN1_OBJECT_free>;
using Asn1OctetStringPtr = OpenSslPtr<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
using Asn1IntegerPtr = OpenSslPtr<ASN1_INTEGER, ASN1_INTEGER_free>;
using Asn1TypePtr = OpenSslPtr<ASN1_TYPE, ASN1_TYPE_free>;
using Asn1StringPtr = OpenSslPtr<ASN1_STRING, ASN1_STRING_free>;
using BasicConstraintsPtr = OpenSslPtr<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>;
using AuthorityKeyIdPtr = OpenSslPtr<AUTHORITY_KEYID, AUTHORITY_KEYID_free>;
using ExtendedKeyUsagePtr = OpenSslPtr<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free>;
using Pkcs12Ptr = OpenSslPtr<PKCS12, PKCS12_free>;
using CmsPtr = OpenSslPtr<CMS_ContentInfo, CMS_ContentInfo_free>;

// Drains the calling thread's OpenSSL error queue; returns the most recent reason
// ("wrong tag", "bad decrypt") or "unknown OpenSSL error" when the queue was empty.
std::string TakeOpenSslError();

// INTERNAL "<what>: <OpenSSL reason>"; drains the error queue.
absl::Status OpenSslInternalError(absl::string_view what);

// A memory BIO reading `data` (not copied: `data` must outlive the BIO).
BioPtr ReadBio(absl::string_view data);
// Everything written so far to a memory BIO.
std::string BioContents(BIO* bio);

// Loads the first certificate of a PEM or DER input. INVALID_ARGUMENT naming `what`.
absl::StatusOr<X509Ptr> LoadCertificate(absl::string_view pem_or_der, absl::string_view what);

std::string ToDer(X509* cert);
std::string ToPem(X509* cert);

}  // namespace certbridge::pki::internal

#endif  // CERTBRIDGE_COMMON_PKI_OPENSSL_HANDLES_H_
