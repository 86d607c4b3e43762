// JobExecutor + JobJournal + PendingKeyStore against FakeCaBackend.
#include "agent/jobs/job_executor.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/ca/fake_ca_backend.h"
#include "agent/jobs/pending_key_store.h"
#include "agent/platform/durable_files.h"
#include "agent/platform/secret_protection.h"
#include "common/adcs/error_catalog.h"
#include "common/pki/pki.h"
#include "gtest/gtest.h"
#include "tests/agent/support/platform_test_support.h"

namespace certbridge::agent {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::certbridge::v1;

constexpr absl::Duration kWait = absl::Seconds(20);
constexpr char kRequest[] = "tenants/t1/certificateRequests/r1";

class FixedCaBackendSource final : public CaBackendSource {
 public:
  explicit FixedCaBackendSource(CaBackend* ca) : ca_(ca) {}
  absl::StatusOr<CaBackend*> ForConfig(const std::string&) override { return ca_; }

 private:
  CaBackend* ca_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
}

class JobExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test_support::MakeTempDir("job-executor-");
    ASSERT_FALSE(root_.empty());
    auto ca = FakeCaBackend::Create(
        "adcs01\\Fake CA",
        {CaTemplate{"WebServer", "Web Server", "", 0, 0, 0},
         CaTemplate{"PendAll", "", "", 0, 0, adcs::kEnrollmentFlagPendAllRequests}});
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *std::move(ca);
    source_ = std::make_unique<FixedCaBackendSource>(ca_.get());
    OpenExecutor();
  }
  void TearDown() override {
    executor_.reset();
    // The journal and the policy state keep their logs open, and Windows deletes no open
    // file.
    journal_.reset();
    policy_state_.reset();
    fs::remove_all(root_);
  }

  // (Re)creates policy state, journal, key store and executor on the same directory, wired
  // as agent/main.cc wires them: an agent restart.
  void OpenExecutor() {
    executor_.reset();
    journal_.reset();  // one journal per directory at a time, as in an agent process
    policy_state_.reset();
    auto policy_state = AgentPolicyState::Open(root_ + "/policy");
    ASSERT_TRUE(policy_state.ok()) << policy_state.status();
    policy_state_ = *std::move(policy_state);
    auto journal =
        JobJournal::Open(root_ + "/journal", IssuedSerialJournalOptions(*policy_state_));
    ASSERT_TRUE(journal.ok()) << journal.status();
    journal_ = *std::move(journal);
    auto keys = PendingKeyStore::Open(root_ + "/pending-keys");
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = *std::move(keys);
    auto executor = JobExecutor::Create({.journal = journal_.get(),
                                         .keys = keys_.get(),
                                         .backends = source_.get(),
                                         .policy_state = policy_state_.get(),
                                         .policy = AgentPolicy(policy_options_),
                                         .max_concurrent_jobs = 2});
    ASSERT_TRUE(executor.ok()) << executor.status();
    executor_ = *std::move(executor);
    executor_->SetResultSink([this](const v1::JobResult& r) {
      absl::MutexLock lock(&mu_);
      results_.push_back(r);
    });
  }

  // Waits for `count` results from the sink.
  std::vector<v1::JobResult> WaitForResults(size_t count) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return results_.size() >= count; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
    return results_;
  }

  static std::string Csr() {
    auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    EXPECT_TRUE(key.ok());
    auto csr = pki::CreateCsrPem(*key, {.subject = "CN=device42", .sans = {}});
    EXPECT_TRUE(csr.ok());
    return *csr;
  }

  static v1::Job SubmitJob(int64_t id, const std::string& tmpl, const std::string& name = kRequest) {
    v1::Job job;
    job.set_job_id(id);
    job.set_kind(v1::Job::KIND_SUBMIT);
    job.set_request_name(name);
    job.set_ca_config("adcs01\\Fake CA");
    job.set_attributes(absl::StrCat("CertificateTemplate:", tmpl));
    job.set_csr_pem(Csr());
    job.set_attempt(1);
    return job;
  }

  static v1::Job RevokeJob(int64_t id, const std::string& serial) {
    v1::Job job;
    job.set_job_id(id);
    job.set_kind(v1::Job::KIND_REVOKE);
    job.set_request_name(kRequest);
    job.set_ca_config("adcs01\\Fake CA");
    job.set_serial_number(serial);
    job.set_revocation_reason(1);
    return job;
  }

  // A delivery certificate and key, as a tenant registers them.
  void MakeDeliveryKey() {
    auto ca = pki::SigningCa::CreateSelfSigned("CN=Delivery", pki::KeyType::kRsa2048,
                                               absl::Now() - absl::Hours(1),
                                               absl::Now() + absl::Hours(24));
    ASSERT_TRUE(ca.ok()) << ca.status();
    delivery_cert_pem_ = (*ca)->certificate().pem;
    delivery_key_pem_ = (*ca)->KeyPem();
  }

  v1::Job KeygenJob(int64_t id, const std::string& tmpl) {
    v1::Job job = SubmitJob(id, tmpl);
    job.clear_csr_pem();
    v1::KeyGenerationJob* kg = job.mutable_key_generation();
    kg->set_key_type("EC-P256");
    kg->set_subject("CN=device 42,O=Example\\, Inc.");
    kg->add_subject_alt_names("dns:device42.example.com");
    kg->add_subject_alt_names("upn:device42@corp.example");
    kg->set_pkcs12_profile("MODERN");
    kg->set_delivery_certificate_pem(delivery_cert_pem_);
    return job;
  }

  // Recovers the password with `openssl cms -decrypt` and opens the PKCS#12 with it;
  // returns `openssl pkcs12` output (certificates, and the key when it decrypted).
  // REQUIRES: test_support::HostHasOpensslCommand() (not under Wine).
  std::string OpenPkcs12(const v1::JobResult& r, const std::string& extra_flags = "") {
    WriteFile(root_ + "/env.der", r.enveloped_password());
    WriteFile(root_ + "/delivery.pem", delivery_cert_pem_);
    WriteFile(root_ + "/delivery.key", delivery_key_pem_);
    WriteFile(root_ + "/bundle.p12", r.pkcs12());
    auto [password, rc] = test_support::RunShell(absl::StrCat("openssl cms -decrypt -inform DER -in ", root_,
                                           "/env.der -recip ", root_, "/delivery.pem -inkey ",
                                           root_, "/delivery.key"));
    EXPECT_EQ(rc, 0) << password;
    EXPECT_EQ(password.size(), 32u) << "RandomToken(24) is 32 characters";
    WriteFile(root_ + "/pass.txt", password);
    auto [out, rc2] = test_support::RunShell(absl::StrCat("openssl pkcs12 -in ", root_, "/bundle.p12 -passin file:",
                                       root_, "/pass.txt -nodes ", extra_flags));
    EXPECT_EQ(rc2, 0) << out;
    return out;
  }

  std::string root_;
  std::unique_ptr<FakeCaBackend> ca_;
  std::unique_ptr<FixedCaBackendSource> source_;
  std::unique_ptr<JobJournal> journal_;
  std::unique_ptr<PendingKeyStore> keys_;
  std::unique_ptr<AgentPolicyState> policy_state_;
  AgentPolicyOptions policy_options_;  // OpenExecutor uses it
  std::unique_ptr<JobExecutor> executor_;
  std::string delivery_cert_pem_;
  std::string delivery_key_pem_;
  absl::Mutex mu_;
  std::vector<v1::JobResult> results_ ABSL_GUARDED_BY(mu_);
};

