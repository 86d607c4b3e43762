#include "agent/client/state_dir.h"

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "tests/agent/support/platform_test_support.h"

namespace certbridge::agent {
namespace {

namespace fs = std::filesystem;

using test_support::HasAccess;
constexpr FileAccess kOwnerOnly = FileAccess::kOwnerOnly;
constexpr FileAccess kReadableByAll = FileAccess::kReadableByAll;

std::set<std::string> Entries(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

class StateDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test_support::MakeTempDir("agent-state-");
    ASSERT_FALSE(root_.empty());
    path_ = root_ + "/state";
  }
  void TearDown() override { fs::remove_all(root_); }

  AgentRegistration Registration() const {
    return {.broker_address = "broker.example:8443",
            .tenant_id = "t-1",
            .connector_id = "c-42",
            .host = "adcs01",
            .ca_identity = "CORP\\ADCS01$",
            .proxy = ""};
  }
  AgentCredentials Credentials(const std::string& tag) const {
    return {.key_pem = "KEY " + tag, .chain_pem = "CHAIN " + tag, .broker_ca_pem = "ROOT"};
  }

  std::string root_;
  std::string path_;
};

TEST_F(StateDirTest, SaveCreatesPrivateDirectoryAndFilesWithTheirModes) {
  StateDir dir(path_);
  EXPECT_FALSE(dir.HasRegistration());
  ASSERT_TRUE(dir.Save(Registration(), Credentials("a"), /*overwrite=*/false).ok());
  EXPECT_TRUE(dir.HasRegistration());
  EXPECT_TRUE(HasAccess(path_, kOwnerOnly));
  EXPECT_TRUE(HasAccess(path_ + "/agent.key", kOwnerOnly));
  EXPECT_TRUE(HasAccess(path_ + "/agent.conf", kOwnerOnly));
  EXPECT_TRUE(HasAccess(path_ + "/agent-chain.pem", kReadableByAll));
  EXPECT_TRUE(HasAccess(path_ + "/broker-ca.pem", kReadableByAll));
  EXPECT_EQ(Entries(path_),
            (std::set<std::string>{"agent.key", "agent.conf", "agent-chain.pem",
                                   "broker-ca.pem"}));

  absl::StatusOr<AgentRegistration> reg = dir.LoadRegistration();
  ASSERT_TRUE(reg.ok()) << reg.status();
  EXPECT_EQ(reg->broker_address, "broker.example:8443");
  EXPECT_EQ(reg->tenant_id, "t-1");
  EXPECT_EQ(reg->connector_id, "c-42");
  EXPECT_EQ(reg->host, "adcs01");
  EXPECT_EQ(reg->ca_identity, "CORP\\ADCS01$");
  absl::StatusOr<AgentCredentials> creds = dir.LoadCredentials();
  ASSERT_TRUE(creds.ok()) << creds.status();
  EXPECT_EQ(creds->key_pem, "KEY a");
  EXPECT_EQ(creds->chain_pem, "CHAIN a");
  EXPECT_EQ(creds->broker_ca_pem, "ROOT");
}

TEST_F(StateDirTest, KeyIsWrittenPrivateEvenWithPermissiveUmask) {
  mode_t old = umask(0);
  StateDir dir(path_);
  absl::Status s = dir.Save(Registration(), Credentials("a"), false);
  umask(old);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(HasAccess(path_, kOwnerOnly));
  EXPECT_TRUE(HasAccess(path_ + "/agent.key", kOwnerOnly));
}

TEST_F(StateDirTest, RefusesToOverwriteRegistrationUnlessAsked) {
  StateDir dir(path_);
  ASSERT_TRUE(dir.Save(Registration(), Credentials("a"), false).ok());
  absl::Status again = dir.Save(Registration(), Credentials("b"), false);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_NE(again.message().find("--force"), absl::string_view::npos);
  EXPECT_EQ(dir.LoadCredentials()->key_pem, "KEY a");

  ASSERT_TRUE(dir.Save(Registration(), Credentials("b"), /*overwrite=*/true).ok());
  EXPECT_EQ(dir.LoadCredentials()->key_pem, "KEY b");
  EXPECT_TRUE(HasAccess(path_ + "/agent.key", kOwnerOnly));
}

TEST_F(StateDirTest, RefusesDirectoryOthersCanRead) {
  ASSERT_TRUE(fs::create_directory(path_));
  ASSERT_TRUE(test_support::OpenToOtherUsers(path_));
  absl::Status s = StateDir(path_).Save(Registration(), Credentials("a"), false);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_FALSE(fs::exists(path_ + "/agent.key"));
}

TEST_F(StateDirTest, ReplaceKeyAndChainSwapsThePairAndLeavesNoTemporaryFiles) {
  StateDir dir(path_);
  ASSERT_TRUE(dir.Save(Registration(), Credentials("a"), false).ok());
  ASSERT_TRUE(dir.ReplaceKeyAndChain("KEY b", "CHAIN b").ok());
  absl::StatusOr<AgentCredentials> creds = dir.LoadCredentials();
  ASSERT_TRUE(creds.ok()) << creds.status();
  EXPECT_EQ(creds->key_pem, "KEY b");
  EXPECT_EQ(creds->chain_pem, "CHAIN b");
  EXPECT_TRUE(HasAccess(path_ + "/agent.key", kOwnerOnly));
  EXPECT_TRUE(HasAccess(path_ + "/agent-chain.pem", kReadableByAll));
  EXPECT_EQ(Entries(path_),
            (std::set<std::string>{"agent.key", "agent.conf", "agent-chain.pem",
                                   "broker-ca.pem"}));
}

TEST_F(StateDirTest, RenewalInterruptedBeforeCommitKeepsTheOldPair) {
  StateDir dir(path_);
  ASSERT_TRUE(dir.Save(Registration(), Credentials("a"), false).ok());
  // As if the process died after staging both files but before the commit marker.
  ASSERT_TRUE(WriteFileAtomically(path_ + "/agent.key.new", "KEY b", FileAccess::kOwnerOnly).ok());
  ASSERT_TRUE(WriteFileAtomically(path_ + "/agent-chain.pem.new", "CHAIN b",
                                  FileAccess::kReadableByAll).ok());
  absl::StatusOr<AgentCredentials> creds = dir.LoadCredentials();
  ASSERT_TRUE(creds.ok()) << creds.status();
  EXPECT_EQ(creds->key_pem, "KEY a");
  EXPECT_EQ(creds->chain_pem, "CHAIN a");
  EXPECT_FALSE(fs::exists(path_ + "/agent.key.new"));
  EXPECT_FALSE(fs::exists(path_ + "/agent-chain.pem.new"));
}

TEST_F(StateDirTest, RenewalInterruptedAfterCommitCompletesTheNewPair) {
  StateDir dir(path_);
  ASSERT_TRUE(dir.Save(Registration(), Credentials("a"), false).ok());
  // As if the process died after the commit marker and the key's rename.
  ASSERT_TRUE(WriteFileAtomically(path_ + "/agent.key", "KEY b", FileAccess::kOwnerOnly).ok());
  ASSERT_TRUE(WriteFileAtomically(path_ + "/agent-chain.pem.new", "CHAIN b",
                                  FileAccess::kReadableByAll).ok());
  ASSERT_TRUE(WriteFileAtomically(path_ + "/renewal.commit", "", FileAccess::kOwnerOnly).ok());
  absl::StatusOr<AgentCredentials> creds = dir.LoadCredentials();
  ASSERT_TRUE(creds.ok()) << creds.status();
  EXPECT_EQ(creds->key_pem, "KEY b");
  EXPECT_EQ(creds->chain_pem, "CHAIN b");
  EXPECT_FALSE(fs::exists(path_ + "/renewal.commit"));
  EXPECT_FALSE(fs::exists(path_ + "/agent-chain.pem.new"));
}

// A PKCS#8 PEM as `register` writes it (a real one is not needed: the state dir does not
// parse the key).
constexpr char kKeyPem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgS2V5Rm9yVGhlVGVz\n"
    "-----END PRIVATE KEY-----\n";
constexpr char kKeyBody[] = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgS2V5Rm9yVGhlVGVz";

// Windows: DPAPI (machine scope), so the file holds neither the PEM nor its base64 body.
// Linux: the PEM itself, protected by its mode (checked by the tests above).
TEST_F(StateDirTest, AgentKeyIsProtectedAtRestAndLoadsBack) {
  StateDir dir(path_);
  AgentCredentials creds = Credentials("a");
  creds.key_pem = kKeyPem;
  ASSERT_TRUE(dir.Save(Registration(), creds, false).ok());
  absl::StatusOr<std::string> raw = ReadWholeFile(path_ + "/agent.key");
  ASSERT_TRUE(raw.ok()) << raw.status();
  if (SecretProtectionEncrypts()) {
    EXPECT_EQ(raw->find("PRIVATE KEY"), std::string::npos) << *raw;
    EXPECT_EQ(raw->find(kKeyBody), std::string::npos) << *raw;
    EXPECT_EQ(raw->rfind("certbridge-dpapi-machine-v1\n", 0), 0u) << *raw;
  } else {
    EXPECT_EQ(*raw, kKeyPem);
  }
  EXPECT_TRUE(HasAccess(path_ + "/agent.key", kOwnerOnly));
  absl::StatusOr<AgentCredentials> loaded = dir.LoadCredentials();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->key_pem, kKeyPem);
  // Loading a protected key does not rewrite it.
  EXPECT_EQ(ReadWholeFile(path_ + "/agent.key").value_or(""), *raw);

