#include "agent/emulator/state_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace certbridge::emulator {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat("state dir: ", what, " \"", path, "\": ",
                                          std::strerror(errno)));
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status FsyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open directory", dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return ErrnoError("fsync directory", dir);
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents, int mode) {
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoError("create", tmp);
  absl::Status s = WriteAll(fd, contents, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoError("fsync", tmp);
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = ErrnoError("rename to", path);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return FsyncDir(DirOf(path));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("\"", path, "\" does not exist"));
    return ErrnoError("open", path);
  }
  std::string out;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return ErrnoError("read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(const std::string& dir, bool sync) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError("mkdir", dir);
  const std::string state_path = dir + "/state.pb";
  const std::string log_path = dir + "/requests.log";

  adcsemu::v1::EmulatorState state;
  absl::StatusOr<std::string> snapshot = ReadFile(state_path);
  if (snapshot.ok()) {
    if (!state.ParseFromString(*snapshot)) {
      return absl::DataLossError(absl::StrCat("state dir: \"", state_path,
                                              "\" is not an EmulatorState; move it away to "
                                              "start with an empty CA database"));
    }
  } else if (!absl::IsNotFound(snapshot.status())) {
    return snapshot.status();
  }

  std::map<int64_t, adcsemu::v1::RequestRecord> requests;
  for (adcsemu::v1::RequestRecord& r : *state.mutable_requests()) {
    requests[r.request_id()] = std::move(r);
  }
  absl::StatusOr<std::string> log = ReadFile(log_path);
  if (log.ok()) {
    absl::string_view rest = *log;
    while (rest.size() >= 4) {
      const uint32_t len = static_cast<uint8_t>(rest[0]) | (static_cast<uint8_t>(rest[1]) << 8) |
                           (static_cast<uint8_t>(rest[2]) << 16) |
                           (static_cast<uint32_t>(static_cast<uint8_t>(rest[3])) << 24);
      if (rest.size() - 4 < len) break;  // torn tail
      adcsemu::v1::LogRecord record;
      if (!record.ParseFromArray(rest.data() + 4, static_cast<int>(len))) break;
      rest.remove_prefix(4 + len);
      if (record.has_request()) {
        requests[record.request().request_id()] = record.request();
      } else if (record.has_crl()) {
        state.set_crl_number(record.crl().crl_number());
        state.set_crl_pem(record.crl().crl_pem());
      }
    }
  } else if (!absl::IsNotFound(log.status())) {
    return log.status();
  }

  state.clear_requests();
  int64_t max_id = 0;
  for (auto& [id, r] : requests) {
    max_id = std::max(max_id, id);
    *state.add_requests() = std::move(r);
  }
  state.set_next_request_id(std::max<int64_t>(state.next_request_id(), max_id + 1));

  std::string bytes;
  state.SerializeToString(&bytes);
  RETURN_IF_ERROR(WriteFileAtomically(state_path, bytes, 0600));
  const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("open", log_path);
  return std::unique_ptr<StateStore>(new StateStore(fd, sync, std::move(state)));
}

StateStore::~StateStore() { ::close(log_fd_); }

absl::Status StateStore::Append(const adcsemu::v1::LogRecord& record) {
  absl::StatusOr<uint64_t> position = AppendDeferred(record);
  if (!position.ok()) return position.status();
  return SyncThrough(*position);
}

absl::StatusOr<uint64_t> StateStore::AppendDeferred(const adcsemu::v1::LogRecord& record) {
  RETURN_IF_ERROR(WriteRecord(record));
  return appended_.fetch_add(1) + 1;
}

absl::Status StateStore::SyncThrough(uint64_t position) {
  if (!sync_) return absl::OkStatus();
  absl::MutexLock lock(&sync_mu_);
  while (sync_error_.ok() && synced_ < position) {
    if (syncing_) {
      sync_mu_.Await(absl::Condition(
          +[](bool* syncing) { return !*syncing; }, &syncing_));
      continue;
    }
    // Lead one fdatasync for every record written so far, without the lock, so that
    // appends and other waiters go on meanwhile.
    syncing_ = true;
    const uint64_t covers = appended_.load();
    sync_mu_.Unlock();
    const int rc = ::fdatasync(log_fd_);
    const int saved_errno = errno;
    sync_mu_.Lock();
    syncing_ = false;
    if (rc != 0) {
      errno = saved_errno;
      sync_error_ = ErrnoError("fdatasync", "requests.log");
    } else {
      synced_ = std::max(synced_, covers);
    }
  }
  return sync_error_;
}

absl::Status StateStore::WriteRecord(const adcsemu::v1::LogRecord& record) {
  std::string bytes;
  record.SerializeToString(&bytes);
  const uint32_t len = static_cast<uint32_t>(bytes.size());
  std::string framed;
  framed.reserve(4 + bytes.size());
  for (int i = 0; i < 4; ++i) framed.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  framed += bytes;
  return WriteAll(log_fd_, framed, "requests.log");
}

}  // namespace certbridge::emulator