TEST_F(JobExecutorTest, CsrSubmitIsIssuedJournaledAndCarriesTheRequestId) {
  v1::JobResult r = executor_->Execute(SubmitJob(7, "WebServer"), /*lookup_first=*/false);
  EXPECT_EQ(r.job_id(), 7);
  ASSERT_TRUE(r.ca_answered()) << r.error_message();
  EXPECT_EQ(r.disposition(), adcs::kDispositionIssued);
  EXPECT_GT(r.ca_request_id(), 0);
  EXPECT_TRUE(pki::ParseCertificate(r.certificate_pem()).ok());
  EXPECT_EQ(r.chain_pem(), ca_->ca_certificate_pem());
  // The CA got `CertbridgeRequestId:<request>` in the attributes.
  auto found = ca_->FindRequestByAttribute(
      {.attribute_name = kRequestIdAttribute, .attribute_value = kRequest});
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->ca_request_id, r.ca_request_id());

  auto entry = journal_->Get(7);
  ASSERT_TRUE(entry.ok()) << entry.status();
  ASSERT_TRUE(entry->has_value());
  ASSERT_TRUE((*entry)->result.has_value());
  EXPECT_EQ((*entry)->result->disposition(), adcs::kDispositionIssued);
  EXPECT_TRUE(test_support::HasAccess(journal_->LogPath(), FileAccess::kOwnerOnly));
}