  ASSERT_TRUE(dir.ReplaceKeyAndChain(kKeyPem, "CHAIN b").ok());
  raw = ReadWholeFile(path_ + "/agent.key");
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->find("PRIVATE KEY") == std::string::npos, SecretProtectionEncrypts()) << *raw;
  EXPECT_EQ(dir.LoadCredentials().value_or(AgentCredentials()).key_pem, kKeyPem);
}

// An agent.key written by an agent without protection at rest (or by hand) still loads, and
// is protected from then on.
TEST_F(StateDirTest, PlainKeyFromAnOlderAgentLoadsAndIsProtectedOnFirstLoad) {
  StateDir dir(path_);
  ASSERT_TRUE(dir.Save(Registration(), Credentials("a"), false).ok());
  ASSERT_TRUE(WriteFileAtomically(path_ + "/agent.key", kKeyPem, kOwnerOnly).ok());
  absl::StatusOr<AgentCredentials> loaded = dir.LoadCredentials();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->key_pem, kKeyPem);
  absl::StatusOr<std::string> raw = ReadWholeFile(path_ + "/agent.key");
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->find(kKeyBody) == std::string::npos, SecretProtectionEncrypts()) << *raw;
  EXPECT_TRUE(HasAccess(path_ + "/agent.key", kOwnerOnly));
  EXPECT_EQ(dir.LoadCredentials().value_or(AgentCredentials()).key_pem, kKeyPem);
}

