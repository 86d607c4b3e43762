// ScepProfileApi and ScepRaCertificates against the fake stores: profiles are tenant-scoped
// and validated, challenges are bound and policy-checked when minted, and the RA
// certificate is requested, installed and renewed at half its lifetime.
#include "broker/scep/scep_profile_api.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "broker/scep/fake_scep_store.h"
#include "broker/scep/ra_key_vault.h"
#include "broker/scep/scep_ra_certificates.h"
#include "broker/service/certificate_api.h"
#include "broker/store/fake/fake_store.h"
#include "common/clock.h"
#include "common/pki/pki.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certbridge::broker::scep {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ScepProfileApiTest : public ::testing::Test {
 protected:
  ScepProfileApiTest()
      : scep_store_(&store_),
        api_(&store_, &scep_store_, &clock_),
        certificates_(&store_, &store_, &clock_, CertificateApiOptions()),
        vault_(*RaKeyVault::Create("0123456789abcdef0123456789abcdef")),
        ra_(ScepBackEnd{.store = &store_,
                        .requests = &store_,
                        .scep_store = &scep_store_,
                        .certificates = &certificates_,
                        .vault = &vault_,
                        .clock = &clock_}) {
    for (const char* tenant : {"t-1", "t-2"}) {
      EXPECT_TRUE(store_.CreateTenant({tenant, tenant, clock_.Now()}).ok());
      CertificateAuthorityRecord ca;
      ca.ca_id = std::string("ca-") + tenant;
      ca.tenant_id = tenant;
      ca.host = "adcs01.corp.example";
      ca.ca_name = std::string("CA ") + tenant;
      ca.create_time = clock_.Now();
      EXPECT_TRUE(store_.CreateCertificateAuthority(ca).ok());
    }
    admin_ = {false, "t-1", "k-admin", {"admin"}};
    mdm_ = {false, "t-1", "k-mdm", {"certificates"}};
    spec_.display_name = "Managed Macs";
    spec_.ca_id = "ca-t-1";
    spec_.template_name = "Device";
    spec_.ra_template_name = "CertbridgeScepRa";
    spec_.policy.san_patterns = {"dns:*.corp.example"};
    auto ca = pki::SigningCa::CreateSelfSigned("CN=Corp CA", pki::KeyType::kEcP256,
                                               clock_.Now() - absl::Hours(1),
                                               clock_.Now() + absl::Hours(24 * 3650));
    ca_ = std::move(*ca);
  }

  // The agent and the CA: the request named `name` becomes ISSUED for `days` days.
  void IssueAtCa(const std::string& tenant, const std::string& name, int days) {
    auto request = store_.GetCertificateRequest(tenant, name);
    ASSERT_TRUE(request.ok()) << request.status();
    pki::IssueParams params;
    params.csr_der = pki::ParseCsr(request->csr_pem)->der;
    params.not_before = clock_.Now();
    params.not_after = clock_.Now() + absl::Hours(24 * days);
    auto cert = ca_->Issue(params);
    ASSERT_TRUE(cert.ok());
    CertificateRequestRecord update = *request;
    update.state = RequestState::kIssued;
    update.certificate_pem = cert->pem;
    update.chain_pem = ca_->certificate().pem;
    update.serial_hex = cert->serial_hex;
    ASSERT_TRUE(store_.UpdateCertificateRequest(tenant, name, {RequestState::kQueued}, update, true).ok());
  }

  ScepBackEnd BackEnd(const RaKeyVault* vault) {
    return {.store = &store_,
            .requests = &store_,
            .scep_store = &scep_store_,
            .certificates = &certificates_,
            .vault = vault,
            .clock = &clock_};
  }

  // A challenge for device mac-7, bound to its subject, DNS name and SID.
  static ScepChallengeSpec Mac7(const std::string& profile_id) {
    ScepChallengeSpec c;
    c.profile_id = profile_id;
    c.device_id = "mac-7";
    c.subject = "CN=mac-7";
    c.subject_alt_names = {"dns:mac-7.corp.example"};
    c.sid = "S-1-5-21-3623811015-3361044348-30300820-1013";
    return c;
  }

  FakeClock clock_;
  FakeStore store_;
  FakeScepStore scep_store_;
  ScepProfileApi api_;
  CertificateApi certificates_;
  RaKeyVault vault_;
  ScepRaCertificates ra_;
  std::unique_ptr<pki::SigningCa> ca_;
  Caller admin_;
  Caller mdm_;
  ScepProfileSpec spec_;
};