TEST_F(JobExecutorTest, PendingThenRetrieveIssues) {
  v1::JobResult r = executor_->Execute(SubmitJob(1, "PendAll"), false);
  ASSERT_TRUE(r.ca_answered());
  EXPECT_EQ(r.disposition(), adcs::kDispositionUnderSubmission);
  EXPECT_TRUE(r.certificate_pem().empty());
  ASSERT_TRUE(ca_->Approve(r.ca_request_id()).ok());
  v1::Job retrieve;
  retrieve.set_job_id(2);
  retrieve.set_kind(v1::Job::KIND_RETRIEVE);
  retrieve.set_request_name(kRequest);
  retrieve.set_ca_request_id(r.ca_request_id());
  v1::JobResult got = executor_->Execute(retrieve, false);
  ASSERT_TRUE(got.ca_answered());
  EXPECT_EQ(got.disposition(), adcs::kDispositionIssued);
  EXPECT_TRUE(pki::ParseCertificate(got.certificate_pem()).ok());
}

TEST_F(JobExecutorTest, DisplayNameIsDeniedWithDidYouMeanHint) {
  v1::JobResult r = executor_->Execute(SubmitJob(1, "Web Server"), false);
  ASSERT_TRUE(r.ca_answered());
  EXPECT_EQ(r.disposition(), adcs::kDispositionDenied);
  EXPECT_EQ(r.hresult(), adcs::kUnsupportedCertType);
  EXPECT_EQ(r.hint(), "Did you mean template \"WebServer\"?");
}

TEST_F(JobExecutorTest, UnreachableCaIsAnErrorCodeNotAnAnswer) {
  ca_->SetUnavailable(true);
  v1::JobResult r = executor_->Execute(SubmitJob(1, "WebServer"), false);
  EXPECT_FALSE(r.ca_answered());
  EXPECT_EQ(r.error_code(), "UNAVAILABLE");
  EXPECT_TRUE(absl::StrContains(r.error_message(), "0x800706BA")) << r.error_message();
}

TEST_F(JobExecutorTest, NoBackendIsFailedPrecondition) {
  UnconfiguredCaBackendSource none("start the agent with --ca-emulator HOST:PORT");
  auto executor = JobExecutor::Create(
      {.journal = journal_.get(), .keys = keys_.get(), .backends = &none,
       .policy_state = policy_state_.get(), .max_concurrent_jobs = 1});
  ASSERT_TRUE(executor.ok());
  v1::JobResult r = (*executor)->Execute(SubmitJob(1, "WebServer"), false);
  EXPECT_FALSE(r.ca_answered());
  EXPECT_EQ(r.error_code(), "FAILED_PRECONDITION");
  EXPECT_TRUE(absl::StrContains(r.error_message(), "no CA backend is configured")) << r.error_message();
}

TEST_F(JobExecutorTest, RevokeReachesTheCa) {
  v1::JobResult issued = executor_->Execute(SubmitJob(1, "WebServer"), false);
  auto cert = pki::ParseCertificate(issued.certificate_pem());
  ASSERT_TRUE(cert.ok());
  v1::Job revoke;
  revoke.set_job_id(2);
  revoke.set_kind(v1::Job::KIND_REVOKE);
  revoke.set_request_name(kRequest);
  revoke.set_serial_number(cert->serial_hex);
  revoke.set_revocation_reason(1);
  v1::JobResult r = executor_->Execute(revoke, false);
  ASSERT_TRUE(r.ca_answered());
  EXPECT_EQ(r.revoke_hresult(), 0u);
  EXPECT_EQ(ca_->revoked().at(cert->serial_hex), 1);
  // A second revocation is the CA's refusal, still an answer.
  revoke.set_job_id(3);
  r = executor_->Execute(revoke, false);
  ASSERT_TRUE(r.ca_answered());
  EXPECT_EQ(r.revoke_hresult(), adcs::kBadRequestStatus);
  ca_->SetUnavailable(true);
  revoke.set_job_id(4);
  r = executor_->Execute(revoke, false);
  EXPECT_FALSE(r.ca_answered());
  EXPECT_EQ(r.error_code(), "UNAVAILABLE");
}

TEST_F(JobExecutorTest, KeyGenerationReturnsPkcs12ThatOpensWithTheEnvelopedPassword) {
  MakeDeliveryKey();
  v1::JobResult r = executor_->Execute(KeygenJob(1, "WebServer"), false);
  ASSERT_TRUE(r.ca_answered()) << r.error_code() << " " << r.error_message();
  EXPECT_EQ(r.disposition(), adcs::kDispositionIssued);
  ASSERT_FALSE(r.pkcs12().empty());
  ASSERT_FALSE(r.enveloped_password().empty());
  auto cert = pki::ParseCertificate(r.certificate_pem());
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(cert->sans.size(), 2u);
  if (test_support::HostHasOpensslCommand()) {
    const std::string out = OpenPkcs12(r);
    EXPECT_TRUE(absl::StrContains(out, "BEGIN PRIVATE KEY")) << out;
    EXPECT_TRUE(absl::StrContains(out, "BEGIN CERTIFICATE")) << out;
  }
  // Settled: the key is not kept.
  EXPECT_EQ(keys_->Load(kRequest).status().code(), absl::StatusCode::kNotFound);
  // Nothing in the journal holds a key.
  for (const auto& f : fs::directory_iterator(root_ + "/journal")) {
    EXPECT_FALSE(absl::StrContains(ReadFile(f.path().string()), "PRIVATE KEY")) << f.path();
  }
}

