#include "agent/jobs/job_journal.h"

#include <filesystem>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/client/state_dir.h"
#include "common/status_macros.h"

namespace certbridge::agent {

namespace v1 = ::certbridge::v1;
namespace {

constexpr absl::string_view kJobSuffix = ".job";
constexpr absl::string_view kResultSuffix = ".result";

template <typename Message>
absl::StatusOr<std::optional<Message>> ReadMessage(const std::string& path) {
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

absl::StatusOr<std::unique_ptr<JobJournal>> JobJournal::Open(std::string dir) {
  RETURN_IF_ERROR(CreatePrivateDirectories(dir));
  RETURN_IF_ERROR(CheckPrivateDirectory(dir, "journal"));
  return std::unique_ptr<JobJournal>(new JobJournal(std::move(dir)));
}

std::string JobJournal::JobPath(int64_t job_id) const {
  return absl::StrCat(dir_, "/", job_id, kJobSuffix);
}

std::string JobJournal::ResultPath(int64_t job_id) const {
  return absl::StrCat(dir_, "/", job_id, kResultSuffix);
}

absl::Status JobJournal::RecordStarted(const v1::Job& job) {
  if (job.job_id() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("journal: job id ", job.job_id(), " is invalid"));
  }
  absl::MutexLock lock(&mu_);
  // The result goes first: a crash in between leaves "started", never a stale result.
  RETURN_IF_ERROR(RemoveFileIfExists(ResultPath(job.job_id())));
  return WriteFileAtomically(JobPath(job.job_id()), job.SerializeAsString(),
                             FileAccess::kOwnerOnly);
}

absl::Status JobJournal::RecordFinished(const v1::JobResult& result) {
  absl::MutexLock lock(&mu_);
  if (!PathExists(JobPath(result.job_id()))) {
    return absl::FailedPreconditionError(
        absl::StrCat("journal: job ", result.job_id(), " finished but was never started"));
  }
  return WriteFileAtomically(ResultPath(result.job_id()), result.SerializeAsString(),
                             FileAccess::kOwnerOnly);
}

absl::Status JobJournal::Remove(int64_t job_id) {
  absl::MutexLock lock(&mu_);
  // The job file last: a crash in between leaves the result, which is then sent again
  // (the broker acknowledges duplicates), never a "started" job that would be redone.
  RETURN_IF_ERROR(RemoveFileIfExists(ResultPath(job_id)));
  return RemoveFileIfExists(JobPath(job_id));
}

absl::StatusOr<std::optional<JournalEntry>> JobJournal::GetLocked(int64_t job_id) const {
  ASSIGN_OR_RETURN(std::optional<v1::Job> job, ReadMessage<v1::Job>(JobPath(job_id)));
  ASSIGN_OR_RETURN(std::optional<v1::JobResult> result,
                   ReadMessage<v1::JobResult>(ResultPath(job_id)));
  if (!job.has_value()) {
    if (result.has_value()) {
      // Left by a crash inside Remove(): the job was acknowledged.
      RETURN_IF_ERROR(RemoveFileIfExists(ResultPath(job_id)));
    }
    return std::optional<JournalEntry>();
  }
  return std::optional<JournalEntry>(JournalEntry{std::move(*job), std::move(result)});
}

absl::StatusOr<std::optional<JournalEntry>> JobJournal::Get(int64_t job_id) const {
  absl::ReaderMutexLock lock(&mu_);
  return GetLocked(job_id);
}

absl::StatusOr<std::vector<JournalEntry>> JobJournal::List() const {
  absl::ReaderMutexLock lock(&mu_);
  std::error_code ec;
  std::map<int64_t, bool> ids;
  for (const auto& file : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = file.path().filename().string();
    for (absl::string_view suffix : {kJobSuffix, kResultSuffix}) {
      int64_t id = 0;
      if (absl::EndsWith(name, suffix) &&
          absl::SimpleAtoi(absl::string_view(name).substr(0, name.size() - suffix.size()), &id)) {
        ids[id] = true;
      }
    }
  }
  if (ec) {
    return absl::InternalError(absl::StrCat("list journal \"", dir_, "\": ", ec.message()));
  }
  std::vector<JournalEntry> out;
  for (const auto& [id, unused] : ids) {
    ASSIGN_OR_RETURN(std::optional<JournalEntry> entry, GetLocked(id));
    if (entry.has_value()) out.push_back(std::move(*entry));
  }
  return out;
}

}  // namespace certbridge::agent
