#include "agent/jobs/job_journal.h"

#include <algorithm>
#include <filesystem>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/jobs/record_log.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace certbridge::agent {

namespace v1 = ::certbridge::v1;
namespace {

using record_log::Frame;
using record_log::GetLittleEndian;
using record_log::kHeaderBytes;
using record_log::PutLittleEndian;

constexpr char kLogName[] = "jobs.log";
// Entries of agents before the log: one file per started job and one per result.
constexpr absl::string_view kLegacyJobSuffix = ".job";
constexpr absl::string_view kLegacyResultSuffix = ".result";
// A record larger than this is not one the journal wrote (a result with a PKCS#12 and its
// chain is a few KiB): the length is read before anything is allocated for the body.
constexpr uint32_t kMaxRecordBytes = 16u << 20;
// Compaction: the log is rewritten once it exceeds this and four times its live size.
constexpr uint64_t kCompactAfterBytes = 256u << 10;

std::string JobIdPayload(int64_t job_id) {
  std::string out;
  PutLittleEndian(out, static_cast<uint64_t>(job_id), 8);
  return out;
}

template <typename Message>
absl::StatusOr<std::optional<Message>> ReadLegacyMessage(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadWholeFile(path);
  if (absl::IsNotFound(bytes.status())) return std::optional<Message>();
  if (!bytes.ok()) return bytes.status();
  Message m;
  if (!m.ParseFromString(*bytes)) {
    return absl::DataLossError(absl::StrCat("journal file \"", path,
                                            "\" does not parse; move it away to continue"));
  }
  return std::optional<Message>(std::move(m));
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobJournal>> JobJournal::Open(std::string dir,
                                                              JobJournalOptions options) {
  RETURN_IF_ERROR(CreatePrivateDirectories(dir));
  RETURN_IF_ERROR(CheckPrivateDirectory(dir, "journal"));
  std::unique_ptr<JobJournal> journal(new JobJournal(std::move(dir), std::move(options)));
  RETURN_IF_ERROR(journal->Load());
  return journal;
}

std::string JobJournal::LogPath() const { return absl::StrCat(dir_, "/", kLogName); }

absl::Status JobJournal::Load() {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::string> log = ReadWholeFile(LogPath());
  if (!log.ok() && !absl::IsNotFound(log.status())) return log.status();
  const absl::string_view contents = log.ok() ? absl::string_view(*log) : absl::string_view();
  // A record that does not check is the tail of an append cut short by a crash
  // (record_log.h); so is one of a type this journal does not write.
  size_t valid = 0;
  for (const record_log::Record& record :
       record_log::ParseRecords(contents, kMaxRecordBytes).records) {
    if (record.type < 1 || record.type > 3) break;
    const RecordType type = static_cast<RecordType>(record.type);
    RETURN_IF_ERROR(ApplyLocked(type, std::string(record.payload)));
    valid = record.end;
    if (type == RecordType::kFinished && options_.on_replayed_result) {
      // Now, before a later REMOVED record erases the entry: the rewrite below drops it.
      v1::JobResult result;
      if (result.ParseFromString(std::string(record.payload))) {
        auto it = entries_.find(result.job_id());
        if (it != entries_.end()) RETURN_IF_ERROR(options_.on_replayed_result(it->second));
      }
    }
  }
  const absl::string_view rest = contents.substr(valid);
  if (!rest.empty()) {
    LogWarning("job.journal_tail_dropped",
               {{"file", LogPath()}, {"bytes", absl::StrCat(rest.size())}});
  }

  // Entries of an older agent, one file each; taken in unless the log knows the job.
  std::error_code ec;
  std::map<int64_t, bool> legacy;
  for (const auto& file : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = file.path().filename().string();
    for (absl::string_view suffix : {kLegacyJobSuffix, kLegacyResultSuffix}) {
      int64_t id = 0;
      if (absl::EndsWith(name, suffix) &&
          absl::SimpleAtoi(absl::string_view(name).substr(0, name.size() - suffix.size()), &id)) {
        legacy[id] = true;
      }
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("list journal \"", dir_, "\": ", ec.message()));
  for (const auto& [id, unused] : legacy) {
    if (entries_.count(id) > 0) continue;
    ASSIGN_OR_RETURN(std::optional<v1::Job> job,
                     ReadLegacyMessage<v1::Job>(absl::StrCat(dir_, "/", id, kLegacyJobSuffix)));
    ASSIGN_OR_RETURN(std::optional<v1::JobResult> result, ReadLegacyMessage<v1::JobResult>(
                                                              absl::StrCat(dir_, "/", id, kLegacyResultSuffix)));
    // A result without its job was left by a crash inside the old Remove: acknowledged.
    if (job.has_value()) entries_[id] = JournalEntry{std::move(*job), std::move(result)};
  }
  // One durable write of everything live (and nothing of a dropped tail) before the
  // legacy files go.
  RETURN_IF_ERROR(RewriteLocked());
  for (const auto& [id, unused] : legacy) {
    RETURN_IF_ERROR(RemoveFileIfExists(absl::StrCat(dir_, "/", id, kLegacyResultSuffix)));
    RETURN_IF_ERROR(RemoveFileIfExists(absl::StrCat(dir_, "/", id, kLegacyJobSuffix)));
  }
  return absl::OkStatus();
}

absl::Status JobJournal::ApplyLocked(RecordType type, const std::string& payload) {
  switch (type) {
    case RecordType::kStarted: {
      v1::Job job;
      if (!job.ParseFromString(payload) || job.job_id() <= 0) {
        return absl::DataLossError(absl::StrCat("journal \"", LogPath(),
                                                "\": a job record does not parse; move the "
                                                "file away to continue"));
      }
      const int64_t id = job.job_id();
      entries_[id] = JournalEntry{std::move(job), std::nullopt};
      return absl::OkStatus();
    }
    case RecordType::kFinished: {
      v1::JobResult result;
      if (!result.ParseFromString(payload)) {
        return absl::DataLossError(absl::StrCat("journal \"", LogPath(),
                                                "\": a result record does not parse; move the "
                                                "file away to continue"));
      }
      auto it = entries_.find(result.job_id());
      if (it != entries_.end()) it->second.result = std::move(result);
      return absl::OkStatus();
    }
    case RecordType::kRemoved:
      if (payload.size() != 8) {
        return absl::DataLossError(
            absl::StrCat("journal \"", LogPath(), "\": a removal record is malformed"));
      }
      entries_.erase(static_cast<int64_t>(GetLittleEndian(payload, 8)));
      return absl::OkStatus();
  }
  return absl::DataLossError(absl::StrCat("journal \"", LogPath(), "\": unknown record"));
}

absl::Status JobJournal::RewriteLocked() {
  // The sync under way (if any) holds a pointer to the current file.
  commit_.AwaitNoSync(mu_);
  if (options_.before_rewrite) RETURN_IF_ERROR(options_.before_rewrite());
  std::string contents;
  for (const auto& [id, entry] : entries_) {
    contents += Frame(static_cast<uint8_t>(RecordType::kStarted), entry.job.SerializeAsString());
    if (entry.result.has_value()) {
      contents +=
          Frame(static_cast<uint8_t>(RecordType::kFinished), entry.result->SerializeAsString());
    }
  }
  // Closed first: Windows cannot replace a file that is open without FILE_SHARE_DELETE
  // everywhere, and an append after this point must go to the new file.
  log_.reset();
  needs_rewrite_ = true;
  RETURN_IF_ERROR(WriteFileAtomically(LogPath(), contents, FileAccess::kOwnerOnly));
  ASSIGN_OR_RETURN(log_, AppendOnlyFile::Open(LogPath()));
  log_bytes_ = contents.size();
  commit_.AllSynced();  // everything live is in the file just written
  needs_rewrite_ = false;
  return absl::OkStatus();
}

void JobJournal::MaybeCompactLocked() {
  if (log_bytes_ <= kCompactAfterBytes) return;
  uint64_t live = 0;
  for (const auto& [id, entry] : entries_) {
    live += kHeaderBytes + 1 + entry.job.ByteSizeLong();
    if (entry.result.has_value()) live += kHeaderBytes + 1 + entry.result->ByteSizeLong();
  }
  if (log_bytes_ <= 4 * live) return;
  if (absl::Status s = RewriteLocked(); !s.ok()) {
    // The next record rewrites it again first (needs_rewrite_), or fails with the reason.
    LogWarning("job.journal_compaction_failed", {{"file", LogPath()}, {"error", s.ToString()}});
  }
}

absl::StatusOr<uint64_t> JobJournal::AppendLocked(RecordType type, const std::string& payload) {
  // Load would take a longer record for a torn tail and drop it with what follows.
  if (payload.size() >= kMaxRecordBytes) {
    return absl::InvalidArgumentError(absl::StrCat("journal: a record of ", payload.size(),
                                                   " bytes is over the limit of ",
                                                   kMaxRecordBytes - 1));
  }
  if (needs_rewrite_ || log_ == nullptr) RETURN_IF_ERROR(RewriteLocked());
  const std::string record = Frame(static_cast<uint8_t>(type), payload);
  if (absl::Status s = log_->Append(record); !s.ok()) {
    needs_rewrite_ = true;
    return s;
  }
  log_bytes_ += record.size();
  RETURN_IF_ERROR(ApplyLocked(type, payload));
  return commit_.Appended();
}

absl::Status JobJournal::SyncThroughLocked(uint64_t seq) {
  return commit_.SyncThrough(mu_, seq, log_, needs_rewrite_,
                             [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return RewriteLocked(); });
}

absl::Status JobJournal::RecordStarted(const v1::Job& job) {
  if (job.job_id() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("journal: job id ", job.job_id(), " is invalid"));
  }
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(uint64_t seq, AppendLocked(RecordType::kStarted, job.SerializeAsString()));
  return SyncThroughLocked(seq);
}

absl::Status JobJournal::RecordFinished(const v1::JobResult& result) {
  absl::MutexLock lock(&mu_);
  if (entries_.count(result.job_id()) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("journal: job ", result.job_id(), " finished but was never started"));
  }
  ASSIGN_OR_RETURN(uint64_t seq, AppendLocked(RecordType::kFinished, result.SerializeAsString()));
  return SyncThroughLocked(seq);
}

absl::Status JobJournal::Remove(int64_t job_id) {
  absl::MutexLock lock(&mu_);
  if (entries_.count(job_id) == 0) return absl::OkStatus();
  RETURN_IF_ERROR(AppendLocked(RecordType::kRemoved, JobIdPayload(job_id)).status());
  MaybeCompactLocked();
  return absl::OkStatus();
}

absl::StatusOr<std::optional<JournalEntry>> JobJournal::Get(int64_t job_id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = entries_.find(job_id);
  if (it == entries_.end()) return std::optional<JournalEntry>();
  return std::optional<JournalEntry>(it->second);
}

absl::StatusOr<std::vector<JournalEntry>> JobJournal::List() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<JournalEntry> out;
  out.reserve(entries_.size());
  for (const auto& [id, entry] : entries_) out.push_back(entry);
  return out;
}

}  // namespace certbridge::agent