TEST_F(JobExecutorTest, KeyGenerationLegacyProfileOpensWithOpensslLegacy) {
  if (!test_support::HostHasOpensslCommand()) GTEST_SKIP() << "no openssl command on this host";
  MakeDeliveryKey();
  v1::Job job = KeygenJob(1, "WebServer");
  job.mutable_key_generation()->set_key_type("RSA-2048");
  job.mutable_key_generation()->set_pkcs12_profile("LEGACY");
  v1::JobResult r = executor_->Execute(job, false);
  ASSERT_TRUE(r.ca_answered()) << r.error_code() << " " << r.error_message();
  ASSERT_FALSE(r.pkcs12().empty());
  const std::string out = OpenPkcs12(r, "-legacy");
  EXPECT_TRUE(absl::StrContains(out, "BEGIN PRIVATE KEY")) << out;
}

TEST_F(JobExecutorTest, BadKeyTypeOrSanIsInvalidArgumentAndNothingIsSubmitted) {
  MakeDeliveryKey();
  v1::Job job = KeygenJob(1, "WebServer");
  job.mutable_key_generation()->set_key_type("DSA-1024");
  v1::JobResult r = executor_->Execute(job, false);
  EXPECT_FALSE(r.ca_answered());
  EXPECT_EQ(r.error_code(), "INVALID_ARGUMENT");
  job = KeygenJob(2, "WebServer");
  job.mutable_key_generation()->add_subject_alt_names("x400:whatever");
  r = executor_->Execute(job, false);
  EXPECT_EQ(r.error_code(), "INVALID_ARGUMENT");
  EXPECT_TRUE(absl::StrContains(r.error_message(), "x400")) << r.error_message();
  EXPECT_EQ(ca_->submit_count(), 0);
}