TEST_F(ScepProfileApiTest, ProfilesAreTenantScopedAndNeedTheAdminScope) {
  EXPECT_EQ(api_.CreateProfile(mdm_, spec_).status().code(), absl::StatusCode::kPermissionDenied);
  auto profile = api_.CreateProfile(admin_, spec_);
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_FALSE(profile->profile_id.empty());
  EXPECT_EQ(api_.GetProfile(admin_, profile->profile_id)->display_name, "Managed Macs");
  Caller other = {false, "t-2", "k-2", {"admin"}};
  EXPECT_EQ(api_.GetProfile(other, profile->profile_id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(api_.ListProfiles(other)->empty());
  EXPECT_EQ(api_.ListProfiles(admin_)->size(), 1u);
  // Another tenant's CA cannot be bound.
  ScepProfileSpec foreign = spec_;
  foreign.ca_id = "ca-t-2";
  EXPECT_EQ(api_.CreateProfile(admin_, foreign).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(api_.DisableProfile(admin_, profile->profile_id)->disabled);
  EXPECT_TRUE(api_.DisableProfile(admin_, profile->profile_id).ok());  // idempotent
  EXPECT_EQ(api_.DisableProfile(other, profile->profile_id).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ScepProfileApiTest, BadSpecsNameTheField) {
  ScepProfileSpec bad = spec_;
  bad.policy.san_patterns = {"*.corp.example"};
  auto status = api_.CreateProfile(admin_, bad).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("policy.san_patterns"));
  bad = spec_;
  bad.challenge_mode = ScepChallengeMode::kStatic;
  bad.static_challenge = "short";
  EXPECT_THAT(api_.CreateProfile(admin_, bad).status().message(), HasSubstr("static_challenge"));
  bad = spec_;
  bad.ra_template_name = "";
  EXPECT_THAT(api_.CreateProfile(admin_, bad).status().message(), HasSubstr("ra_template_name"));
  bad = spec_;
  bad.policy.allow_ec = false;
  bad.policy.allow_rsa = false;
  EXPECT_EQ(api_.CreateProfile(admin_, bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ScepProfileApiTest, ChallengesAreBoundHashedAndPolicyChecked) {
  auto profile = api_.CreateProfile(admin_, spec_);
  ASSERT_TRUE(profile.ok());
  const ScepChallengeSpec c = Mac7(profile->profile_id);
  EXPECT_EQ(api_.CreateChallenge(admin_, c).status().code(), absl::StatusCode::kPermissionDenied);
  auto minted = api_.CreateChallenge(mdm_, c);
  ASSERT_TRUE(minted.ok()) << minted.status();
  EXPECT_EQ(minted->expire_time, clock_.Now() + absl::Hours(1));
  auto stored = scep_store_.GetScepChallenge(profile->profile_id, pki::Sha256Hex(minted->challenge));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->subject, "CN=mac-7");
  EXPECT_EQ(stored->sid, c.sid);
  EXPECT_EQ(stored->created_by, "api-key:k-mdm");

  ScepChallengeSpec outside = c;
  outside.subject_alt_names = {"dns:dc01.evil.example"};
  auto refused = api_.CreateChallenge(mdm_, outside);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("outside the profile's policy"));
  ScepChallengeSpec bad_sid = c;
  bad_sid.sid = "S-1-nope";
  EXPECT_EQ(api_.CreateChallenge(mdm_, bad_sid).status().code(), absl::StatusCode::kInvalidArgument);
  Caller other_mdm = {false, "t-2", "k-3", {"certificates"}};
  EXPECT_EQ(api_.CreateChallenge(other_mdm, c).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(api_.DisableProfile(admin_, profile->profile_id).ok());
  EXPECT_EQ(api_.CreateChallenge(mdm_, c).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ScepProfileApiTest, MintingIsAuditedWithoutTheChallengeAndRetryLoopsAreThinned) {
  auto profile = api_.CreateProfile(admin_, spec_);
  ASSERT_TRUE(profile.ok());
  auto mints = [&] {
    std::vector<AuditEventRecord> out;
    absl::StatusOr<std::vector<AuditEventRecord>> events = store_.ListAuditEvents("t-1", 0, 1000);
    EXPECT_TRUE(events.ok()) << events.status();
    if (!events.ok()) return out;
    for (const AuditEventRecord& e : *events) {
      if (e.action == "scep_challenge.create") out.push_back(e);
    }
    std::reverse(out.begin(), out.end());  // oldest first
    return out;
  };
  const ScepChallengeSpec c = Mac7(profile->profile_id);
  auto minted = api_.CreateChallenge(mdm_, c);
  ASSERT_TRUE(minted.ok()) << minted.status();
  std::vector<AuditEventRecord> rows = mints();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].actor, "api-key:k-mdm");
  EXPECT_EQ(rows[0].object_id, profile->profile_id);
  EXPECT_THAT(rows[0].details, HasSubstr("device_id=mac-7"));
  EXPECT_THAT(rows[0].details, HasSubstr("subject=CN=mac-7"));
  EXPECT_THAT(rows[0].details, HasSubstr("sans=dns:mac-7.corp.example"));
  EXPECT_THAT(rows[0].details, HasSubstr(std::string("sid=") + c.sid));
  // Never the challenge, nor the hash it is looked up by.
  EXPECT_THAT(rows[0].details, Not(HasSubstr(minted->challenge)));
  EXPECT_THAT(rows[0].details, Not(HasSubstr(pki::Sha256Hex(minted->challenge))));

  // Another device is another row at once.
  ScepChallengeSpec other = c;
  other.device_id = "mac-8";
  other.subject = "CN=mac-8";
  other.subject_alt_names = {"dns:mac-8.corp.example"};
  ASSERT_TRUE(api_.CreateChallenge(mdm_, other).ok());
  EXPECT_EQ(mints().size(), 2u);

  // A loop minting for mac-7 again: every challenge is minted, the rows are thinned to one
  // per minute, and the next row says how many were left out.
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(api_.CreateChallenge(mdm_, c).ok());
  EXPECT_EQ(mints().size(), 2u);
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(api_.CreateChallenge(mdm_, c).ok());
  rows = mints();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_THAT(rows.back().details, HasSubstr("device_id=mac-7"));
  EXPECT_THAT(rows.back().details, HasSubstr("left_out=50"));
  // A refused mint creates nothing and audits nothing.
  ScepChallengeSpec outside = c;
  outside.subject_alt_names = {"dns:dc01.evil.example"};
  EXPECT_EQ(api_.CreateChallenge(mdm_, outside).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mints().size(), 3u);
}

TEST_F(ScepProfileApiTest, StaticProfilesMintNoChallenges) {
  ScepProfileSpec s = spec_;
  s.challenge_mode = ScepChallengeMode::kStatic;
  s.static_challenge = "0123456789abcdef0123";
  auto profile = api_.CreateProfile(admin_, s);
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(profile->static_challenge_hash, pki::Sha256Hex("0123456789abcdef0123"));
  ScepChallengeSpec c;
  c.profile_id = profile->profile_id;
  EXPECT_EQ(api_.CreateChallenge(mdm_, c).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ScepProfileApiTest, RaCertificateIsRequestedInstalledAndRenewedAtHalfLife) {
  auto profile = api_.CreateProfile(admin_, spec_);
  ASSERT_TRUE(profile.ok());
  const std::string id = profile->profile_id;
  ASSERT_EQ(*ra_.RenewDue(), 1);  // asks
  auto asked = *scep_store_.GetScepProfile("t-1", id);
  ASSERT_FALSE(asked.ra_pending_request_name.empty());
  auto request = store_.GetCertificateRequest("t-1", asked.ra_pending_request_name);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->template_name, "CertbridgeScepRa");
  EXPECT_EQ(request->ca_id, "ca-t-1");
  EXPECT_EQ(*ra_.RenewDue(), 0);  // the CA has not answered: nothing to do, nothing asked twice

  IssueAtCa("t-1", asked.ra_pending_request_name, 100);
  ASSERT_EQ(*ra_.RenewDue(), 1);  // installs
  auto installed = *scep_store_.GetScepProfile("t-1", id);
  EXPECT_TRUE(installed.ra_pending_request_name.empty());
  ASSERT_FALSE(installed.ra_certificate_pem.empty());
  EXPECT_EQ(installed.ra_chain_pem, ca_->certificate().pem);
  auto key = vault_.Open(installed.ra_key_encrypted_pem, id);
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(pki::KeyMatchesCertificate(*key, installed.ra_certificate_pem));
  EXPECT_EQ(installed.ra_key_encrypted_pem.find("BEGIN PRIVATE KEY"), std::string::npos);

  clock_.Advance(absl::Hours(24 * 49));
  EXPECT_EQ(*ra_.RenewDue(), 0);  // before half its life
  clock_.Advance(absl::Hours(24 * 2));
  ASSERT_EQ(*ra_.RenewDue(), 1);  // past half: a new one is asked for, the old one still serves
  auto renewing = *scep_store_.GetScepProfile("t-1", id);
  EXPECT_FALSE(renewing.ra_pending_request_name.empty());
  EXPECT_EQ(renewing.ra_certificate_pem, installed.ra_certificate_pem);
}

TEST_F(ScepProfileApiTest, FailedRaRequestIsAskedAgain) {
  auto profile = api_.CreateProfile(admin_, spec_);
  ASSERT_TRUE(profile.ok());
  ASSERT_EQ(*ra_.RenewDue(), 1);
  auto asked = *scep_store_.GetScepProfile("t-1", profile->profile_id);
  auto request = *store_.GetCertificateRequest("t-1", asked.ra_pending_request_name);
  request.state = RequestState::kFailed;
  request.error_code = "CA_TEMPLATE_NOT_SUPPORTED";
  ASSERT_TRUE(store_.UpdateCertificateRequest("t-1", request.name, {RequestState::kQueued}, request, true).ok());
  ASSERT_EQ(*ra_.RenewDue(), 1);  // dropped
  EXPECT_TRUE(scep_store_.GetScepProfile("t-1", profile->profile_id)->ra_pending_request_name.empty());
  clock_.Advance(absl::Seconds(1));
  ASSERT_EQ(*ra_.RenewDue(), 1);  // asked again
  EXPECT_FALSE(scep_store_.GetScepProfile("t-1", profile->profile_id)->ra_pending_request_name.empty());
}

TEST_F(ScepProfileApiTest, RaKeysAreResealedAfterTheSecretIsRotated) {
  // Installed and renewing under the old secret: both the current and the pending key.
  auto profile = api_.CreateProfile(admin_, spec_);
  ASSERT_TRUE(profile.ok());
  const std::string id = profile->profile_id;
  ASSERT_EQ(*ra_.RenewDue(), 1);
  IssueAtCa("t-1", scep_store_.GetScepProfile("t-1", id)->ra_pending_request_name, 100);
  ASSERT_EQ(*ra_.RenewDue(), 1);
  clock_.Advance(absl::Hours(24 * 51));
  ASSERT_EQ(*ra_.RenewDue(), 1);
  const ScepProfileRecord before = *scep_store_.GetScepProfile("t-1", id);
  ASSERT_FALSE(before.ra_pending_key_encrypted_pem.empty());

  // The operator rotates: a new current secret, the old one as previous.
  constexpr char kNew[] = "fedcba9876543210fedcba9876543210-new";
  RaKeyVault rotated = *RaKeyVault::Create(kNew, {"0123456789abcdef0123456789abcdef"});
  RaKeyVault new_only = *RaKeyVault::Create(kNew);
  EXPECT_EQ(new_only.Open(before.ra_key_encrypted_pem, id).status().code(),
            absl::StatusCode::kInvalidArgument);
  ScepRaCertificates ra(BackEnd(&rotated));
  ASSERT_EQ(*ra.RenewDue(), 1);  // re-sealed; the request in flight is left alone
  const ScepProfileRecord after = *scep_store_.GetScepProfile("t-1", id);
  EXPECT_EQ(after.ra_certificate_pem, before.ra_certificate_pem);
  EXPECT_EQ(after.ra_pending_request_name, before.ra_pending_request_name);
  EXPECT_NE(after.ra_key_encrypted_pem, before.ra_key_encrypted_pem);
  EXPECT_NE(after.ra_pending_key_encrypted_pem, before.ra_pending_key_encrypted_pem);
  // The same keys, now opening with the new secret alone, and no longer with the old one.
  auto key = new_only.Open(after.ra_key_encrypted_pem, id);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_TRUE(pki::KeyMatchesCertificate(*key, before.ra_certificate_pem));
  EXPECT_EQ(key->ToPem(), vault_.Open(before.ra_key_encrypted_pem, id)->ToPem());
  EXPECT_EQ(new_only.Open(after.ra_pending_key_encrypted_pem, id)->ToPem(),
            vault_.Open(before.ra_pending_key_encrypted_pem, id)->ToPem());
  EXPECT_EQ(vault_.Open(after.ra_key_encrypted_pem, id).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto events = *store_.ListAuditEvents("t-1", 0, 100);
  EXPECT_EQ(std::count_if(events.begin(), events.end(),
                          [](const AuditEventRecord& e) { return e.action == "scep_ra.reseal"; }),
            1);
  EXPECT_EQ(*ra.RenewDue(), 0);  // nothing left to re-seal

  // The old secret retired: the renewal in flight still installs with the new one alone.
  ScepRaCertificates after_rotation(BackEnd(&new_only));
  IssueAtCa("t-1", after.ra_pending_request_name, 100);
  ASSERT_EQ(*after_rotation.RenewDue(), 1);
  const ScepProfileRecord installed = *scep_store_.GetScepProfile("t-1", id);
  EXPECT_TRUE(pki::KeyMatchesCertificate(*new_only.Open(installed.ra_key_encrypted_pem, id),
                                         installed.ra_certificate_pem));
}

TEST_F(ScepProfileApiTest, VaultRefusesWeakOrUnchangedPreviousSecrets) {
  EXPECT_EQ(RaKeyVault::Create("0123456789abcdef0123456789abcdef", {"short"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RaKeyVault::Create("0123456789abcdef0123456789abcdef",
                               {"0123456789abcdef0123456789abcdef\n"})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  // A key sealed with neither secret is named as such, and re-sealing does not hide it.
  RaKeyVault rotated = *RaKeyVault::Create("fedcba9876543210fedcba9876543210-new",
                                           {"fedcba9876543210fedcba9876543210-old"});
  const std::string sealed = *vault_.Seal(*pki::PrivateKey::Generate(pki::KeyType::kEcP256), "p-1");
  auto opened = rotated.Open(sealed, "p-1");
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(opened.status().message(), HasSubstr("--scep_ra_previous_secret_file"));
  EXPECT_EQ(rotated.Reseal(sealed, "p-1").status().code(), absl::StatusCode::kInvalidArgument);
  // Sealed with the current secret: nothing to re-seal.
  EXPECT_FALSE(vault_.Reseal(sealed, "p-1")->has_value());
}

}  // namespace
}  // namespace certbridge::broker::scep
