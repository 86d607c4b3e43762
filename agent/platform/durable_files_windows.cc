// durable_files.h on Windows: CreateFileW, FlushFileBuffers, MoveFileExW with
// MOVEFILE_WRITE_THROUGH, LockFileEx, and a protected DACL on private directories.
//
// A private directory gets the DACL "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;OW)":
// full control for SYSTEM (the service account), Administrators and the directory's
// owner (Owner Rights), inherited by every file and subdirectory created in it, and not
// inheriting anything from its parent (a state dir under ProgramData would otherwise
// be readable by Users).
//
// Files get an explicit protected DACL as well, set when the temporary file is created
// (so it is never readable by others) and kept by the rename: the same three for
// FileAccess::kOwnerOnly, plus read for Users (BU) for kReadableByAll, as 0600 and 0644 on
// Linux. Explicit rather than inherited: a file keeps its protection if it is moved, or
// if the directory's DACL is loosened later (and Wine does not apply inheritance to new
// files).
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/platform/durable_files.h"
#include "common/status_macros.h"

namespace certbridge::agent {
namespace {

constexpr wchar_t kPrivateDirectorySddl[] =
    L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;OW)";
constexpr wchar_t kOwnerOnlyFileSddl[] = L"D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;OW)";
constexpr wchar_t kReadableByAllFileSddl[] =
    L"D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;OW)(A;;FR;;;BU)";

std::wstring Wide(const std::string& utf8) {
  if (utf8.empty()) return std::wstring();
  int n = MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), nullptr, 0);
  std::wstring out(static_cast<size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), out.data(), n);
  return out;
}

std::string ErrorText(DWORD err) {
  char* text = nullptr;
  DWORD n = FormatMessageA(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, err, 0, reinterpret_cast<char*>(&text), 0, nullptr);
  std::string out = n > 0 ? std::string(text, n) : std::string();
  if (text != nullptr) LocalFree(text);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ' ||
                          out.back() == '.')) {
    out.pop_back();
  }
  return absl::StrCat(out.empty() ? "error" : out, " (Win32 error ", err, ")");
}

absl::Status Win32Error(absl::string_view what, const std::string& path, DWORD err) {
  std::string message = absl::StrCat(what, " \"", path, "\": ", ErrorText(err));
  if (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND) {
    return absl::NotFoundError(message);
  }
  if (err == ERROR_ACCESS_DENIED) {
    return absl::PermissionDeniedError(absl::StrCat(
        message, " (run the agent as the service account, LocalSystem, or as an administrator)"));
  }
  return absl::InternalError(message);
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of("/\\");
  if (slash == std::string::npos) return ".";
  if (slash == 0) return path.substr(0, 1);
  return path.substr(0, slash);
}

bool IsDriveRoot(const std::string& path) {
  return (path.size() == 2 && path[1] == ':') ||
         (path.size() == 3 && path[1] == ':' && (path[2] == '/' || path[2] == '\\'));
}

// Closes a HANDLE on every path out.
class Handle {
 public:
  explicit Handle(HANDLE h) : h_(h) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { Close(); }
  HANDLE get() const { return h_; }
  bool valid() const { return h_ != INVALID_HANDLE_VALUE && h_ != nullptr; }
  bool Close() {
    if (!valid()) return true;
    BOOL ok = CloseHandle(h_);
    h_ = INVALID_HANDLE_VALUE;
    return ok != 0;
  }

 private:
  HANDLE h_;
};

class LockFileExLock final : public ExclusiveFileLock {
 public:
  explicit LockFileExLock(HANDLE h) : h_(h) {}
  ~LockFileExLock() override { CloseHandle(h_); }  // closing releases the lock

 private:
  const HANDLE h_;
};

// A security descriptor from SDDL, freed with LocalFree when it goes out of scope.
class SecurityDescriptor {
 public:
  explicit SecurityDescriptor(const wchar_t* sddl) {
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1,
                                                              &descriptor_, nullptr)) {
      error_ = GetLastError();
      descriptor_ = nullptr;
    }
  }
  SecurityDescriptor(const SecurityDescriptor&) = delete;
  SecurityDescriptor& operator=(const SecurityDescriptor&) = delete;
  ~SecurityDescriptor() {
    if (descriptor_ != nullptr) LocalFree(descriptor_);
  }
  // nullptr if the SDDL did not convert (error()).
  SECURITY_ATTRIBUTES* attributes() {
    attributes_ = {sizeof attributes_, descriptor_, FALSE};
    return descriptor_ == nullptr ? nullptr : &attributes_;
  }
  DWORD error() const { return error_; }

 private:
  PSECURITY_DESCRIPTOR descriptor_ = nullptr;
  SECURITY_ATTRIBUTES attributes_ = {};
  DWORD error_ = ERROR_SUCCESS;
};

