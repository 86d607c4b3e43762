// AgentPolicy's decisions (pure) and AgentPolicyState's files.
#include "agent/jobs/agent_policy.h"

#include <filesystem>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/jobs/agent_policy_state.h"
#include "agent/jobs/record_log.h"
#include "agent/platform/durable_files.h"
#include "common/pki/pki.h"
#include "gtest/gtest.h"
#include "tests/agent/support/platform_test_support.h"

namespace certbridge::agent {
namespace {

constexpr char kPinA[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
constexpr char kPinB[] = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

TEST(AgentPolicyTest, EmptyListsAllowAnyCaAndTemplateAndSayItAtStart) {
  AgentPolicy policy;
  EXPECT_FALSE(policy.CheckCaConfig("anyhost\\Any CA").has_value());
  EXPECT_FALSE(policy.CheckTemplates("CertificateTemplate:Anything").has_value());
  EXPECT_FALSE(policy.CheckTemplates("").has_value());
  ASSERT_EQ(policy.OpenEnds().size(), 2u);
  EXPECT_NE(policy.OpenEnds()[0].find("--allowed-ca"), std::string::npos);
  EXPECT_NE(policy.OpenEnds()[1].find("--allowed-template"), std::string::npos);
}

TEST(AgentPolicyTest, CaNotInAllowListIsRefusedNamingTheValueAndTheFlag) {
  AgentPolicy policy({.allowed_ca_configs = {"adcs01.corp.example\\Corp CA"}});
  EXPECT_FALSE(policy.CheckCaConfig("adcs01.corp.example\\Corp CA").has_value());
  EXPECT_FALSE(policy.CheckCaConfig("ADCS01.CORP.EXAMPLE\\corp ca").has_value())
      << "AD compares host and CA names ignoring case";
  auto refusal = policy.CheckCaConfig("evil.example\\Other CA");
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->error_code, "POLICY_CA_NOT_ALLOWED");
  EXPECT_NE(refusal->message.find("\"evil.example\\Other CA\""), std::string::npos) << refusal->message;
  EXPECT_NE(refusal->message.find("--allowed-ca"), std::string::npos) << refusal->message;
  EXPECT_NE(refusal->remedy.find("--allowed-ca='evil.example\\Other CA'"), std::string::npos)
      << refusal->remedy;
  EXPECT_TRUE(policy.OpenEnds().size() == 1u);
  // A near miss is not a match.
  EXPECT_TRUE(policy.CheckCaConfig("adcs01.corp.example\\Corp CA2").has_value());
  EXPECT_TRUE(policy.CheckCaConfig("").has_value());
}

TEST(AgentPolicyTest, EveryTemplateLineMustBeAllowed) {
  AgentPolicy policy({.allowed_templates = {"WebServer", "1.3.6.1.4.1.311.21.8.1.2"}});
  EXPECT_FALSE(policy.CheckTemplates("CertificateTemplate:WebServer").has_value());
  EXPECT_FALSE(policy.CheckTemplates("certificate-template: webserver \nSAN:dns=a").has_value());
  EXPECT_FALSE(policy.CheckTemplates("CertificateTemplate:1.3.6.1.4.1.311.21.8.1.2").has_value());
  auto refusal = policy.CheckTemplates("CertificateTemplate:DomainController");
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->error_code, "POLICY_TEMPLATE_NOT_ALLOWED");
  EXPECT_NE(refusal->message.find("\"DomainController\""), std::string::npos) << refusal->message;
  EXPECT_NE(refusal->message.find("--allowed-template"), std::string::npos) << refusal->message;
  // AD CS keeps the last line; a smuggled second line is refused whichever comes first.
  refusal = policy.CheckTemplates("CertificateTemplate:WebServer\nCertificateTemplate:SubCA");
  ASSERT_TRUE(refusal.has_value());
  EXPECT_NE(refusal->message.find("\"SubCA\""), std::string::npos);
  refusal = policy.CheckTemplates("CertificateTemplate:SubCA\nCertificateTemplate:WebServer");
  ASSERT_TRUE(refusal.has_value());
  // With a list, naming no template is refused: the CA would pick one.
  refusal = policy.CheckTemplates("SAN:dns=a.example");
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->error_code, "POLICY_TEMPLATE_NOT_ALLOWED");
}