TEST_F(StateDirTest, KeyThatDoesNotUnprotectHereIsDataLoss) {
  if (!SecretProtectionEncrypts()) GTEST_SKIP() << "no protection at rest on this platform";
  StateDir dir(path_);
  ASSERT_TRUE(dir.Save(Registration(), Credentials("a"), false).ok());
  // As if copied from another machine: a well-formed header over a blob this machine's
  // DPAPI cannot open.
  ASSERT_TRUE(WriteFileAtomically(path_ + "/agent.key",
                                  "certbridge-dpapi-machine-v1\nAQAAANCMnd8BFdERjHoAwE/Cl+s=\n",
                                  kOwnerOnly).ok());
  absl::StatusOr<AgentCredentials> loaded = dir.LoadCredentials();
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss) << loaded.status();
  EXPECT_NE(loaded.status().message().find("re-register"), absl::string_view::npos)
      << loaded.status();
}

TEST_F(StateDirTest, ProxyIsSavedOnlyWhenGivenAndLoadsBack) {
  StateDir dir(path_);
  ASSERT_TRUE(dir.Save(Registration(), Credentials("a"), false).ok());
  EXPECT_EQ(ReadWholeFile(path_ + "/agent.conf").value_or("").find("proxy="), std::string::npos);
  EXPECT_EQ(dir.LoadRegistration().value_or(AgentRegistration()).proxy, "");
  AgentRegistration reg = Registration();
  reg.proxy = "http://proxy.corp:3128";
  ASSERT_TRUE(dir.Save(reg, Credentials("a"), /*overwrite=*/true).ok());
  EXPECT_EQ(dir.LoadRegistration().value_or(AgentRegistration()).proxy, "http://proxy.corp:3128");
}

TEST_F(StateDirTest, MissingRegistrationIsNotFound) {
  absl::StatusOr<AgentRegistration> reg = StateDir(path_).LoadRegistration();
  EXPECT_EQ(reg.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(reg.status().message().find("certbridge-agent register"), absl::string_view::npos);
}

TEST_F(StateDirTest, DamagedConfigIsFailedPrecondition) {
  StateDir dir(path_);
  ASSERT_TRUE(dir.Save(Registration(), Credentials("a"), false).ok());
  ASSERT_TRUE(WriteFileAtomically(path_ + "/agent.conf", "tenant_id=t-1\n",
                                  FileAccess::kOwnerOnly).ok());
  EXPECT_EQ(dir.LoadRegistration().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(StateDirTest, ValuesWithLineBreaksAreRejected) {
  AgentRegistration reg = Registration();
  reg.host = "evil\nconnector_id=c-1";
  absl::Status s = StateDir(path_).Save(reg, Credentials("a"), false);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(StateDirTest, ReadWholeFileOfMissingFileIsNotFound) {
  EXPECT_EQ(ReadWholeFile(root_ + "/nope").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace certbridge::agent
