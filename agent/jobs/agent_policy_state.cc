#include "agent/jobs/agent_policy_state.h"

#include <filesystem>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/jobs/agent_policy.h"
#include "agent/jobs/record_log.h"
#include "agent/platform/durable_files.h"
#include "common/adcs/serial_number.h"
#include "common/log.h"
#include "common/pki/delivery.h"

namespace certbridge::agent {

namespace {

constexpr char kIssuedLogName[] = "issued.log";
constexpr uint8_t kIssuedRecord = 1;
// A serial is at most a few dozen hex digits; the rest of a record is the request name.
constexpr uint32_t kMaxIssuedRecordBytes = 4096;

}  // namespace

absl::StatusOr<std::unique_ptr<AgentPolicyState>> AgentPolicyState::Open(std::string dir) {
  if (absl::Status s = CreatePrivateDirectories(dir + "/issued"); !s.ok()) return s;
  if (absl::Status s = CheckPrivateDirectory(dir, "agent policy dir"); !s.ok()) return s;
  return std::unique_ptr<AgentPolicyState>(new AgentPolicyState(std::move(dir)));
}

std::string AgentPolicyState::IssuedLogPath() const {
  return absl::StrCat(dir_, "/", kIssuedLogName);
}

absl::Status AgentPolicyState::LoadIssuedLocked() const {
  if (loaded_) return absl::OkStatus();
  absl::StatusOr<std::string> log = ReadWholeFile(IssuedLogPath());
  if (!log.ok() && !absl::IsNotFound(log.status())) return log.status();
  const absl::string_view contents = log.ok() ? absl::string_view(*log) : absl::string_view();
  const record_log::ParsedLog parsed = record_log::ParseRecords(contents, kMaxIssuedRecordBytes);
  for (const record_log::Record& record : parsed.records) {
    const size_t newline = record.payload.find('\n');
    if (record.type != kIssuedRecord || newline == absl::string_view::npos) {
      return absl::DataLossError(absl::StrCat("issued-serial log \"", IssuedLogPath(),
                                              "\": a record does not parse; move the file "
                                              "away to continue"));
    }
    issued_.insert(std::string(record.payload.substr(0, newline)));
  }
  // Older agents' records, one file each, named by the normalized serial.
  std::error_code ec;
  for (const auto& file : std::filesystem::directory_iterator(dir_ + "/issued", ec)) {
    absl::StatusOr<std::string> serial =
        adcs::NormalizeSerialNumber(file.path().filename().string());
    if (serial.ok()) issued_.insert(*std::move(serial));
  }
  if (ec) {
    return absl::InternalError(
        absl::StrCat("list \"", dir_, "/issued\": ", ec.message()));
  }
  if (parsed.valid_bytes != contents.size()) {
    LogWarning("policy.issued_log_tail_dropped",
               {{"file", IssuedLogPath()},
                {"bytes", absl::StrCat(contents.size() - parsed.valid_bytes)}});
    needs_rewrite_ = true;
  }
  // Nothing is written here: the file is opened (and a torn tail cut off) by the first
  // RecordIssued, so that reading takes no write access.
  loaded_ = true;
  return absl::OkStatus();
}

absl::Status AgentPolicyState::RewriteLogLocked() const {
  commit_.AwaitNoSync(mu_);  // the sync under way (if any) holds a pointer to the file
  log_.reset();  // closed first: Windows cannot replace a file that is open
  absl::StatusOr<std::string> log = ReadWholeFile(IssuedLogPath());
  if (!log.ok() && !absl::IsNotFound(log.status())) return log.status();
  const absl::string_view contents = log.ok() ? absl::string_view(*log) : absl::string_view();
  const size_t valid = record_log::ParseRecords(contents, kMaxIssuedRecordBytes).valid_bytes;
  if (absl::Status s = WriteFileAtomically(IssuedLogPath(), contents.substr(0, valid),
                                           FileAccess::kOwnerOnly);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::unique_ptr<AppendOnlyFile>> file = AppendOnlyFile::Open(IssuedLogPath());
  if (!file.ok()) return file.status();
  log_ = *std::move(file);
  commit_.AllSynced();  // every record that checks is in the file just written
  needs_rewrite_ = false;
  return absl::OkStatus();
}

absl::Status AgentPolicyState::SyncThroughLocked(uint64_t seq) {
  // The rewrite keeps only records that check: a record whose append failed is not in it,
  // and RecordIssued reports that failure itself.
  return commit_.SyncThrough(mu_, seq, log_, needs_rewrite_,
                             [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return RewriteLogLocked(); });
}

absl::StatusOr<uint64_t> AgentPolicyState::AppendLocked(const std::string& normalized,
                                                        absl::string_view request_name) {
  std::string payload = absl::StrCat(normalized, "\n", request_name);
  if (payload.size() >= kMaxIssuedRecordBytes) {
    if (normalized.size() + 1 >= kMaxIssuedRecordBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("serial number of ", normalized.size(), " digits is too long"));
    }
    payload.resize(kMaxIssuedRecordBytes - 1);  // 1 + payload fits the body bound
  }
  if (absl::Status s = LoadIssuedLocked(); !s.ok()) return s;
  if (needs_rewrite_) {
    if (absl::Status s = RewriteLogLocked(); !s.ok()) return s;
  } else if (log_ == nullptr) {
    absl::StatusOr<std::unique_ptr<AppendOnlyFile>> file = AppendOnlyFile::Open(IssuedLogPath());
    if (!file.ok()) return file.status();
    log_ = *std::move(file);
  }
  if (absl::Status s = log_->Append(record_log::Frame(kIssuedRecord, payload)); !s.ok()) {
    needs_rewrite_ = true;
    return s;
  }
  return commit_.Appended();
}

absl::Status AgentPolicyState::RecordIssued(absl::string_view serial,
                                            absl::string_view request_name) {
  absl::StatusOr<std::string> normalized = adcs::NormalizeSerialNumber(serial);
  if (!normalized.ok()) return normalized.status();
  absl::MutexLock lock(&mu_);
  absl::StatusOr<uint64_t> seq = AppendLocked(*normalized, request_name);
  if (!seq.ok()) return seq.status();
  if (absl::Status s = SyncThroughLocked(*seq); !s.ok()) return s;
  issued_.insert(*std::move(normalized));
  return absl::OkStatus();
}

absl::Status AgentPolicyState::AppendIssued(absl::string_view serial,
                                            absl::string_view request_name) {
  absl::StatusOr<std::string> normalized = adcs::NormalizeSerialNumber(serial);
  if (!normalized.ok()) return normalized.status();
  absl::MutexLock lock(&mu_);
  if (absl::Status s = LoadIssuedLocked(); !s.ok()) return s;
  if (issued_.count(*normalized) > 0) return absl::OkStatus();
  absl::StatusOr<uint64_t> seq = AppendLocked(*normalized, request_name);
  if (!seq.ok()) return seq.status();
  issued_.insert(*std::move(normalized));
  return absl::OkStatus();
}

absl::Status AgentPolicyState::SyncIssued() {
  absl::MutexLock lock(&mu_);
  return SyncThroughLocked(commit_.LastAppended());
}

absl::StatusOr<bool> AgentPolicyState::WasIssuedHere(absl::string_view serial) const {
  absl::StatusOr<std::string> normalized = adcs::NormalizeSerialNumber(serial);
  if (!normalized.ok()) return normalized.status();
  absl::MutexLock lock(&mu_);
  if (absl::Status s = LoadIssuedLocked(); !s.ok()) return s;
  return issued_.count(*normalized) > 0;
}

std::string AgentPolicyState::PinPath() const {
  return absl::StrCat(dir_, "/delivery-certificate.sha256");
}

absl::StatusOr<std::optional<std::string>> AgentPolicyState::PinnedDeliveryCertificate() const {
  absl::StatusOr<std::string> text = ReadWholeFile(PinPath());
  if (absl::IsNotFound(text.status())) return std::optional<std::string>();
  if (!text.ok()) return text.status();
  absl::StatusOr<std::string> pin =
      NormalizeSha256Fingerprint(absl::StripAsciiWhitespace(*text));
  if (!pin.ok()) {
    return absl::DataLossError(absl::StrCat(PinPath(), ": ", pin.status().message(),
                                            "; pin the fingerprint again with certbridge-agent "
                                            "trust-delivery-certificate"));
  }
  return std::optional<std::string>(*std::move(pin));
}

absl::Status AgentPolicyState::PinDeliveryCertificate(absl::string_view sha256) {
  absl::StatusOr<std::string> pin = NormalizeSha256Fingerprint(sha256);
  if (!pin.ok()) return pin.status();
  return WriteFileAtomically(PinPath(), absl::StrCat(*pin, "\n"), FileAccess::kOwnerOnly);
}

absl::StatusOr<std::optional<std::string>> AgentPolicyState::PinAtRegistration(
    absl::string_view sha256, absl::string_view certificate_pem) {
  if (sha256.empty() && certificate_pem.empty()) {
    if (absl::Status s = RemoveFileIfExists(PinPath()); !s.ok()) return s;
    return std::optional<std::string>();
  }
  absl::StatusOr<std::string> announced = NormalizeSha256Fingerprint(sha256);
  if (!announced.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the broker's approval carries a delivery certificate fingerprint that does not "
        "parse: ",
        announced.status().message()));
  }
  absl::StatusOr<std::string> actual = pki::DeliveryCertificateSha256(certificate_pem);
  if (!actual.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("the broker's approval carries a ",
                                                   actual.status().message()));
  }
  if (*actual != *announced) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the broker's approval names delivery certificate SHA-256 ",
        FormatSha256Fingerprint(*announced), " but carries a certificate with SHA-256 ",
        FormatSha256Fingerprint(*actual), "; nothing was pinned"));
  }
  if (absl::Status s = PinDeliveryCertificate(*actual); !s.ok()) return s;
  return std::optional<std::string>(*std::move(actual));
}

absl::StatusOr<std::string> DeliveryCertificateFingerprint(absl::string_view pem) {
  absl::StatusOr<std::string> sha256 = pki::DeliveryCertificateSha256(pem);
  if (!sha256.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the job's ", sha256.status().message()));
  }
  return sha256;
}

}  // namespace certbridge::agent