TEST(AgentPolicyTest, RevokeOnlyWhatWasIssuedHereUnlessAllowRevokeAny) {
  AgentPolicy strict;
  EXPECT_FALSE(strict.CheckRevoke("3A0F", /*issued_here=*/true).has_value());
  auto refusal = strict.CheckRevoke("3A0F", /*issued_here=*/false);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->error_code, "POLICY_REVOKE_NOT_ISSUED_HERE");
  EXPECT_NE(refusal->message.find("3A0F"), std::string::npos) << refusal->message;
  EXPECT_NE(refusal->message.find("--allow-revoke-any"), std::string::npos) << refusal->message;
  AgentPolicy any({.allow_revoke_any = true});
  EXPECT_FALSE(any.CheckRevoke("3A0F", false).has_value());
  EXPECT_EQ(any.OpenEnds().size(), 3u);
}

TEST(AgentPolicyTest, DeliveryCertificateFirstUseIsAllowedAChangeIsRefused) {
  EXPECT_FALSE(AgentPolicy::CheckDeliveryCertificate(std::nullopt, kPinA).has_value());
  EXPECT_FALSE(AgentPolicy::CheckDeliveryCertificate(std::string(kPinA), kPinA).has_value());
  auto refusal = AgentPolicy::CheckDeliveryCertificate(std::string(kPinA), kPinB);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->error_code, "POLICY_DELIVERY_CERTIFICATE_CHANGED");
  EXPECT_NE(refusal->message.find(FormatSha256Fingerprint(kPinA)), std::string::npos);
  EXPECT_NE(refusal->message.find(FormatSha256Fingerprint(kPinB)), std::string::npos);
  EXPECT_NE(refusal->remedy.find(std::string("trust-delivery-certificate --sha256 ") + kPinB),
            std::string::npos)
      << refusal->remedy;
}