TEST_F(JobExecutorTest, KeyGenerationPendingKeepsTheKeyEncryptedUntilRetrieve) {
  MakeDeliveryKey();
  v1::JobResult r = executor_->Execute(KeygenJob(1, "PendAll"), false);
  ASSERT_TRUE(r.ca_answered()) << r.error_message();
  ASSERT_EQ(r.disposition(), adcs::kDispositionUnderSubmission);
  EXPECT_TRUE(r.pkcs12().empty());
  int files = 0;
  for (const auto& f : fs::directory_iterator(root_ + "/pending-keys")) {
    const std::string text = ReadFile(f.path().string());
    EXPECT_FALSE(absl::StrContains(text, "BEGIN PRIVATE KEY")) << f.path();
    if (absl::StrContains(text, "BEGIN ENCRYPTED PRIVATE KEY")) ++files;
    EXPECT_TRUE(test_support::HasAccess(f.path().string(), FileAccess::kOwnerOnly)) << f.path();
  }
  EXPECT_EQ(files, 1);

  ASSERT_TRUE(ca_->Approve(r.ca_request_id()).ok());
  OpenExecutor();  // the key survives a restart
  v1::Job retrieve;
  retrieve.set_job_id(2);
  retrieve.set_kind(v1::Job::KIND_RETRIEVE);
  retrieve.set_request_name(kRequest);
  retrieve.set_ca_request_id(r.ca_request_id());
  retrieve.mutable_key_generation()->set_pkcs12_profile("MODERN");
  v1::JobResult got = executor_->Execute(retrieve, false);
  ASSERT_TRUE(got.ca_answered()) << got.error_message();
  EXPECT_EQ(got.disposition(), adcs::kDispositionIssued);
  ASSERT_FALSE(got.pkcs12().empty());
  if (test_support::HostHasOpensslCommand()) {
    EXPECT_TRUE(absl::StrContains(OpenPkcs12(got), "BEGIN PRIVATE KEY"));
  }
  EXPECT_EQ(keys_->Load(kRequest).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(JobExecutorTest, StartedSubmitTheCaLoggedIsResolvedByLookupNotSubmittedAgain) {
  // The agent journaled the job, the CA issued, the agent died before the answer.
  v1::Job job = SubmitJob(5, "WebServer");
  ASSERT_TRUE(journal_->RecordStarted(job).ok());
  auto issued = ca_->Submit({.csr_pem = job.csr_pem(),
                             .attributes = absl::StrCat(job.attributes(), "\nCertbridgeRequestId:",
                                                        kRequest)});
  ASSERT_TRUE(issued.ok());
  ASSERT_EQ(ca_->submit_count(), 1);

  OpenExecutor();
  std::vector<v1::JobResult> hello = executor_->PrepareHello();
  ASSERT_EQ(hello.size(), 1u);
  EXPECT_EQ(hello[0].job_id(), 5);
  EXPECT_TRUE(hello[0].ca_answered());
  EXPECT_EQ(hello[0].disposition(), adcs::kDispositionIssued);
  EXPECT_EQ(hello[0].ca_request_id(), issued->ca_request_id);
  EXPECT_EQ(ca_->submit_count(), 1);
  // The broker re-sends the job after its lease expired: answered from the journal.
  job.set_attempt(2);
  executor_->Dispatch(job);
  std::vector<v1::JobResult> results = WaitForResults(1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].ca_request_id(), issued->ca_request_id);
  EXPECT_EQ(ca_->submit_count(), 1);
  // Acknowledged: gone.
  executor_->Acknowledge(5);
  EXPECT_TRUE(executor_->PrepareHello().empty());
  EXPECT_FALSE(journal_->Get(5)->has_value());
}

TEST_F(JobExecutorTest, StartedKeyGenerationTheCaIssuedGetsItsPkcs12WithoutResubmit) {
  MakeDeliveryKey();
  // The agent kept the key, journaled the job, the CA issued, the agent died.
  v1::Job job = KeygenJob(6, "WebServer");
  auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(keys_->Save(kRequest, *key, delivery_cert_pem_, "device 42").ok());
  ASSERT_TRUE(journal_->RecordStarted(job).ok());
  auto csr = pki::CreateCsrPem(*key, {.subject = "CN=device 42", .sans = {}});
  ASSERT_TRUE(csr.ok());
  ASSERT_TRUE(ca_->Submit({.csr_pem = *csr,
                           .attributes = absl::StrCat(job.attributes(), "\nCertbridgeRequestId:",
                                                      kRequest)})
                  .ok());
  OpenExecutor();
  EXPECT_TRUE(executor_->PrepareHello().empty());  // built on a worker, then sent
  std::vector<v1::JobResult> results = WaitForResults(1);
  ASSERT_EQ(results.size(), 1u);
  ASSERT_TRUE(results[0].ca_answered()) << results[0].error_message();
  ASSERT_FALSE(results[0].pkcs12().empty());
  if (test_support::HostHasOpensslCommand()) {
    EXPECT_TRUE(absl::StrContains(OpenPkcs12(results[0]), "BEGIN PRIVATE KEY"));
  }
  EXPECT_EQ(ca_->submit_count(), 1);
}

TEST_F(JobExecutorTest, StartedSubmitTheCaNeverSawIsSubmittedOnce) {
  ASSERT_TRUE(journal_->RecordStarted(SubmitJob(5, "WebServer")).ok());
  OpenExecutor();
  EXPECT_TRUE(executor_->PrepareHello().empty());
  std::vector<v1::JobResult> results = WaitForResults(1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].disposition(), adcs::kDispositionIssued);
  EXPECT_EQ(ca_->submit_count(), 1);
  EXPECT_EQ(executor_->PrepareHello().size(), 1u);  // finished, not yet acknowledged
}

TEST_F(JobExecutorTest, RetriedSubmitLooksUpBeforeSubmitting) {
  // Attempt 1 reached the CA on another run of the agent whose journal is gone.
  v1::Job job = SubmitJob(9, "WebServer");
  auto first = ca_->Submit({.csr_pem = job.csr_pem(),
                            .attributes = absl::StrCat(job.attributes(), "\nCertbridgeRequestId:",
                                                       kRequest)});
  ASSERT_TRUE(first.ok());
  job.set_attempt(2);
  executor_->Dispatch(job);
  std::vector<v1::JobResult> results = WaitForResults(1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].ca_request_id(), first->ca_request_id);
  EXPECT_EQ(ca_->submit_count(), 1);
}

TEST_F(JobExecutorTest, DuplicateJobIsNotRunTwice) {
  v1::Job job = SubmitJob(3, "WebServer");
  executor_->Dispatch(job);
  executor_->Dispatch(job);  // while queued or running: ignored
  WaitForResults(1);
  executor_->Dispatch(job);  // finished: answered from the journal
  std::vector<v1::JobResult> results = WaitForResults(2);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].ca_request_id(), results[1].ca_request_id());
  EXPECT_EQ(ca_->submit_count(), 1);
}

