#include "common/pki/pki.h"

#include <set>
#include <thread>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/ascii.h"
#include "common/pki/names.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/pki/certificate_request.h"
#include "common/pki/distinguished_name.h"
#include "common/pki/pem.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/pki/openssl_cli.h"

namespace certbridge::pki {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Type = SubjectAltName::Type;

const absl::Time kNow = absl::FromUnixSeconds(1790000000);  // 2026-09-21

PrivateKey MustGenerate(KeyType type) {
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(type);
  EXPECT_TRUE(key.ok()) << key.status();
  return *std::move(key);
}

std::string MustCsr(const PrivateKey& key, const CsrParams& params) {
  absl::StatusOr<std::string> csr = CreateCsrPem(key, params);
  EXPECT_TRUE(csr.ok()) << csr.status();
  return csr.value_or("");
}

std::unique_ptr<SigningCa> MustRoot(absl::string_view subject, KeyType type = KeyType::kEcP256) {
  absl::StatusOr<std::unique_ptr<SigningCa>> ca = SigningCa::CreateSelfSigned(
      subject, type, kNow - absl::Hours(24), kNow + absl::Hours(24 * 3650));
  EXPECT_TRUE(ca.ok()) << ca.status();
  return ca.ok() ? *std::move(ca) : nullptr;
}

IssueParams LeafParams(const std::string& csr_pem) {
  absl::StatusOr<CsrInfo> info = ParseCsr(csr_pem);
  EXPECT_TRUE(info.ok()) << info.status();
  IssueParams params;
  params.csr_der = info.ok() ? info->der : "";
  params.not_before = kNow - absl::Minutes(5);
  params.not_after = kNow + absl::Hours(24);
  params.extended_key_usages = {"1.3.6.1.5.5.7.3.2"};
  return params;
}

// ---- keys --------------------------------------------------------------------------

// Found by tests/fuzz/subject_fuzz.cc: OpenSSL printed a value that is a lone '#' as "O=#",
// which reads back as an empty hex value.
TEST(CanonicalSubjectTest, ALoneHashValueStaysEscaped) {
  auto canonical = CanonicalSubject("O=\\#,CN=a");
  ASSERT_TRUE(canonical.ok()) << canonical.status();
  EXPECT_EQ(*canonical, "O=\\#,CN=a");
  auto again = CanonicalSubject(*canonical);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *canonical);
  EXPECT_EQ(*CanonicalSubject("O=\\#x"), "O=\\#x");
}

// Also found by the fuzzer: OpenSSL names OID 2.5 "X500", which our parser does not take.
TEST(CanonicalSubjectTest, TypesOutsideOurNamesStayDottedOids) {
  auto canonical = CanonicalSubject("2.5=i");
  ASSERT_TRUE(canonical.ok()) << canonical.status();
  EXPECT_EQ(*canonical, "2.5=i");
  EXPECT_EQ(*CanonicalSubject(*canonical), *canonical);
}

TEST(KeyTypeTest, NamesRoundTrip) {
  for (KeyType type : {KeyType::kRsa2048, KeyType::kRsa3072, KeyType::kRsa4096,
                       KeyType::kEcP256, KeyType::kEcP384}) {
    absl::StatusOr<KeyType> parsed = ParseKeyType(absl::AsciiStrToLower(KeyTypeName(type)));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, type);
  }
  EXPECT_EQ(KeyTypeName(KeyType::kEcP384), "EC-P384");
  EXPECT_EQ(ParseKeyType("DSA-1024").status().code(), absl::StatusCode::kInvalidArgument);
}

class PrivateKeyTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(PrivateKeyTest, GeneratesAndReloadsFromPem) {
  PrivateKey key = MustGenerate(GetParam());
  EXPECT_EQ(key.type(), GetParam());
  std::string pem = key.ToPem();
  EXPECT_THAT(pem, HasSubstr("-----BEGIN PRIVATE KEY-----"));
  EXPECT_THAT(key.PublicKeyPem(), HasSubstr("-----BEGIN PUBLIC KEY-----"));
  absl::StatusOr<PrivateKey> reloaded = PrivateKey::FromPem(pem);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(reloaded->type(), GetParam());
  EXPECT_EQ(reloaded->PublicKeyPem(), key.PublicKeyPem());

  absl::StatusOr<CsrInfo> info = ParseCsr(MustCsr(key, {.subject = "CN=k"}));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->key_type, GetParam());
}

INSTANTIATE_TEST_SUITE_P(AllTypes, PrivateKeyTest,
                         ::testing::Values(KeyType::kRsa2048, KeyType::kRsa3072,
                                           KeyType::kRsa4096, KeyType::kEcP256,
                                           KeyType::kEcP384));