TEST(AgentPolicyTest, FingerprintsAreNormalized) {
  auto pin = NormalizeSha256Fingerprint(FormatSha256Fingerprint(kPinA));
  ASSERT_TRUE(pin.ok()) << pin.status();
  EXPECT_EQ(*pin, kPinA);
  EXPECT_EQ(FormatSha256Fingerprint("00aa"), "00:AA");
  EXPECT_EQ(NormalizeSha256Fingerprint("00aa").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NormalizeSha256Fingerprint(std::string(63, 'a') + "g").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NormalizeSha256Fingerprint(std::string(200, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

class AgentPolicyStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test_support::MakeTempDir("agent-policy-");
    ASSERT_FALSE(root_.empty());
    auto state = AgentPolicyState::Open(root_ + "/policy");
    ASSERT_TRUE(state.ok()) << state.status();
    state_ = *std::move(state);
  }
  void TearDown() override {
    state_.reset();  // Windows deletes no file that is still open (the issued-serial log)
    std::filesystem::remove_all(root_);
  }

  std::string root_;
  std::unique_ptr<AgentPolicyState> state_;
};

TEST_F(AgentPolicyStateTest, IssuedSerialsAreRememberedInAnySpellingAndSurviveReopen) {
  auto before = state_->WasIssuedHere("3A0F");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_FALSE(*before);
  ASSERT_TRUE(state_->RecordIssued("3a:0f", "tenants/t1/certificateRequests/r1").ok());
  auto reopened = AgentPolicyState::Open(root_ + "/policy");
  ASSERT_TRUE(reopened.ok());
  auto after = (*reopened)->WasIssuedHere("00 3A 0F");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(*after);
  EXPECT_TRUE(test_support::HasAccess(state_->IssuedLogPath(), FileAccess::kOwnerOnly));
  // One log, not a file per serial.
  EXPECT_FALSE(PathExists(root_ + "/policy/issued/3A0F"));
  // Not a path: a serial that is not hex never reaches the file system.
  EXPECT_EQ(state_->WasIssuedHere("../../agent.key").status().code(),
            absl::StatusCode::kInvalidArgument);
}

bool IssuedHere(const AgentPolicyState& state, const std::string& serial) {
  absl::StatusOr<bool> here = state.WasIssuedHere(serial);
  EXPECT_TRUE(here.ok()) << serial << ": " << here.status();
  return here.ok() && *here;
}

TEST_F(AgentPolicyStateTest, ATornTailOfTheIssuedLogIsDroppedAndLaterRecordsStillAppend) {
  ASSERT_TRUE(state_->RecordIssued("0A01", "r1").ok());
  ASSERT_TRUE(state_->RecordIssued("0A02", "r2").ok());
  const std::string path = state_->IssuedLogPath();
  state_.reset();
  absl::StatusOr<std::string> good = ReadWholeFile(path);
  ASSERT_TRUE(good.ok()) << good.status();
  // A crash in the middle of an append: the first bytes of a record that checks.
  const std::string torn = record_log::Frame(1, "0A03\nr3").substr(0, 15);
  ASSERT_TRUE(WriteFileAtomically(path, *good + torn, FileAccess::kOwnerOnly).ok());
  auto reopened = AgentPolicyState::Open(root_ + "/policy");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  state_ = *std::move(reopened);
  EXPECT_TRUE(IssuedHere(*state_, "0A01"));
  EXPECT_TRUE(IssuedHere(*state_, "0A02"));
  EXPECT_FALSE(IssuedHere(*state_, "0A03"));
  ASSERT_TRUE(state_->RecordIssued("0A04", "r4").ok());
  absl::StatusOr<std::string> after = ReadWholeFile(path);
  ASSERT_TRUE(after.ok());
  // Rewritten without the partial record before the new one was appended.
  EXPECT_EQ(*after, *good + record_log::Frame(1, "A04\nr4"));  // serials are normalized
  reopened = AgentPolicyState::Open(root_ + "/policy");
  ASSERT_TRUE(reopened.ok());
  EXPECT_TRUE(IssuedHere(**reopened, "0A01"));
  EXPECT_TRUE(IssuedHere(**reopened, "0A02"));
  EXPECT_TRUE(IssuedHere(**reopened, "0A04"));
  absl::StatusOr<std::string> last = ReadWholeFile(path);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(record_log::ParseRecords(*last, 4096).valid_bytes, last->size());
}

TEST_F(AgentPolicyStateTest, SerialsAnOlderAgentRecordedAsFilesAreStillHonoured) {
  state_.reset();
  // The per-file layout of agents before the log: issued/<SERIAL> holding the request name.
  ASSERT_TRUE(WriteFileAtomically(root_ + "/policy/issued/0BC1", "tenants/t1/certificateRequests/old\n",
                                  FileAccess::kOwnerOnly)
                  .ok());
  auto reopened = AgentPolicyState::Open(root_ + "/policy");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  state_ = *std::move(reopened);
  EXPECT_TRUE(IssuedHere(*state_, "0b:c1"));
  EXPECT_FALSE(IssuedHere(*state_, "0BC2"));
  ASSERT_TRUE(state_->RecordIssued("0BC2", "new").ok());
  EXPECT_TRUE(IssuedHere(*state_, "0BC1"));
  EXPECT_TRUE(IssuedHere(*state_, "0BC2"));
  // Left in place (never written again): a downgraded agent still finds it.
  EXPECT_TRUE(PathExists(root_ + "/policy/issued/0BC1"));
}

TEST_F(AgentPolicyStateTest, ConcurrentRecordsAreAllDurable) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::Status s = state_->RecordIssued(absl::StrCat(absl::Hex(0x1000 + t * 256 + i)),
                                              absl::StrCat("r", t, "-", i));
        EXPECT_TRUE(s.ok()) << s;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  auto reopened = AgentPolicyState::Open(root_ + "/policy");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      EXPECT_TRUE(IssuedHere(**reopened, absl::StrCat(absl::Hex(0x1000 + t * 256 + i))));
    }
  }
  absl::StatusOr<std::string> log = ReadWholeFile(state_->IssuedLogPath());
  ASSERT_TRUE(log.ok());
  const record_log::ParsedLog parsed = record_log::ParseRecords(*log, 4096);
  EXPECT_EQ(parsed.records.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(parsed.valid_bytes, log->size());
}