// A name for the temporary file that no other writer in this or another process picks.
std::string TemporaryName(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  return absl::StrCat(path, ".tmp.", GetCurrentProcessId(), ".", counter.fetch_add(1), ".",
                      GetTickCount64());
}

class WindowsAppendOnlyFile final : public AppendOnlyFile {
 public:
  WindowsAppendOnlyFile(HANDLE h, std::string path) : file_(h), path_(std::move(path)) {}

  absl::Status Append(absl::string_view data) override {
    LARGE_INTEGER zero = {};
    if (!SetFilePointerEx(file_.get(), zero, nullptr, FILE_END)) {
      return Win32Error("seek to the end of", path_, GetLastError());
    }
    size_t off = 0;
    while (off < data.size()) {
      DWORD chunk = static_cast<DWORD>(std::min<size_t>(data.size() - off, 1u << 30));
      DWORD written = 0;
      if (!WriteFile(file_.get(), data.data() + off, chunk, &written, nullptr)) {
        return Win32Error("append to", path_, GetLastError());
      }
      off += written;
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (!FlushFileBuffers(file_.get())) return Win32Error("flush", path_, GetLastError());
    return absl::OkStatus();
  }

 private:
  Handle file_;
  const std::string path_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AppendOnlyFile>> AppendOnlyFile::Open(const std::string& path) {
  SecurityDescriptor security(kOwnerOnlyFileSddl);
  if (security.attributes() == nullptr) {
    return Win32Error("build the security descriptor for", path, security.error());
  }
  // FILE_SHARE_DELETE: the journal replaces the file (MoveFileExW) when it compacts it.
  HANDLE h = CreateFileW(Wide(path).c_str(), GENERIC_WRITE,
                         FILE_SHARE_READ | FILE_SHARE_DELETE, security.attributes(),
                         OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) return Win32Error("open for appending", path, GetLastError());
  auto file = std::make_unique<WindowsAppendOnlyFile>(h, path);
  // A new file's directory entry: flushing the file writes its metadata through.
  RETURN_IF_ERROR(file->Sync());
  return std::unique_ptr<AppendOnlyFile>(std::move(file));
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 FileAccess access) {
  SecurityDescriptor security(access == FileAccess::kOwnerOnly ? kOwnerOnlyFileSddl
                                                               : kReadableByAllFileSddl);
  if (security.attributes() == nullptr) {
    return Win32Error("build the security descriptor for", path, security.error());
  }
  const std::string tmp = TemporaryName(path);
  const std::wstring wtmp = Wide(tmp);
  Handle file(CreateFileW(wtmp.c_str(), GENERIC_WRITE, 0, security.attributes(), CREATE_NEW,
                          FILE_ATTRIBUTE_NORMAL, nullptr));
  if (!file.valid()) return Win32Error("create temporary file for", path, GetLastError());
  auto fail = [&](absl::string_view what, DWORD err) {
    file.Close();
    DeleteFileW(wtmp.c_str());
    return Win32Error(what, path, err);
  };
  size_t off = 0;
  while (off < contents.size()) {
    DWORD chunk = static_cast<DWORD>(std::min<size_t>(contents.size() - off, 1u << 30));
    DWORD written = 0;
    if (!WriteFile(file.get(), contents.data() + off, chunk, &written, nullptr)) {
      return fail("write", GetLastError());
    }
    off += written;
  }
  if (!FlushFileBuffers(file.get())) return fail("flush", GetLastError());
  if (!file.Close()) return fail("close", GetLastError());
  if (!MoveFileExW(wtmp.c_str(), Wide(path).c_str(),
                   MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
    DWORD err = GetLastError();
    DeleteFileW(wtmp.c_str());
    return Win32Error("rename to", path, err);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  Handle file(CreateFileW(Wide(path).c_str(), GENERIC_READ,
                          FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                          OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr));
  if (!file.valid()) return Win32Error("open", path, GetLastError());
  std::string out;
  char buf[8192];
  while (true) {
    DWORD n = 0;
    if (!ReadFile(file.get(), buf, sizeof buf, &n, nullptr)) {
      return Win32Error("read", path, GetLastError());
    }
    if (n == 0) break;
    out.append(buf, n);
  }
  return out;
}

bool PathExists(const std::string& path) {
  return GetFileAttributesW(Wide(path).c_str()) != INVALID_FILE_ATTRIBUTES;
}

absl::Status RenameReplacing(const std::string& from, const std::string& to) {
  if (!MoveFileExW(Wide(from).c_str(), Wide(to).c_str(),
                   MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
    return Win32Error("rename to", to, GetLastError());
  }
  return absl::OkStatus();
}

absl::Status RemoveFileIfExists(const std::string& path) {
  if (!DeleteFileW(Wide(path).c_str())) {
    DWORD err = GetLastError();
    if (err != ERROR_FILE_NOT_FOUND && err != ERROR_PATH_NOT_FOUND) {
      return Win32Error("remove", path, err);
    }
  }
  return absl::OkStatus();
}

absl::Status SyncDirectory(const std::string&) {
  // MoveFileExW(MOVEFILE_WRITE_THROUGH) returns after the rename is on disk.
  return absl::OkStatus();
}

absl::Status CreatePrivateDirectories(const std::string& path) {
  DWORD attributes = GetFileAttributesW(Wide(path).c_str());
  if (attributes != INVALID_FILE_ATTRIBUTES) {
    if ((attributes & FILE_ATTRIBUTE_DIRECTORY) == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("\"", path, "\" exists and is not a directory"));
    }
    return absl::OkStatus();
  }
  std::string parent = DirName(path);
  if (parent != path && parent != "." && !IsDriveRoot(parent) && parent.size() > 1) {
    RETURN_IF_ERROR(CreatePrivateDirectories(parent));
  }
  SecurityDescriptor security(kPrivateDirectorySddl);
  if (security.attributes() == nullptr) {
    return Win32Error("build the security descriptor for", path, security.error());
  }
  if (!CreateDirectoryW(Wide(path).c_str(), security.attributes())) {
    DWORD err = GetLastError();
    if (err != ERROR_ALREADY_EXISTS) return Win32Error("create directory", path, err);
  }
  return absl::OkStatus();
}

absl::Status CheckPrivateDirectory(const std::string& path, absl::string_view what) {
  const std::wstring wpath = Wide(path);
  DWORD attributes = GetFileAttributesW(wpath.c_str());
  if (attributes == INVALID_FILE_ATTRIBUTES) return Win32Error("stat", path, GetLastError());
  if ((attributes & FILE_ATTRIBUTE_DIRECTORY) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " \"", path, "\" is not a directory"));
  }
  PACL dacl = nullptr;
  PSID owner = nullptr;
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  DWORD err = GetNamedSecurityInfoW(wpath.c_str(), SE_FILE_OBJECT,
                                    DACL_SECURITY_INFORMATION | OWNER_SECURITY_INFORMATION,
                                    &owner, nullptr, &dacl, nullptr, &descriptor);
  if (err != ERROR_SUCCESS) return Win32Error("read the access control list of", path, err);
  // Allowed: SYSTEM, Administrators, Owner Rights, CREATOR OWNER and the owner itself.
  // Anything else granted access (Users, Everyone, another account) is "not private".
  auto allowed_sid = [owner](PSID sid) {
    for (WELL_KNOWN_SID_TYPE type : {WinLocalSystemSid, WinBuiltinAdministratorsSid,
                                     WinCreatorOwnerRightsSid, WinCreatorOwnerSid}) {
      if (IsWellKnownSid(sid, type)) return true;
    }
    return owner != nullptr && EqualSid(sid, owner);
  };
  std::string offender;
  if (dacl == nullptr) {
    offender = "no access control list (everyone has access)";
  } else {
    for (DWORD i = 0; i < dacl->AceCount && offender.empty(); ++i) {
      ACE_HEADER* ace = nullptr;
      if (!GetAce(dacl, i, reinterpret_cast<void**>(&ace))) continue;
      if (ace->AceType != ACCESS_ALLOWED_ACE_TYPE) continue;
      PSID sid = &reinterpret_cast<ACCESS_ALLOWED_ACE*>(ace)->SidStart;
      if (allowed_sid(sid)) continue;
      char* text = nullptr;
      offender = ConvertSidToStringSidA(sid, &text) ? absl::StrCat("access for ", text)
                                                    : std::string("access for another account");
      if (text != nullptr) LocalFree(text);
    }
  }
  LocalFree(descriptor);
  if (!offender.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " \"", path, "\" is accessible by other users (", offender,
        "); use a new directory, or allow only SYSTEM and Administrators: "
        "icacls \"", path, "\" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ExclusiveFileLock>> ExclusiveFileLock::TryLock(
    const std::string& path) {
  HANDLE h = CreateFileW(Wide(path).c_str(), GENERIC_READ | GENERIC_WRITE,
                         FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr, OPEN_ALWAYS,
                         FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) return Win32Error("open lock file", path, GetLastError());
  OVERLAPPED whole_file = {};
  if (!LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, MAXDWORD, MAXDWORD,
                  &whole_file)) {
    DWORD err = GetLastError();
    CloseHandle(h);
    if (err == ERROR_LOCK_VIOLATION || err == ERROR_IO_PENDING) {
      return absl::FailedPreconditionError(
          absl::StrCat("\"", path, "\" is locked by another process"));
    }
    return Win32Error("lock", path, err);
  }
  return std::unique_ptr<ExclusiveFileLock>(new LockFileExLock(h));
}

}  // namespace certbridge::agent