TEST(PrivateKeyFromPemTest, RejectsGarbageAndEncryptedKeysWithoutPrompting) {
  EXPECT_EQ(PrivateKey::FromPem("not a key").status().code(), absl::StatusCode::kInvalidArgument);
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  internal::BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_TRUE(PEM_write_bio_PKCS8PrivateKey(bio.get(), static_cast<EVP_PKEY*>(key.native()),
                                            EVP_aes_256_cbc(), nullptr, 0, nullptr,
                                            const_cast<char*>("secret")));
  absl::StatusOr<PrivateKey> encrypted = PrivateKey::FromPem(internal::BioContents(bio.get()));
  EXPECT_EQ(encrypted.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PrivateKeyEncryptedPemTest, RoundTripsAndOpensslReadsIt) {
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  absl::StatusOr<std::string> pem = key.ToEncryptedPem("0123456789abcdef");
  ASSERT_TRUE(pem.ok()) << pem.status();
  EXPECT_THAT(*pem, HasSubstr("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
  absl::StatusOr<PrivateKey> reloaded = PrivateKey::FromEncryptedPem(*pem, "0123456789abcdef");
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(reloaded->PublicKeyPem(), key.PublicKeyPem());

  // An independent reader: PBES2 with PBKDF2 and AES-256-CBC, decryptable by openssl.
  testing::ScratchDir dir;
  std::string path = dir.Write("k.pem", *pem);
  testing::CommandResult info = testing::RunCommand("openssl asn1parse -in " + path);
  EXPECT_THAT(info.output, HasSubstr("PBES2"));
  EXPECT_THAT(info.output, HasSubstr("PBKDF2"));
  EXPECT_THAT(info.output, HasSubstr("aes-256-cbc"));
  std::string pass = dir.Write("pass", "0123456789abcdef");
  testing::CommandResult pub =
      testing::RunCommand("openssl pkey -pubout -in " + path + " -passin file:" + pass);
  EXPECT_EQ(pub.exit_code, 0) << pub.output;
  EXPECT_EQ(pub.output, key.PublicKeyPem());
}

TEST(PrivateKeyEncryptedPemTest, WrongPassphraseAndPlainKeysAreInvalidArgument) {
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  absl::StatusOr<std::string> pem = key.ToEncryptedPem("right");
  ASSERT_TRUE(pem.ok()) << pem.status();
  EXPECT_EQ(PrivateKey::FromEncryptedPem(*pem, "wrong").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PrivateKey::FromEncryptedPem(key.ToPem(), "right").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PrivateKeyFromPemTest, RejectsKeysOutsidePolicy) {
  EVP_PKEY* small = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-521");
  ASSERT_NE(small, nullptr);
  internal::BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_TRUE(PEM_write_bio_PrivateKey(bio.get(), small, nullptr, nullptr, 0, nullptr, nullptr));
  EVP_PKEY_free(small);
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(internal::BioContents(bio.get()));
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), HasSubstr("EC-secp521r1"));
}

// ---- CSR ---------------------------------------------------------------------------

TEST(CsrTest, RoundTripsSubjectAndEverySanType) {
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  std::vector<SubjectAltName> sans = {
      {Type::kDns, "device42.example.com"},
      {Type::kEmail, "jo@example.com"},
      {Type::kUri, "urn:certbridge:tenant:t1:connector:c1"},
      {Type::kIp, "192.0.2.7"},
      {Type::kIp, "2001:db8::1"},
      {Type::kUpn, "jörg@corp.example.com"},
  };
  std::string pem = MustCsr(key, {.subject = "CN=device 42,O=Example\\, Inc.", .sans = sans});
  EXPECT_THAT(pem, HasSubstr("-----BEGIN CERTIFICATE REQUEST-----"));
  absl::StatusOr<CsrInfo> info = ParseCsr(pem);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->subject, "CN=device 42,O=Example\\, Inc.");
  EXPECT_EQ(info->key_type, KeyType::kEcP256);
  EXPECT_EQ(info->key_bits, 256);
  EXPECT_EQ(info->sans, sans);
  EXPECT_FALSE(info->public_key_der.empty());

  // DER parses the same.
  absl::StatusOr<CsrInfo> from_der = ParseCsr(info->der);
  ASSERT_TRUE(from_der.ok()) << from_der.status();
  EXPECT_EQ(from_der->subject, info->subject);
  EXPECT_EQ(from_der->sans, sans);
}

TEST(CsrTest, EmptySubjectIsAllowed) {
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  absl::StatusOr<CsrInfo> info =
      ParseCsr(MustCsr(key, {.subject = "", .sans = {{Type::kDns, "a.example"}}}));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->subject, "");
}

TEST(CsrTest, RejectsBadSans) {
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  struct Case {
    SubjectAltName san;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {{Type::kIp, "300.1.1.1"}, "not an IPv4 or IPv6 address"},
           {{Type::kDns, "a b.example"}, "must be ASCII"},
           {{Type::kDns, ""}, "empty value"},
           {{Type::kEmail, "nobody"}, "expected user@domain"},
           {{Type::kUri, "no-scheme"}, "absolute URI"},
           {{Type::kUpn, "\xff\xfe@x"}, "not valid UTF-8"},
       }) {
    absl::StatusOr<std::string> csr = CreateCsrPem(key, {.subject = "CN=x", .sans = {c.san}});
    EXPECT_EQ(csr.status().code(), absl::StatusCode::kInvalidArgument) << c.san.value;
    EXPECT_THAT(csr.status().message(), HasSubstr(c.message));
  }
}