TEST_F(AgentPolicyStateTest, ARequestNameOverTheRecordBoundIsCutNotRefused) {
  ASSERT_TRUE(state_->RecordIssued("0C01", std::string(10000, 'n')).ok());
  auto reopened = AgentPolicyState::Open(root_ + "/policy");
  ASSERT_TRUE(reopened.ok());
  EXPECT_TRUE(IssuedHere(**reopened, "0C01"));
  EXPECT_EQ(state_->RecordIssued("not hex", "r").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AgentPolicyStateTest, PinIsReadFromDiskEachTime) {
  auto none = state_->PinnedDeliveryCertificate();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(state_->PinDeliveryCertificate(FormatSha256Fingerprint(kPinA)).ok());
  auto pinned = state_->PinnedDeliveryCertificate();
  ASSERT_TRUE(pinned.ok() && pinned->has_value());
  EXPECT_EQ(**pinned, kPinA);
  EXPECT_TRUE(test_support::HasAccess(state_->PinPath(), FileAccess::kOwnerOnly));
  // Another process (trust-delivery-certificate) replaces it.
  auto other = AgentPolicyState::Open(root_ + "/policy");
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->PinDeliveryCertificate(kPinB).ok());
  pinned = state_->PinnedDeliveryCertificate();
  ASSERT_TRUE(pinned.ok() && pinned->has_value());
  EXPECT_EQ(**pinned, kPinB);
  // A damaged pin is an error, never "not pinned" (that would re-pin whatever comes next).
  ASSERT_TRUE(WriteFileAtomically(state_->PinPath(), "garbage\n", FileAccess::kOwnerOnly).ok());
  EXPECT_EQ(state_->PinnedDeliveryCertificate().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(state_->PinDeliveryCertificate("nothex").code(), absl::StatusCode::kInvalidArgument);
}

std::string SelfSignedPem(const std::string& subject) {
  auto ca = pki::SigningCa::CreateSelfSigned(subject, pki::KeyType::kEcP256,
                                             absl::Now() - absl::Hours(1),
                                             absl::Now() + absl::Hours(24));
  EXPECT_TRUE(ca.ok()) << ca.status();
  return ca.ok() ? (*ca)->certificate().pem : "";
}

// Before, nothing was pinned at registration: the first key-generation job pinned whatever
// delivery certificate it carried, so a broker that swapped the certificate before that
// job was trusted.
TEST_F(AgentPolicyStateTest, RegistrationPinsTheDeliveryCertificateOfTheApproval) {
  const std::string delivery = SelfSignedPem("CN=Tenant delivery");
  const std::string sha256 = pki::Sha256Hex(pki::ParseCertificate(delivery)->der);
  auto pinned = state_->PinAtRegistration(FormatSha256Fingerprint(sha256), delivery);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  ASSERT_TRUE(pinned->has_value());
  EXPECT_EQ(**pinned, sha256);
  auto on_disk = state_->PinnedDeliveryCertificate();
  ASSERT_TRUE(on_disk.ok() && on_disk->has_value());
  EXPECT_EQ(**on_disk, sha256);

  // A swapped certificate presented later is refused against that pin.
  auto swapped = DeliveryCertificateFingerprint(SelfSignedPem("CN=Swapped delivery"));
  ASSERT_TRUE(swapped.ok());
  auto refusal = AgentPolicy::CheckDeliveryCertificate(*on_disk, *swapped);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->error_code, kPolicyDeliveryCertificateChanged);
}

TEST_F(AgentPolicyStateTest, RegistrationRefusesAFingerprintThatIsNotTheCertificates) {
  const std::string delivery = SelfSignedPem("CN=Tenant delivery");
  auto pinned = state_->PinAtRegistration(kPinA, delivery);
  EXPECT_EQ(pinned.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(pinned.status().message().find("nothing was pinned"), std::string::npos)
      << pinned.status();
  EXPECT_EQ(state_->PinAtRegistration(kPinA, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(state_->PinAtRegistration("", delivery).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto on_disk = state_->PinnedDeliveryCertificate();
  ASSERT_TRUE(on_disk.ok());
  EXPECT_FALSE(on_disk->has_value());
}

TEST_F(AgentPolicyStateTest, RegistrationWithoutDeliveryCertificateClearsAnOldPin) {
  ASSERT_TRUE(state_->PinDeliveryCertificate(kPinA).ok());  // an earlier registration's
  auto pinned = state_->PinAtRegistration("", "");
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_FALSE(pinned->has_value());
  auto on_disk = state_->PinnedDeliveryCertificate();
  ASSERT_TRUE(on_disk.ok());
  EXPECT_FALSE(on_disk->has_value()) << "the first key-generation job pins (trust on first use)";
}

TEST(DeliveryCertificateFingerprintTest, IsSha256OfTheDer) {
  auto ca = pki::SigningCa::CreateSelfSigned("CN=Delivery", pki::KeyType::kEcP256,
                                             absl::Now() - absl::Hours(1),
                                             absl::Now() + absl::Hours(24));
  ASSERT_TRUE(ca.ok()) << ca.status();
  auto fp = DeliveryCertificateFingerprint((*ca)->certificate().pem);
  ASSERT_TRUE(fp.ok()) << fp.status();
  EXPECT_EQ(*fp, pki::Sha256Hex((*ca)->certificate().der));
  EXPECT_EQ(fp->size(), 64u);
  EXPECT_EQ(DeliveryCertificateFingerprint("not a certificate").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace certbridge::agent
