// durable_files.h on Linux (and other POSIX systems): permission bits, fsync, rename, flock.
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/platform/durable_files.h"
#include "common/status_macros.h"

namespace certbridge::agent {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path, int err) {
  std::string message = absl::StrCat(what, " \"", path, "\": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM) {
    return absl::PermissionDeniedError(
        absl::StrCat(message, " (run the agent as the user that owns the state dir)"));
  }
  return absl::InternalError(message);
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

mode_t ModeOf(FileAccess access) { return access == FileAccess::kOwnerOnly ? 0600 : 0644; }

class FlockFileLock final : public ExclusiveFileLock {
 public:
  explicit FlockFileLock(int fd) : fd_(fd) {}
  ~FlockFileLock() override { close(fd_); }

 private:
  const int fd_;
};

class PosixAppendOnlyFile final : public AppendOnlyFile {
 public:
  PosixAppendOnlyFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixAppendOnlyFile() override { close(fd_); }

  absl::Status Append(absl::string_view data) override {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = write(fd_, data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("append to", path_, errno);
      }
      off += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    // fdatasync also writes the file's size, which is all an append changes besides data.
    if (fdatasync(fd_) != 0) return ErrnoError("fdatasync", path_, errno);
    return absl::OkStatus();
  }

 private:
  const int fd_;
  const std::string path_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AppendOnlyFile>> AppendOnlyFile::Open(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("open for appending", path, errno);
  auto file = std::make_unique<PosixAppendOnlyFile>(fd, path);
  // A file just created exists after a crash only once its directory entry is on disk.
  if (fsync(fd) != 0) return ErrnoError("fsync", path, errno);
  RETURN_IF_ERROR(SyncDirectory(DirName(path)));
  return std::unique_ptr<AppendOnlyFile>(std::move(file));
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 FileAccess access) {
  std::string tmp = absl::StrCat(path, ".tmp.XXXXXX");
  std::vector<char> tmpl(tmp.begin(), tmp.end());
  tmpl.push_back('\0');
  // mkstemp creates the file 0600; fchmod only ever widens it to the final mode after
  // the contents are complete, so a key file is never visible with wider permissions.
  int fd = mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoError("create temporary file for", path, errno);
  tmp.assign(tmpl.data());
  auto fail = [&](absl::string_view what, int err) {
    close(fd);
    unlink(tmp.c_str());
    return ErrnoError(what, path, err);
  };
  size_t off = 0;
  while (off < contents.size()) {
    ssize_t n = write(fd, contents.data() + off, contents.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write", errno);
    }
    off += static_cast<size_t>(n);
  }
  if (fchmod(fd, ModeOf(access)) != 0) return fail("chmod", errno);
  if (fsync(fd) != 0) return fail("fsync", errno);
  if (close(fd) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return ErrnoError("close", path, err);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return ErrnoError("rename to", path, err);
  }
  return SyncDirectory(DirName(path));
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open", path, errno);
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return ErrnoError("read", path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

bool PathExists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

absl::Status RenameReplacing(const std::string& from, const std::string& to) {
  if (rename(from.c_str(), to.c_str()) != 0) return ErrnoError("rename to", to, errno);
  return SyncDirectory(DirName(to));
}

absl::Status RemoveFileIfExists(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("remove", path, errno);
  return absl::OkStatus();
}

absl::Status SyncDirectory(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open directory", dir, errno);
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return ErrnoError("fsync directory", dir, err);
  return absl::OkStatus();
}

absl::Status CreatePrivateDirectories(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("\"", path, "\" exists and is not a directory"));
    }
    return absl::OkStatus();
  }
  std::string parent = DirName(path);
  if (parent != path && parent != "." && parent != "/") {
    RETURN_IF_ERROR(CreatePrivateDirectories(parent));
  }
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError("create directory", path, errno);
  }
  return absl::OkStatus();
}

absl::Status CheckPrivateDirectory(const std::string& path, absl::string_view what) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoError("stat", path, errno);
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " \"", path, "\" is not a directory"));
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return absl::FailedPreconditionError(absl::StrCat(
        what, " \"", path, "\" is accessible by other users (mode ", mode,
        "): `chmod 700` it or use a new directory"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ExclusiveFileLock>> ExclusiveFileLock::TryLock(
    const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("open lock file", path, errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("\"", path, "\" is locked by another process"));
    }
    return ErrnoError("lock", path, err);
  }
  return std::unique_ptr<ExclusiveFileLock>(new FlockFileLock(fd));
}

}  // namespace certbridge::agent