TEST(ParseCsrTest, RejectsGarbage) {
  for (std::string garbage : {std::string("hello"), std::string(),
                              std::string("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                                          "-----END CERTIFICATE REQUEST-----\n")}) {
    absl::StatusOr<CsrInfo> info = ParseCsr(garbage);
    EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(info.status().message(), "CSR is not a valid PKCS#10 request (PEM or DER)");
  }
}

TEST(ParseCsrTest, RejectsBadSignature) {
  PrivateKey key = MustGenerate(KeyType::kRsa2048);
  absl::StatusOr<CsrInfo> info = ParseCsr(MustCsr(key, {.subject = "CN=x"}));
  ASSERT_TRUE(info.ok()) << info.status();
  std::string der = info->der;
  der.back() ^= 0x01;  // the last octet belongs to the RSA signature
  absl::StatusOr<CsrInfo> tampered = ParseCsr(der);
  EXPECT_EQ(tampered.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tampered.status().message(), "CSR signature does not verify");
}

TEST(ParseCsrTest, RejectsRsa1024) {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024});
  ASSERT_NE(pkey, nullptr);
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_pubkey(req, pkey);
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("old"), -1, -1, 0);
  ASSERT_GT(X509_REQ_sign(req, pkey, EVP_sha256()), 0);
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req, &der);
  std::string csr(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  X509_REQ_free(req);
  EVP_PKEY_free(pkey);

  absl::StatusOr<CsrInfo> info = ParseCsr(csr);
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(info.status().message(),
            "CSR key is RSA-1024; use RSA 2048, 3072 or 4096 or EC P-256/P-384");
}

// ---- RFC 4514 names ----------------------------------------------------------------

bool SameName(absl::string_view a, absl::string_view b) {
  absl::StatusOr<internal::X509NamePtr> name_a = internal::ParseDistinguishedName(a, "a");
  absl::StatusOr<internal::X509NamePtr> name_b = internal::ParseDistinguishedName(b, "b");
  if (!name_a.ok() || !name_b.ok()) {
    ADD_FAILURE() << name_a.status() << " / " << name_b.status();
    return false;
  }
  return X509_NAME_cmp(name_a->get(), name_b->get()) == 0;
}

class SubjectRoundTripTest : public ::testing::TestWithParam<const char*> {};

TEST_P(SubjectRoundTripTest, PrintsAnEquivalentNameThatIsAFixedPoint) {
  static const PrivateKey* key = new PrivateKey(MustGenerate(KeyType::kEcP256));
  absl::StatusOr<CsrInfo> first = ParseCsr(MustCsr(*key, {.subject = GetParam()}));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(SameName(GetParam(), first->subject)) << first->subject;
  absl::StatusOr<CsrInfo> second = ParseCsr(MustCsr(*key, {.subject = first->subject}));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->subject, first->subject);
}

INSTANTIATE_TEST_SUITE_P(
    Escaping, SubjectRoundTripTest,
    ::testing::Values("CN=Müller\\, Jörg+UID=42,O=A\\;B",
                      "CN=a\\+b\\=c\\\\d\\\"e\\<f\\>g\\;h\\,i",
                      "CN=\\ leading and trailing\\ ", "CN=\\#not a hex string",
                      "CN=x=y", "CN=M\\C3\\BCller", "CN=日本語,O=Ünïcødé GmbH",
                      "CN=host,OU=IT,O=Example,L=Zürich,ST=ZH,C=CH",
                      "CN=a+CN=b+OU=c,DC=example,DC=com",
                      "E=jo@example.com,SERIALNUMBER=12345,UID=jo",
                      "emailAddress=jo@example.com,serialNumber=1",
                      "1.2.3.4=#0C0568656C6C6F,CN=x", "2.5.4.3=by oid", "OID.2.5.4.10=Org"));

TEST(SubjectTest, ExactPrintedForms) {
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  struct Case {
    const char* input;
    const char* printed;
  };
  for (const Case& c : std::vector<Case>{
           {"CN=Müller\\, Jörg,O=A\\;B", "CN=Müller\\, Jörg,O=A\\;B"},
           {"CN = spaced , O = out ", "CN=spaced,O=out"},
           {"cn=lower,o=case", "CN=lower,O=case"},
           {"CN=M\\C3\\BCller", "CN=Müller"},
           {"CN=\\ x\\ ", "CN=\\ x\\ "},
           {"CN=a\\\"b\\\\c", "CN=a\\\"b\\\\c"},
           {"2.5.4.3=by oid", "CN=by oid"},
           {"1.2.3.4=#0C0568656C6C6F", "1.2.3.4=#0C0568656C6C6F"},
       }) {
    absl::StatusOr<CsrInfo> info = ParseCsr(MustCsr(key, {.subject = c.input}));
    ASSERT_TRUE(info.ok()) << c.input << ": " << info.status();
    EXPECT_EQ(info->subject, c.printed) << c.input;
  }
}

