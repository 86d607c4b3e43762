#include "agent/jobs/job_journal.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

absl::Status RemoveFile(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(absl::StrCat("remove \"", path, "\": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

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
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::InternalError(
        absl::StrCat("create journal directory \"", dir, "\": ", std::strerror(errno)));
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("journal \"", dir, "\" is not a directory"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "journal \"", dir, "\" is accessible by other users: `chmod 700` it"));
  }
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
  RETURN_IF_ERROR(RemoveFile(ResultPath(job.job_id())));
  return WriteFileAtomically(JobPath(job.job_id()), job.SerializeAsString(), 0600);
}

absl::Status JobJournal::RecordFinished(const v1::JobResult& result) {
  absl::MutexLock lock(&mu_);
  if (access(JobPath(result.job_id()).c_str(), F_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("journal: job ", result.job_id(), " finished but was never started"));
  }
  return WriteFileAtomically(ResultPath(result.job_id()), result.SerializeAsString(), 0600);
}

absl::Status JobJournal::Remove(int64_t job_id) {
  absl::MutexLock lock(&mu_);
  // The job file last: a crash in between leaves the result, which is then sent again
  // (the broker acknowledges duplicates), never a "started" job that would be redone.
  RETURN_IF_ERROR(RemoveFile(ResultPath(job_id)));
  return RemoveFile(JobPath(job_id));
}

absl::StatusOr<std::optional<JournalEntry>> JobJournal::GetLocked(int64_t job_id) const {
  ASSIGN_OR_RETURN(std::optional<v1::Job> job, ReadMessage<v1::Job>(JobPath(job_id)));
  ASSIGN_OR_RETURN(std::optional<v1::JobResult> result,
                   ReadMessage<v1::JobResult>(ResultPath(job_id)));
  if (!job.has_value()) {
    if (result.has_value()) {
      // Left by a crash inside Remove(): the job was acknowledged.
      RETURN_IF_ERROR(RemoveFile(ResultPath(job_id)));
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