// The key-encryption key of pending keys is protected at rest like agent.key (Windows:
// DPAPI); one written in plain by an older agent still opens the keys it encrypted.
TEST_F(JobExecutorTest, PendingKeyEncryptionKeyIsProtectedAtRestAndAPlainOneStillWorks) {
  const std::string dir = root_ + "/other-pending-keys";
  const std::string kek_path = dir + "/key-encryption-key";
  const std::string plain_kek(64, 'a');
  ASSERT_TRUE(CreatePrivateDirectories(dir).ok());
  ASSERT_TRUE(WriteFileAtomically(kek_path, plain_kek, FileAccess::kOwnerOnly).ok());
  absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  ASSERT_TRUE(key.ok()) << key.status();
  {
    auto store = PendingKeyStore::Open(dir);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Save("req", *key, "-----BEGIN CERTIFICATE-----\n", "n").ok());
  }
  absl::StatusOr<std::string> raw = ReadWholeFile(kek_path);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->find(plain_kek) == std::string::npos, SecretProtectionEncrypts()) << *raw;
  EXPECT_TRUE(test_support::HasAccess(kek_path, FileAccess::kOwnerOnly));
  auto reopened = PendingKeyStore::Open(dir);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  absl::StatusOr<PendingKey> loaded = (*reopened)->Load("req");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->key.PublicKeyPem(), key->PublicKeyPem());
  // The pending key file itself is encrypted PKCS#8 under that key, whatever the platform.
  absl::StatusOr<std::string> file = ReadWholeFile(dir + "/" + pki::Sha256Hex("req") + ".pem");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE(absl::StrContains(*file, "BEGIN ENCRYPTED PRIVATE KEY"));
}

TEST_F(JobExecutorTest, JournalFilesArePrivate) {
  EXPECT_TRUE(test_support::HasAccess(root_ + "/journal", FileAccess::kOwnerOnly));
  EXPECT_TRUE(
      test_support::HasAccess(root_ + "/pending-keys/key-encryption-key", FileAccess::kOwnerOnly));
  EXPECT_EQ(journal_->RecordFinished(v1::JobResult()).code(), absl::StatusCode::kFailedPrecondition);
}

// The agent's own policy: a refused job never reaches the CA, and the broker hears a
// stable code (recorded as AGENT_<code>), the refused value and the remedy.

TEST_F(JobExecutorTest, SubmitToACaNotAllowedIsRefusedWithoutCallingTheCa) {
  policy_options_.allowed_ca_configs = {"adcs02\\Other CA"};
  OpenExecutor();
  v1::JobResult r = executor_->Execute(SubmitJob(1, "WebServer"), /*lookup_first=*/true);
  EXPECT_FALSE(r.ca_answered());
  EXPECT_EQ(r.error_code(), "POLICY_CA_NOT_ALLOWED");
  EXPECT_TRUE(absl::StrContains(r.error_message(), "\"adcs01\\Fake CA\"")) << r.error_message();
  EXPECT_TRUE(absl::StrContains(r.hint(), "--allowed-ca='adcs01\\Fake CA'")) << r.hint();
  EXPECT_EQ(ca_->submit_count(), 0);
  EXPECT_FALSE(ca_->FindRequestByAttribute({.attribute_name = kRequestIdAttribute,
                                            .attribute_value = kRequest}).ok());
  // Journaled like any result: a reconnect sends the same refusal.
  auto entry = journal_->Get(1);
  ASSERT_TRUE(entry.ok() && entry->has_value() && (*entry)->result.has_value());
  EXPECT_EQ((*entry)->result->error_code(), "POLICY_CA_NOT_ALLOWED");

  // Allowed (ignoring case): it runs.
  policy_options_.allowed_ca_configs = {"ADCS01\\fake ca"};
  OpenExecutor();
  r = executor_->Execute(SubmitJob(2, "WebServer"), false);
  ASSERT_TRUE(r.ca_answered()) << r.error_code() << " " << r.error_message();
  EXPECT_EQ(ca_->submit_count(), 1);
}