TEST(SubjectTest, FirstRdnIsMostSpecific) {
  absl::StatusOr<internal::X509NamePtr> name =
      internal::ParseDistinguishedName("CN=x,O=y,DC=example", "subject");
  ASSERT_TRUE(name.ok()) << name.status();
  ASSERT_EQ(X509_NAME_entry_count(name->get()), 3);
  auto nid_at = [&](int i) {
    return OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(name->get(), i)));
  };
  EXPECT_EQ(nid_at(0), NID_domainComponent);
  EXPECT_EQ(nid_at(1), NID_organizationName);
  EXPECT_EQ(nid_at(2), NID_commonName);
  // Multi-valued RDN: both attributes share one set.
  absl::StatusOr<internal::X509NamePtr> multi =
      internal::ParseDistinguishedName("CN=a+UID=1,O=b", "subject");
  ASSERT_TRUE(multi.ok()) << multi.status();
  EXPECT_EQ(X509_NAME_ENTRY_set(X509_NAME_get_entry(multi->get(), 1)),
            X509_NAME_ENTRY_set(X509_NAME_get_entry(multi->get(), 2)));
  EXPECT_NE(X509_NAME_ENTRY_set(X509_NAME_get_entry(multi->get(), 0)),
            X509_NAME_ENTRY_set(X509_NAME_get_entry(multi->get(), 1)));
}

TEST(SubjectTest, BadSyntaxNamesTheProblem) {
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  struct Case {
    const char* input;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"XX=1", "subject: attribute type \"XX\" unknown"},
           {"CN=abcdefgh\\", "subject: unterminated escape at position 11"},
           {"CN=a\\zb", "subject: invalid escape \"\\z\" at position 4"},
           {"CN=a\\4", "needs two hex digits"},
           {"CN=a;b", "subject: character ';' at position 4 must be escaped"},
           {"CN=a\"b", "character '\"' at position 4 must be escaped"},
           {"CN=a,", "subject: missing attribute after ','"},
           {"CN=a+", "subject: missing attribute after '+'"},
           {"CN", "subject: expected '=' after attribute type \"CN\""},
           {"=x", "subject: missing attribute type at position 0"},
           {"CN=", "subject: attribute CN has an empty value"},
           {"C=USA", "is not valid for C"},
           {"DC=bücher", "is not valid for DC"},
           {"CN=#12", "is not a DER-encoded string"},
           {"CN=#123", "even, non-zero number of hex digits"},
           {"1.2..3=x", "attribute type \"1.2..3\" unknown"},
           {"CN=\xff\xfe", "is not valid for CN"},
       }) {
    absl::StatusOr<std::string> csr = CreateCsrPem(key, {.subject = c.input});
    EXPECT_EQ(csr.status().code(), absl::StatusCode::kInvalidArgument) << c.input;
    EXPECT_THAT(csr.status().message(), HasSubstr(c.message)) << c.input;
  }
}

// ---- issuance and verification -----------------------------------------------------

TEST(SigningCaTest, SelfSignedRootIsACa) {
  std::unique_ptr<SigningCa> root = MustRoot("CN=Test Root,O=certbridge");
  ASSERT_NE(root, nullptr);
  const CertificateInfo& info = root->certificate();
  EXPECT_TRUE(info.is_ca);
  EXPECT_EQ(info.subject, "CN=Test Root,O=certbridge");
  EXPECT_EQ(info.issuer, info.subject);
  EXPECT_EQ(info.not_before, kNow - absl::Hours(24));
  absl::StatusOr<CertificateInfo> verified = VerifyChain(info.pem, info.pem, kNow);
  ASSERT_TRUE(verified.ok()) << verified.status();
}

TEST(SigningCaTest, IssuesLeafWithRequestedContents) {
  std::unique_ptr<SigningCa> root = MustRoot("CN=Test Root");
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  std::vector<SubjectAltName> sans = {{Type::kDns, "d.example"}, {Type::kUpn, "u@corp"}};
  IssueParams params = LeafParams(MustCsr(key, {.subject = "CN=leaf,O=X\\+Y", .sans = sans}));
  absl::StatusOr<CertificateInfo> cert = root->Issue(params);
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_EQ(cert->subject, "CN=leaf,O=X\\+Y");
  EXPECT_EQ(cert->issuer, "CN=Test Root");
  EXPECT_EQ(cert->sans, sans);
  EXPECT_THAT(cert->extended_key_usages, ElementsAre("1.3.6.1.5.5.7.3.2"));
  EXPECT_FALSE(cert->is_ca);
  EXPECT_EQ(cert->not_before, params.not_before);
  EXPECT_EQ(cert->not_after, params.not_after);
  EXPECT_LE(cert->serial_hex.size(), 32u);
  EXPECT_GE(cert->serial_hex.size(), 16u);
  EXPECT_NE(cert->serial_hex[0], '0');
  for (char c : cert->serial_hex) EXPECT_TRUE(absl::ascii_isxdigit(c) && !absl::ascii_islower(c));
  EXPECT_TRUE(KeyMatchesCertificate(key, cert->pem));
  EXPECT_FALSE(KeyMatchesCertificate(key, root->certificate().pem));

  absl::StatusOr<CertificateInfo> parsed = ParseCertificate(cert->der);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->pem, cert->pem);

  // Two issuances get different random serials.
  absl::StatusOr<CertificateInfo> again = root->Issue(params);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE(again->serial_hex, cert->serial_hex);
}

