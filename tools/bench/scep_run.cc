#include "tools/bench/scep_run.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "certbridge/v1/scep.grpc.pb.h"
#include "common/pki/pki.h"
#include "common/pki/scep_message.h"
#include "tools/bench/scep_http_client.h"

namespace certbridge::bench {
namespace {

using testing::BrokerProcess;
using testing::CallContext;
using testing::EmulatorProcessHandle;
using testing::ReadFileOrEmpty;
using testing::TestStack;

constexpr int kMaxErrorsKept = 5;
// A PKCSReq waits --scep_enrollment_wait (5 s) for the CA at most; the rest is transport.
constexpr absl::Duration kPostTimeout = absl::Seconds(30);

// One device: its key and the self-signed certificate it signs its PKCSReq with, made
// before the clock starts.
struct Device {
  std::string subject;
  std::string key_pem;
  std::string signer_pem;
};

// `count` devices with subjects CN=<prefix>-<i>, on `threads` threads; devices share
// `distinct_keys` RSA-2048 keys round robin (0: a key each). Also returns how long the keys
// took.
absl::StatusOr<std::vector<Device>> MakeDevices(int count, int distinct_keys,
                                                const std::string& prefix, int threads,
                                                absl::Duration& took) {
  const int keys = distinct_keys > 0 ? std::min(distinct_keys, count) : count;
  std::vector<std::string> key_pems(keys);
  std::vector<Device> devices(count);
  absl::Mutex mu;
  absl::Status first_error;
  auto fail = [&](const absl::Status& status) {
    absl::MutexLock lock(&mu);
    first_error.Update(status);
    return false;
  };
  took = RunClosedLoop(keys, threads, [&](int i) {
    absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::Generate(pki::KeyType::kRsa2048);
    if (!key.ok()) return fail(key.status());
    key_pems[i] = key->ToPem();
    return true;
  }).wall;
  RunClosedLoop(first_error.ok() ? count : 0, threads, [&](int i) {
    Device& device = devices[i];
    device.subject = absl::StrCat("CN=", prefix, "-", i);
    device.key_pem = key_pems[i % keys];
    absl::StatusOr<std::string> signer =
        pki::SelfSignedScepSignerPem(device.key_pem, device.subject);
    if (!signer.ok()) return fail(signer.status());
    device.signer_pem = *std::move(signer);
    return true;
  });
  if (!first_error.ok()) return first_error;
  return devices;
}

// What every enrollment of the run shares.
struct ScepTarget {
  v1::ScepService::Stub* scep = nullptr;
  std::string api_key;
  std::string profile_id;
  std::string url;  // .../pkiclient.exe
  std::string ra_certificate_pem;
  std::string ca_certificate_pem;  // the emulator's CA, to verify what is issued
};

// Serials and errors of the run. Thread-safe.
class ScepLedger {
 public:
  void RecordError(std::string error) {
    absl::MutexLock lock(&mu_);
    if (errors_.size() < kMaxErrorsKept) errors_.push_back(std::move(error));
  }
  // False when the serial was issued before in this run.
  bool RecordSerial(const std::string& serial) {
    absl::MutexLock lock(&mu_);
    if (serials_.insert(serial).second) return true;
    ++duplicates_;
    return false;
  }
  void RecordPost(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    posts_.push_back(d);
  }
  std::vector<absl::Duration> TakePosts() {
    absl::MutexLock lock(&mu_);
    return std::exchange(posts_, {});
  }
  int duplicates() const {
    absl::MutexLock lock(&mu_);
    return duplicates_;
  }
  std::vector<std::string> errors() const {
    absl::MutexLock lock(&mu_);
    return errors_;
  }