TEST_F(JobExecutorTest, TemplateNotAllowedIsRefusedWithoutCallingTheCa) {
  policy_options_.allowed_templates = {"WebServer"};
  OpenExecutor();
  MakeDeliveryKey();
  v1::JobResult r = executor_->Execute(SubmitJob(1, "PendAll"), false);
  EXPECT_FALSE(r.ca_answered());
  EXPECT_EQ(r.error_code(), "POLICY_TEMPLATE_NOT_ALLOWED");
  EXPECT_TRUE(absl::StrContains(r.error_message(), "\"PendAll\"")) << r.error_message();
  EXPECT_TRUE(absl::StrContains(r.hint(), "--allowed-template=PendAll")) << r.hint();
  // Key generation too: no key is generated or kept, nothing pinned.
  r = executor_->Execute(KeygenJob(2, "PendAll"), false);
  EXPECT_EQ(r.error_code(), "POLICY_TEMPLATE_NOT_ALLOWED");
  EXPECT_EQ(keys_->Load(kRequest).status().code(), absl::StatusCode::kNotFound);
  auto pin = policy_state_->PinnedDeliveryCertificate();
  ASSERT_TRUE(pin.ok());
  EXPECT_FALSE(pin->has_value());
  // A second CertificateTemplate line does not slip past.
  v1::Job smuggled = SubmitJob(3, "WebServer");
  smuggled.set_attributes("CertificateTemplate:WebServer\nCertificateTemplate:PendAll");
  r = executor_->Execute(smuggled, false);
  EXPECT_EQ(r.error_code(), "POLICY_TEMPLATE_NOT_ALLOWED");
  EXPECT_EQ(ca_->submit_count(), 0);

  r = executor_->Execute(SubmitJob(4, "WebServer"), false);
  ASSERT_TRUE(r.ca_answered()) << r.error_message();
  EXPECT_EQ(r.disposition(), adcs::kDispositionIssued);
}

TEST_F(JobExecutorTest, RevokeOfACertificateNotIssuedHereIsRefusedWithoutCallingTheCa) {
  // Issued at the CA, not through this agent.
  auto foreign = ca_->Submit({.csr_pem = Csr(), .attributes = "CertificateTemplate:WebServer"});
  ASSERT_TRUE(foreign.ok()) << foreign.status();
  auto cert = pki::ParseCertificate(foreign->certificate_pem);
  ASSERT_TRUE(cert.ok());
  v1::Job revoke = RevokeJob(1, cert->serial_hex);
  v1::JobResult r = executor_->Execute(revoke, false);
  EXPECT_FALSE(r.ca_answered());
  EXPECT_EQ(r.error_code(), "POLICY_REVOKE_NOT_ISSUED_HERE");
  EXPECT_TRUE(absl::StrContains(r.error_message(), cert->serial_hex)) << r.error_message();
  EXPECT_TRUE(absl::StrContains(r.error_message(), "--allow-revoke-any")) << r.error_message();
  EXPECT_TRUE(ca_->revoked().empty());

  // Issued through this agent: remembered, so revocable (serial in another spelling).
  v1::JobResult issued = executor_->Execute(SubmitJob(2, "WebServer"), false);
  auto own = pki::ParseCertificate(issued.certificate_pem());
  ASSERT_TRUE(own.ok());
  revoke.set_job_id(3);
  revoke.set_serial_number(absl::AsciiStrToLower(own->serial_hex));
  r = executor_->Execute(revoke, false);
  ASSERT_TRUE(r.ca_answered()) << r.error_code() << " " << r.error_message();
  EXPECT_EQ(r.revoke_hresult(), 0u);
  EXPECT_EQ(ca_->revoked().size(), 1u);

  // --allow-revoke-any: the foreign one too.
  policy_options_.allow_revoke_any = true;
  OpenExecutor();
  revoke.set_job_id(4);
  revoke.set_serial_number(cert->serial_hex);
  r = executor_->Execute(revoke, false);
  ASSERT_TRUE(r.ca_answered()) << r.error_code() << " " << r.error_message();
  EXPECT_EQ(ca_->revoked().at(cert->serial_hex), 1);
}

// The issued serial is appended to policy/issued.log without a sync of its own: the
// journal's FINISHED record carries the certificate until that log is synced. A crash that
// loses the unsynced append (emulated by cutting the record off the closed log) must not
// lose the serial: the journal hands it back when the agent starts again.
TEST_F(JobExecutorTest, AnIssuedSerialLostFromTheIssuedLogComesBackFromTheJournal) {
  v1::JobResult issued = executor_->Execute(SubmitJob(2, "WebServer"), false);
  ASSERT_TRUE(issued.ca_answered()) << issued.error_message();
  auto own = pki::ParseCertificate(issued.certificate_pem());
  ASSERT_TRUE(own.ok());
  auto known = policy_state_->WasIssuedHere(own->serial_hex);
  ASSERT_TRUE(known.ok()) << known.status();
  EXPECT_TRUE(*known);

  const std::string issued_log = policy_state_->IssuedLogPath();
  executor_.reset();
  journal_.reset();
  policy_state_.reset();
  ASSERT_FALSE(ReadFile(issued_log).empty());
  WriteFile(issued_log, "");  // the append never reached the disk
  OpenExecutor();
  // Back in the log (and synced, before the journal was rewritten), not only in memory.
  EXPECT_TRUE(absl::StrContains(ReadFile(issued_log), own->serial_hex));

  // Acknowledged and the journal rewritten: the serial stays with the issued-serial log.
  executor_->Acknowledge(2);
  OpenExecutor();
  auto entry = journal_->Get(2);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_FALSE(entry->has_value());
  v1::JobResult r = executor_->Execute(RevokeJob(3, own->serial_hex), false);
  ASSERT_TRUE(r.ca_answered()) << r.error_code() << " " << r.error_message();
  EXPECT_EQ(ca_->revoked().size(), 1u);
  // Replayed serials are not appended twice.
  const std::string log = ReadFile(issued_log);
  EXPECT_EQ(log.find(own->serial_hex), log.rfind(own->serial_hex));
}