int KeyUsageOf(const std::string& pem) {
  internal::BioPtr bio = internal::ReadBio(pem);
  X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  EXPECT_NE(x, nullptr);
  int usage = static_cast<int>(X509_get_key_usage(x));
  X509_free(x);
  return usage;
}

TEST(SigningCaTest, KeyUsageFollowsKeyType) {
  std::unique_ptr<SigningCa> root = MustRoot("CN=Test Root", KeyType::kRsa2048);
  PrivateKey rsa = MustGenerate(KeyType::kRsa2048);
  PrivateKey ec = MustGenerate(KeyType::kEcP384);
  absl::StatusOr<CertificateInfo> rsa_cert = root->Issue(LeafParams(MustCsr(rsa, {"CN=r", {}})));
  absl::StatusOr<CertificateInfo> ec_cert = root->Issue(LeafParams(MustCsr(ec, {"CN=e", {}})));
  ASSERT_TRUE(rsa_cert.ok()) << rsa_cert.status();
  ASSERT_TRUE(ec_cert.ok()) << ec_cert.status();
  EXPECT_EQ(KeyUsageOf(rsa_cert->pem), KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
  EXPECT_EQ(KeyUsageOf(ec_cert->pem), KU_DIGITAL_SIGNATURE);
  EXPECT_EQ(KeyUsageOf(root->certificate().pem), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
}

TEST(SigningCaTest, OverridesSerialSubjectSansAndAddsRawExtension) {
  std::unique_ptr<SigningCa> root = MustRoot("CN=Test Root");
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  IssueParams params =
      LeafParams(MustCsr(key, {"CN=from csr", {{Type::kDns, "csr.example"}}}));
  params.override_subject = true;
  params.subject = "CN=override";
  params.override_sans = true;
  params.sans = {{Type::kIp, "10.0.0.1"}};
  params.serial_hex = "00ab12";
  // Microsoft szOID_NTDS_CA_SECURITY_EXT carrying an arbitrary SEQUENCE.
  params.extra_extensions = {{"1.3.6.1.4.1.311.25.2", false, std::string("\x30\x03\x02\x01\x05", 5)}};
  absl::StatusOr<CertificateInfo> cert = root->Issue(params);
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_EQ(cert->subject, "CN=override");
  EXPECT_THAT(cert->sans, ElementsAre(SubjectAltName{Type::kIp, "10.0.0.1"}));
  EXPECT_EQ(cert->serial_hex, "AB12");

  internal::BioPtr bio = internal::ReadBio(cert->pem);
  X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  ASSERT_NE(x, nullptr);
  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.4.1.311.25.2", 1);
  int index = X509_get_ext_by_OBJ(x, oid, -1);
  ASSERT_GE(index, 0);
  ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(x, index));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                        static_cast<size_t>(ASN1_STRING_length(data))),
            std::string("\x30\x03\x02\x01\x05", 5));
  ASN1_OBJECT_free(oid);
  X509_free(x);
}

TEST(SigningCaTest, RejectsBadIssueParams) {
  std::unique_ptr<SigningCa> root = MustRoot("CN=Test Root");
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  const IssueParams good = LeafParams(MustCsr(key, {"CN=x", {{Type::kDns, "x.example"}}}));
  auto code_of = [&](auto mutate) {
    IssueParams params = good;
    mutate(params);
    return root->Issue(params).status().code();
  };
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(code_of([](IssueParams& p) { p.not_after = p.not_before; }), kInvalid);
  EXPECT_EQ(code_of([](IssueParams& p) { p.serial_hex = "xyz"; }), kInvalid);
  EXPECT_EQ(code_of([](IssueParams& p) { p.serial_hex = "0"; }), kInvalid);
  EXPECT_EQ(code_of([](IssueParams& p) { p.extended_key_usages = {"clientAuth"}; }), kInvalid);
  EXPECT_EQ(code_of([](IssueParams& p) { p.csr_der = "junk"; }), kInvalid);
  EXPECT_EQ(code_of([](IssueParams& p) {
              p.override_subject = true;
              p.subject = "CN=a\\";
            }),
            kInvalid);
  EXPECT_EQ(code_of([](IssueParams& p) {
              p.extra_extensions = {{"2.5.29.17", false, std::string("\x30\x00", 2)}};
            }),
            kInvalid);  // SAN is already there
  EXPECT_EQ(code_of([](IssueParams& p) {
              p.extra_extensions = {{"1.2.3.4", false, "not der"}};
            }),
            kInvalid);
  EXPECT_EQ(code_of([](IssueParams& p) {
              p.override_subject = true;
              p.subject = "";
              p.override_sans = true;
              p.sans = {};
            }),
            kInvalid);
}