 private:
  mutable absl::Mutex mu_;
  std::set<std::string> serials_ ABSL_GUARDED_BY(mu_);
  int duplicates_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<absl::Duration> posts_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> errors_ ABSL_GUARDED_BY(mu_);
};

// One enrollment as the MDM and the device make it; OK when a checked certificate came back.
absl::Status Enroll(const ScepTarget& target, const Device& device,
                    const std::string& transaction_id, ScepLedger& ledger) {
  v1::CreateScepChallengeRequest ask;
  ask.set_profile_id(target.profile_id);
  ask.set_device_id(transaction_id);
  ask.set_subject(device.subject);
  v1::ScepChallenge challenge;
  grpc::Status s = target.scep->CreateScepChallenge(CallContext(target.api_key).get(), ask, &challenge);
  if (!s.ok()) return absl::InternalError("CreateScepChallenge: " + s.error_message());
  absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::FromPem(device.key_pem);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> csr = pki::CreateCsrPem(
      *key, {.subject = device.subject, .sans = {}, .challenge_password = challenge.challenge()});
  if (!csr.ok()) return csr.status();
  pki::ScepClientRequestParams params;
  params.transaction_id = transaction_id;
  params.csr = *std::move(csr);
  params.signer_certificate_pem = device.signer_pem;
  params.signer_private_key_pem = device.key_pem;
  params.recipient_certificate_pem = target.ra_certificate_pem;
  absl::StatusOr<std::string> message = pki::BuildScepClientRequest(params);
  if (!message.ok()) return message.status();
  const absl::Time posted = absl::Now();
  absl::StatusOr<std::string> answer = PostPkiOperation(target.url, *message, kPostTimeout);
  if (!answer.ok()) return answer.status();
  ledger.RecordPost(absl::Now() - posted);
  absl::StatusOr<pki::ScepCertRep> rep = pki::ReadScepCertRep(
      *answer, target.ra_certificate_pem, device.signer_pem, device.key_pem);
  if (!rep.ok()) return rep.status();
  if (rep->status != pki::ScepPkiStatus::kSuccess) {
    return absl::FailedPreconditionError(absl::StrCat(
        "CertRep pkiStatus ", static_cast<int>(rep->status),
        rep->status == pki::ScepPkiStatus::kFailure
            ? absl::StrCat(" failInfo ", static_cast<int>(rep->fail_info))
            : std::string()));
  }
  if (rep->transaction_id != transaction_id) {
    return absl::DataLossError("CertRep for transaction " + rep->transaction_id);
  }
  absl::StatusOr<pki::CertificateInfo> issued = pki::ParseCertificate(rep->issued_certificate_der);
  if (!issued.ok()) return issued.status();
  absl::StatusOr<pki::CertificateInfo> verified =
      pki::VerifyChain(issued->pem, target.ca_certificate_pem, absl::Now());
  if (!verified.ok()) return verified.status();
  if (!pki::KeyMatchesCertificate(*key, issued->pem)) {
    return absl::DataLossError("issued certificate is not for the device's key");
  }
  if (!ledger.RecordSerial(issued->serial_hex)) {
    return absl::DataLossError("serial " + issued->serial_hex + " issued twice");
  }
  return absl::OkStatus();
}

// Creates the profile and waits for its RA certificate, recording how long that took.
absl::StatusOr<v1::ScepProfile> CreateProfile(v1::ScepService::Stub& scep, const Tenant& tenant,
                                              const std::string& subject_pattern,
                                              absl::Duration& ra_wait) {
  v1::CreateScepProfileRequest create;
  create.set_display_name("certbridge-bench");
  create.set_ca_id(tenant.ca_id);
  create.set_template_name(kTemplate);
  create.set_ra_template_name("CertbridgeScepRa");  // agent/emulator/example-config.txtpb
  create.mutable_policy()->add_subject_patterns(subject_pattern);
  create.set_challenge_mode(v1::SCEP_CHALLENGE_MODE_DYNAMIC);
  v1::ScepProfile profile;
  const absl::Time start = absl::Now();
  grpc::Status s = scep.CreateScepProfile(CallContext(tenant.key).get(), create, &profile);
  if (!s.ok()) return absl::InternalError("CreateScepProfile: " + s.error_message());
  const bool issued = testing::WaitUntil(
      [&] {
        v1::GetScepProfileRequest get;
        get.set_profile_id(profile.profile_id());
        return scep.GetScepProfile(CallContext(tenant.key).get(), get, &profile).ok() &&
               !profile.ra_certificate_pem().empty();
      },
      absl::Seconds(60));
  if (!issued) {
    return absl::DeadlineExceededError(
        absl::StrCat("SCEP profile ", profile.profile_id(),
                     ": no RA certificate after 60 s; pending request ",
                     profile.ra_pending_request_name()));
  }
  ra_wait = absl::Now() - start;
  return profile;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ScepBrokerFlags(const TestStack& stack) {
  const std::string path = absl::StrCat(stack.dir(), "/bench-scep-ra.secret");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError("cannot create " + path);
  const std::string secret = pki::RandomToken(32);  // 43 characters, 256 bits
  const bool written = ::write(fd, secret.data(), secret.size()) ==
                       static_cast<ssize_t>(secret.size());
  ::close(fd);
  if (!written) return absl::InternalError("cannot write " + path);
  return std::vector<std::string>{"--scep_listen=127.0.0.1:0", "--scep_ra_secret_file=" + path,
                                   "--scep_ra_renewal_interval=1s"};
}

absl::Status MeasureScep(TestStack& stack, const BrokerProcess& broker,
                         const EmulatorProcessHandle& emulator, const Tenant& tenant,
                         const CostProcesses& processes, const ScepOptions& options,
                         ScepFigures& figures) {
  if (broker.scep_port == 0) {
    return absl::FailedPreconditionError("the broker has no SCEP listener (ScepBrokerFlags)");
  }
  InitScepHttpClient();
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadFileOrEmpty(stack.pki("tls-ca.pem"));
  std::unique_ptr<v1::ScepService::Stub> scep =
      v1::ScepService::NewStub(grpc::CreateChannel(broker.api_address(), grpc::SslCredentials(tls)));
  const std::string run = absl::StrCat(absl::ToUnixNanos(absl::Now()));
  const std::string prefix = absl::StrCat("bench-device-", run);

  // The devices' keys are made while the broker gets the RA certificate.
  const int total = options.warmup + options.requests + options.single_caller_requests;
  absl::StatusOr<v1::ScepProfile> profile;
  std::thread profile_thread(
      [&] { profile = CreateProfile(*scep, tenant, "CN=" + prefix + "-*", figures.ra_wait); });
  const int key_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  absl::Duration keys_took;
  absl::StatusOr<std::vector<Device>> made =
      MakeDevices(total, options.distinct_keys, prefix, key_threads, keys_took);
  profile_thread.join();
  if (!made.ok()) return made.status();
  if (!profile.ok()) return profile.status();
  const std::vector<Device>& devices = *made;
  figures.distinct_keys = options.distinct_keys > 0 ? std::min(options.distinct_keys, total) : total;
  std::fprintf(stderr, "  RA certificate in %.1f s; %d device keys in %.1f s\n",
               absl::ToDoubleSeconds(figures.ra_wait), figures.distinct_keys,
               absl::ToDoubleSeconds(keys_took));

  const ScepTarget target{
      .scep = scep.get(),
      .api_key = tenant.key,
      .profile_id = profile->profile_id(),
      .url = absl::StrCat("http://127.0.0.1:", broker.scep_port, profile->scep_path()),
      .ra_certificate_pem = profile->ra_certificate_pem(),
      .ca_certificate_pem = ReadFileOrEmpty(emulator.ca_cert_path())};
  ScepLedger ledger;
  auto enroll = [&](int device) {
    absl::Status s = Enroll(target, devices[device], absl::StrCat(prefix, "-", device), ledger);
    if (!s.ok()) ledger.RecordError(absl::StrCat("enrollment ", device, ": ", s.ToString()));
    return s.ok();
  };
  const LoadResult warm = RunClosedLoop(options.warmup, options.concurrency, enroll);
  (void)ledger.TakePosts();
  absl::StatusOr<CostSnapshot> before = TakeCostSnapshot(stack, processes);
  if (!before.ok()) return before.status();
  const int first = options.warmup;
  figures.enrollments = RunClosedLoop(options.requests, options.concurrency,
                                      [&](int i) { return enroll(first + i); });
  figures.post_latencies = ledger.TakePosts();
  absl::StatusOr<CostSnapshot> after = TakeCostSnapshot(stack, processes);
  if (!after.ok()) return after.status();
  figures.cost = PerCertificate(stack, *before, *after,
                                static_cast<int>(figures.enrollments.latencies.size()));
  figures.cost_measured = true;
  if (options.single_caller_requests > 0) {
    const int single_first = first + options.requests;
    figures.single = RunClosedLoop(options.single_caller_requests, 1,
                                   [&](int i) { return enroll(single_first + i); });
  }
  // A warm-up enrollment that failed fails the run too: every enrollment must succeed.
  figures.made = total;
  figures.failed = warm.failures + figures.enrollments.failures + figures.single.failures;
  figures.duplicate_serials = ledger.duplicates();
  figures.first_errors = ledger.errors();
  return absl::OkStatus();
}

}  // namespace certbridge::bench