TEST_F(JobExecutorTest, RevokeAtACaNotAllowedIsRefused) {
  policy_options_.allowed_ca_configs = {"adcs02\\Other CA"};
  policy_options_.allow_revoke_any = true;
  OpenExecutor();
  v1::Job revoke;
  revoke.set_job_id(1);
  revoke.set_kind(v1::Job::KIND_REVOKE);
  revoke.set_request_name(kRequest);
  revoke.set_ca_config("adcs01\\Fake CA");
  revoke.set_serial_number("3A0F");
  v1::JobResult r = executor_->Execute(revoke, false);
  EXPECT_EQ(r.error_code(), "POLICY_CA_NOT_ALLOWED");
  EXPECT_TRUE(ca_->revoked().empty());
}

TEST_F(JobExecutorTest, DeliveryCertificateIsPinnedAtFirstUseAndAChangeNeedsLocalConsent) {
  MakeDeliveryKey();
  const std::string first_pem = delivery_cert_pem_;
  v1::JobResult r = executor_->Execute(KeygenJob(1, "WebServer"), false);
  ASSERT_TRUE(r.ca_answered()) << r.error_code() << " " << r.error_message();
  EXPECT_FALSE(r.pkcs12().empty());
  auto first = DeliveryCertificateFingerprint(first_pem);
  ASSERT_TRUE(first.ok());
  auto pin = policy_state_->PinnedDeliveryCertificate();
  ASSERT_TRUE(pin.ok() && pin->has_value());
  EXPECT_EQ(**pin, *first);
  EXPECT_EQ(ca_->submit_count(), 1);

  // The broker now sends another delivery certificate: refused before key or CA.
  MakeDeliveryKey();
  auto second = DeliveryCertificateFingerprint(delivery_cert_pem_);
  ASSERT_TRUE(second.ok());
  v1::Job changed = KeygenJob(2, "WebServer");
  changed.set_request_name("tenants/t1/certificateRequests/r2");
  r = executor_->Execute(changed, false);
  EXPECT_FALSE(r.ca_answered());
  EXPECT_EQ(r.error_code(), "POLICY_DELIVERY_CERTIFICATE_CHANGED");
  EXPECT_TRUE(absl::StrContains(r.error_message(), FormatSha256Fingerprint(*first)));
  EXPECT_TRUE(absl::StrContains(r.error_message(), FormatSha256Fingerprint(*second)));
  EXPECT_TRUE(absl::StrContains(r.hint(), "trust-delivery-certificate --sha256 " + *second))
      << r.hint();
  EXPECT_EQ(ca_->submit_count(), 1);
  EXPECT_EQ(keys_->Load(changed.request_name()).status().code(), absl::StatusCode::kNotFound);
  pin = policy_state_->PinnedDeliveryCertificate();
  ASSERT_TRUE(pin.ok() && pin->has_value());
  EXPECT_EQ(**pin, *first) << "a job never moves the pin";

  // The admin consents locally (what trust-delivery-certificate does): the next job runs.
  ASSERT_TRUE(policy_state_->PinDeliveryCertificate(*second).ok());
  changed.set_job_id(3);
  r = executor_->Execute(changed, false);
  ASSERT_TRUE(r.ca_answered()) << r.error_code() << " " << r.error_message();
  EXPECT_EQ(r.disposition(), adcs::kDispositionIssued);
  EXPECT_EQ(ca_->submit_count(), 2);
}

TEST_F(JobExecutorTest, RefusalIsSentThroughTheSinkLikeAnyResult) {
  policy_options_.allowed_ca_configs = {"adcs02\\Other CA"};
  OpenExecutor();
  executor_->Dispatch(SubmitJob(5, "WebServer"));
  std::vector<v1::JobResult> results = WaitForResults(1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].job_id(), 5);
  EXPECT_EQ(results[0].error_code(), "POLICY_CA_NOT_ALLOWED");
  EXPECT_EQ(ca_->submit_count(), 0);
}

TEST_F(JobExecutorTest, PolicyStateIsRequired) {
  auto executor = JobExecutor::Create(
      {.journal = journal_.get(), .keys = keys_.get(), .backends = source_.get()});
  EXPECT_EQ(executor.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace certbridge::agent