TEST(VerifyChainTest, GoodWrongRootExpiredAndIntermediates) {
  std::unique_ptr<SigningCa> root = MustRoot("CN=Root A");
  std::unique_ptr<SigningCa> other_root = MustRoot("CN=Root B");
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  absl::StatusOr<CertificateInfo> leaf = root->Issue(LeafParams(MustCsr(key, {"CN=leaf", {}})));
  ASSERT_TRUE(leaf.ok()) << leaf.status();

  absl::StatusOr<CertificateInfo> ok = VerifyChain(leaf->pem, root->certificate().pem, kNow);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->subject, "CN=leaf");

  absl::StatusOr<CertificateInfo> wrong_root =
      VerifyChain(leaf->pem, other_root->certificate().pem, kNow);
  EXPECT_EQ(wrong_root.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(wrong_root.status().message(), HasSubstr("unable to get local issuer certificate"));

  absl::StatusOr<CertificateInfo> expired =
      VerifyChain(leaf->pem, root->certificate().pem, kNow + absl::Hours(48));
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(expired.status().message(), HasSubstr("certificate has expired"));

  absl::StatusOr<CertificateInfo> early =
      VerifyChain(leaf->pem, root->certificate().pem, kNow - absl::Hours(1));
  EXPECT_EQ(early.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(early.status().message(), HasSubstr("not yet valid"));

  EXPECT_EQ(VerifyChain("junk", root->certificate().pem, kNow).status().code(),
            absl::StatusCode::kInvalidArgument);

  // Root -> intermediate (loaded back from PEM) -> leaf.
  PrivateKey intermediate_key = MustGenerate(KeyType::kRsa2048);
  IssueParams intermediate_params = LeafParams(MustCsr(intermediate_key, {"CN=Issuing CA", {}}));
  intermediate_params.is_ca = true;
  intermediate_params.extended_key_usages.clear();
  intermediate_params.not_after = kNow + absl::Hours(24 * 365);
  absl::StatusOr<CertificateInfo> intermediate_cert = root->Issue(intermediate_params);
  ASSERT_TRUE(intermediate_cert.ok()) << intermediate_cert.status();
  EXPECT_TRUE(intermediate_cert->is_ca);
  absl::StatusOr<std::unique_ptr<SigningCa>> intermediate =
      SigningCa::Load(intermediate_cert->pem + root->certificate().pem, intermediate_key.ToPem());
  ASSERT_TRUE(intermediate.ok()) << intermediate.status();
  absl::StatusOr<CertificateInfo> deep =
      (*intermediate)->Issue(LeafParams(MustCsr(key, {"CN=deep", {}})));
  ASSERT_TRUE(deep.ok()) << deep.status();
  EXPECT_EQ(deep->issuer, "CN=Issuing CA");
  absl::StatusOr<CertificateInfo> deep_ok =
      VerifyChain(deep->pem + intermediate_cert->pem, root->certificate().pem, kNow);
  ASSERT_TRUE(deep_ok.ok()) << deep_ok.status();
  EXPECT_EQ(deep_ok->subject, "CN=deep");
  EXPECT_EQ(VerifyChain(deep->pem, root->certificate().pem, kNow).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(SigningCaTest, IssuesFromManyThreadsAtOnce) {
  std::unique_ptr<SigningCa> root = MustRoot("CN=Shared Root", KeyType::kRsa2048);
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  const IssueParams params = LeafParams(MustCsr(key, {"CN=t", {}}));
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10;
  std::vector<std::vector<std::string>> serials(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<CertificateInfo> cert = root->Issue(params);
        if (!cert.ok()) continue;
        if (VerifyChain(cert->pem, root->certificate().pem, kNow).ok()) {
          serials[t].push_back(cert->serial_hex);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> unique;
  for (const auto& per_thread : serials) unique.insert(per_thread.begin(), per_thread.end());
  EXPECT_EQ(unique.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(ParseCsrTest, RejectsOversizedInput) {
  absl::StatusOr<CsrInfo> info = ParseCsr(std::string(64 * 1024 + 1, 'A'));
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(info.status().message(), HasSubstr("at most 65536"));
}

TEST(SigningCaTest, LoadChecksKeyAndCaFlag) {
  std::unique_ptr<SigningCa> root = MustRoot("CN=Root");
  absl::StatusOr<std::unique_ptr<SigningCa>> loaded =
      SigningCa::Load(root->certificate().pem, root->KeyPem());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->certificate().der, root->certificate().der);

  PrivateKey other = MustGenerate(KeyType::kEcP256);
  EXPECT_EQ(SigningCa::Load(root->certificate().pem, other.ToPem()).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<CertificateInfo> leaf = root->Issue(LeafParams(MustCsr(other, {"CN=l", {}})));
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  absl::StatusOr<std::unique_ptr<SigningCa>> not_ca = SigningCa::Load(leaf->pem, other.ToPem());
  EXPECT_EQ(not_ca.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(not_ca.status().message(), HasSubstr("is not a CA"));
}

TEST(SplitPemChainTest, SplitsAndRejects) {
  std::unique_ptr<SigningCa> a = MustRoot("CN=A");
  std::unique_ptr<SigningCa> b = MustRoot("CN=B");
  absl::StatusOr<std::vector<std::string>> blocks =
      SplitPemChain("leading text\n" + a->certificate().pem + "between\n" + b->certificate().pem);
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  EXPECT_THAT(*blocks, ElementsAre(a->certificate().pem, b->certificate().pem));
  EXPECT_EQ(SplitPemChain("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitPemChain(a->certificate().pem + a->KeyPem()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitPemChain("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PemBlocksDerTest, DecodesEachBlockOfTheLabelAndRejectsBrokenOnes) {
  std::unique_ptr<SigningCa> a = MustRoot("CN=A");
  std::unique_ptr<SigningCa> b = MustRoot("CN=B");
  const std::string text =
      "leading text\n" + a->certificate().pem + "between\n" + b->certificate().pem + a->KeyPem();
  absl::StatusOr<std::vector<std::string>> blocks = PemBlocksDer(text, "CERTIFICATE");
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  EXPECT_THAT(*blocks, ElementsAre(a->certificate().der, b->certificate().der));
  absl::StatusOr<std::vector<std::string>> crlf =
      PemBlocksDer(absl::StrReplaceAll(a->certificate().pem, {{"\n", "\r\n"}}), "CERTIFICATE");
  ASSERT_TRUE(crlf.ok()) << crlf.status();
  EXPECT_THAT(*crlf, ElementsAre(a->certificate().der));

  absl::StatusOr<std::vector<std::string>> none = PemBlocksDer("no PEM here", "CERTIFICATE");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  const std::string pem = a->certificate().pem;
  EXPECT_EQ(PemBlocksDer(pem.substr(0, pem.find("-----END")), "CERTIFICATE").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PemBlocksDer("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
                         "CERTIFICATE")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// An RSA SubjectPublicKeyInfo re-encoded with the AlgorithmIdentifier's NULL parameters
// left out: the same key, other bytes (as a CA may encode it).
std::string WithoutRsaNullParameters(const std::string& spki) {
  // 30 82 01 22 | 30 0d | 06 09 <rsaEncryption> | 05 00 | 03 82 01 0f ... (RSA-2048)
  const std::string head("\x30\x82\x01\x22\x30\x0d\x06\x09", 8);
  EXPECT_EQ(spki.substr(0, 8), head);
  EXPECT_EQ(spki.substr(17, 2), std::string("\x05\x00", 2));
  return std::string("\x30\x82\x01\x20\x30\x0b", 6) + spki.substr(6, 11) + spki.substr(19);
}

TEST(SamePublicKeyTest, EqualBytesOrEquivalentEncodingsOfOneKey) {
  absl::StatusOr<CsrInfo> rsa = ParseCsr(MustCsr(MustGenerate(KeyType::kRsa2048), {"CN=r", {}}));
  absl::StatusOr<CsrInfo> ec = ParseCsr(MustCsr(MustGenerate(KeyType::kEcP256), {"CN=e", {}}));
  ASSERT_TRUE(rsa.ok() && ec.ok());
  const std::string reencoded = WithoutRsaNullParameters(rsa->public_key_der);
  EXPECT_NE(reencoded, rsa->public_key_der);
  EXPECT_TRUE(SamePublicKey(rsa->public_key_der, rsa->public_key_der));
  EXPECT_TRUE(SamePublicKey(rsa->public_key_der, reencoded));
  EXPECT_FALSE(SamePublicKey(rsa->public_key_der, ec->public_key_der));
  EXPECT_FALSE(SamePublicKey("", ""));
  EXPECT_FALSE(SamePublicKey("not a key", "not a key either"));
}

TEST(CsrHasPublicKeyTest, FindsTheRequestKeyWithoutParsingTheRequestAgain) {
  PrivateKey key = MustGenerate(KeyType::kRsa2048);
  const std::string csr_pem = MustCsr(key, {"CN=device", {}});
  absl::StatusOr<CsrInfo> csr = ParseCsr(csr_pem);
  ASSERT_TRUE(csr.ok()) << csr.status();
  // The walk finds the request's own bytes, which ParseCsr reports too.
  EXPECT_EQ(internal::RawCsrPublicKeyInfo(csr->der), csr->public_key_der);
  EXPECT_EQ(internal::RawCsrPublicKeyInfo("garbage"), "");
  internal::TakeOpenSslError();

  std::unique_ptr<SigningCa> root = MustRoot("CN=Root");
  absl::StatusOr<CertificateInfo> cert = root->Issue(LeafParams(csr_pem));
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_TRUE(CsrHasPublicKey(csr_pem, cert->public_key_der));
  EXPECT_TRUE(CsrHasPublicKey(csr->der, cert->public_key_der));
  EXPECT_TRUE(CsrHasPublicKey(
      absl::StrReplaceAll(csr_pem, {{"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"}}),
      cert->public_key_der));
  // A CA that encodes the same key differently still matches.
  EXPECT_TRUE(CsrHasPublicKey(csr_pem, WithoutRsaNullParameters(cert->public_key_der)));

  absl::StatusOr<CsrInfo> other = ParseCsr(MustCsr(MustGenerate(KeyType::kEcP256), {"CN=o", {}}));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_FALSE(CsrHasPublicKey(csr_pem, other->public_key_der));
  EXPECT_FALSE(CsrHasPublicKey("not a request", cert->public_key_der));
  EXPECT_FALSE(CsrHasPublicKey(csr_pem, ""));
}

// ---- random and hashing ------------------------------------------------------------

TEST(RandomTest, CodesUseTheUnambiguousAlphabet) {
  const std::string alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
  EXPECT_EQ(RandomCode(0), "");
  EXPECT_EQ(RandomCode(8).size(), 8u);
  std::string many = RandomCode(31 * 200);
  ASSERT_EQ(many.size(), 31u * 200);
  std::set<char> seen(many.begin(), many.end());
  EXPECT_EQ(seen, std::set<char>(alphabet.begin(), alphabet.end()));
  EXPECT_NE(RandomCode(16), RandomCode(16));
}

TEST(RandomTest, BytesAndTokens) {
  EXPECT_EQ(RandomBytes(0).size(), 0u);
  EXPECT_EQ(RandomBytes(33).size(), 33u);
  std::string token = RandomToken(32);
  EXPECT_EQ(token.size(), 43u);  // ceil(32 * 4 / 3), no padding
  for (char c : token) EXPECT_TRUE(absl::ascii_isalnum(c) || c == '-' || c == '_') << token;
  EXPECT_NE(RandomToken(32), token);
}

TEST(HashTest, Sha256HexAndConstantTimeEquals) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
}

// ---- an independent reader: the openssl command line -------------------------------

TEST(OpenSslCliTest, AcceptsOurCsrAndChain) {
  testing::ScratchDir dir;
  std::unique_ptr<SigningCa> root = MustRoot("CN=CLI Root", KeyType::kRsa2048);
  PrivateKey key = MustGenerate(KeyType::kRsa2048);
  std::string csr = MustCsr(key, {"CN=Müller\\, Jörg+UID=42,O=A\\;B", {{Type::kDns, "cli.example"},
                                                                      {Type::kUpn, "u@corp"}}});
  std::string csr_path = dir.Write("req.pem", csr);
  testing::CommandResult req = testing::RunCommand("openssl req -verify -noout -in " + csr_path);
  EXPECT_EQ(req.exit_code, 0) << req.output;
  EXPECT_THAT(req.output, HasSubstr("verify OK"));

  IssueParams params = LeafParams(csr);
  params.not_before = absl::Now() - absl::Minutes(5);
  params.not_after = absl::Now() + absl::Hours(1);
  absl::StatusOr<CertificateInfo> leaf = root->Issue(params);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  std::string ca_path = dir.Write("ca.pem", root->certificate().pem);
  std::string leaf_path = dir.Write("leaf.pem", leaf->pem);
  testing::CommandResult verify =
      testing::RunCommand("openssl verify -CAfile " + ca_path + " " + leaf_path);
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output, HasSubstr(leaf_path + ": OK"));

  testing::CommandResult text = testing::RunCommand(
      "openssl x509 -noout -text -nameopt RFC2253,-esc_msb -in " + leaf_path);
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr("Digital Signature, Key Encipherment"));
  EXPECT_THAT(text.output, HasSubstr("TLS Web Client Authentication"));
  EXPECT_THAT(text.output, HasSubstr("DNS:cli.example"));
  EXPECT_THAT(text.output, HasSubstr("UPN::u@corp"));
  EXPECT_THAT(text.output, HasSubstr("Subject: " + leaf->subject));

  // A chain for another root fails.
  std::unique_ptr<SigningCa> other = MustRoot("CN=Other Root");
  std::string other_path = dir.Write("other.pem", other->certificate().pem);
  testing::CommandResult wrong =
      testing::RunCommand("openssl verify -CAfile " + other_path + " " + leaf_path);
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_THAT(wrong.output, HasSubstr("unable to get local issuer certificate"));
}

}  // namespace
}  // namespace certbridge::pki
