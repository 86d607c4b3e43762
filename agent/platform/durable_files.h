// The file operations the agent's state dir, job journal and pending-key store are built on:
// atomic, durable replacement of small files, an append-only log file, private directories
// and an exclusive lock.
// One implementation per platform, chosen by agent/agent.cmake:
//   durable_files_posix.cc    open/fsync/rename/flock, permission bits
//   durable_files_windows.cc  CreateFileW/FlushFileBuffers/MoveFileExW(MOVEFILE_WRITE_THROUGH)/
//                             LockFileEx, a protected DACL (SYSTEM, Administrators, the owner)
//
// Paths are UTF-8 and may use '/' on both platforms.
//
// "Private" means: POSIX, no group/other permission bits (0700 directories); Windows, a
// directory whose DACL allows only SYSTEM, Administrators and the directory's owner
// (Owner Rights), not inherited from the parent. Files get their protection when they are
// written (FileAccess): POSIX a mode, Windows an explicit DACL.
//
// Errors: NOT_FOUND when the file or directory does not exist; PERMISSION_DENIED when the
// OS refuses access; FAILED_PRECONDITION for a directory that is not private, or a path
// that is not a directory; INTERNAL for other I/O errors. Messages name the file and carry
// the OS's error text. All functions are thread-safe (they share no state).
#ifndef CERTBRIDGE_AGENT_PLATFORM_DURABLE_FILES_H_
#define CERTBRIDGE_AGENT_PLATFORM_DURABLE_FILES_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace certbridge::agent {

// Who may read a file written with WriteFileAtomically.
enum class FileAccess {
  kOwnerOnly,      // keys, configuration, journal entries. POSIX 0600; Windows full control
                   // for SYSTEM, Administrators and the owner only
  kReadableByAll,  // certificates. POSIX 0644; Windows the same plus read for Users
};

// Writes `contents` to `path` through a temporary file in the same directory, flushed to
// disk, then atomically renamed over `path`, and the rename made durable. A crash leaves
// the old file or the new one, never a mix. The temporary file is never readable by others.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 FileAccess access);

// The whole file. NOT_FOUND if it does not exist.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

// True if something (file or directory) exists at `path`.
bool PathExists(const std::string& path);

// Atomically replaces `to` with `from` and makes the rename durable.
absl::Status RenameReplacing(const std::string& from, const std::string& to);

// Removes a file; OK when it does not exist.
absl::Status RemoveFileIfExists(const std::string& path);

// Makes earlier renames in `dir` durable (POSIX: fsync of the directory; Windows: nothing
// to do, renames are written through).
absl::Status SyncDirectory(const std::string& dir);

// Creates `path` and any missing parents as private directories. An existing directory is
// left as it is (check it with CheckPrivateDirectory). FAILED_PRECONDITION if `path` exists
// and is not a directory.
absl::Status CreatePrivateDirectories(const std::string& path);

// FAILED_PRECONDITION, naming `what` ("state dir", "journal") and the remedy, when `path`
// is not a directory or is accessible by other users.
absl::Status CheckPrivateDirectory(const std::string& path, absl::string_view what);

// A file that is only ever written at its end: the job journal's log. Append is not
// durable by itself; Sync returns once everything appended before it is on disk (POSIX
// fdatasync, Windows FlushFileBuffers), so several appends can share one Sync.
// Thread-safety: Append calls must not overlap one another; Sync may run at the same time
// as an Append (the group commit of job_journal.cc relies on it).
class AppendOnlyFile {
 public:
  // Opens `path` for appending, creating it (FileAccess::kOwnerOnly) if needed; its
  // directory entry is made durable before this returns.
  static absl::StatusOr<std::unique_ptr<AppendOnlyFile>> Open(const std::string& path);

  virtual ~AppendOnlyFile() = default;
  // A failure may leave part of `data` in the file.
  virtual absl::Status Append(absl::string_view data) = 0;
  virtual absl::Status Sync() = 0;

 protected:
  AppendOnlyFile() = default;
};

// An exclusive lock on a file (POSIX flock, Windows LockFileEx), held until destroyed or
// until the process dies.
class ExclusiveFileLock {
 public:
  // Creates the file if needed and locks it without waiting. FAILED_PRECONDITION when
  // another process holds the lock.
  static absl::StatusOr<std::unique_ptr<ExclusiveFileLock>> TryLock(const std::string& path);

  virtual ~ExclusiveFileLock() = default;

 protected:
  ExclusiveFileLock() = default;
};

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_PLATFORM_DURABLE_FILES_H_
