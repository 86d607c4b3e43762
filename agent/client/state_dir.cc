#include "agent/client/state_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace certbridge::agent {
namespace {

constexpr const char* kRenewalMarker = "renewal.commit";
constexpr const char* kNewSuffix = ".new";

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

absl::Status FsyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open directory", dir, errno);
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return ErrnoError("fsync directory", dir, err);
  return absl::OkStatus();
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

absl::Status Rename(const std::string& from, const std::string& to) {
  if (rename(from.c_str(), to.c_str()) != 0) return ErrnoError("rename to", to, errno);
  return absl::OkStatus();
}

absl::Status RemoveIfExists(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("remove", path, errno);
  return absl::OkStatus();
}

// mkdir -p with 0700 for every directory it creates.
absl::Status MakeDirs(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("state dir \"", path, "\" exists and is not a directory"));
    }
    return absl::OkStatus();
  }
  std::string parent = DirName(path);
  if (parent != path && parent != "." && parent != "/") RETURN_IF_ERROR(MakeDirs(parent));
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError("create directory", path, errno);
  }
  return absl::OkStatus();
}

absl::Status CheckPrivate(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoError("stat", path, errno);
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return absl::FailedPreconditionError(absl::StrCat(
        "state dir \"", path, "\" is accessible by other users (mode ", mode,
        "); it holds the agent's private key: use a new directory or `chmod 700` it"));
  }
  return absl::OkStatus();
}

bool ValidConfigValue(absl::string_view v) {
  return v.find('\n') == absl::string_view::npos && v.find('\r') == absl::string_view::npos;
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 mode_t mode) {
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
  if (fchmod(fd, mode) != 0) return fail("chmod", errno);
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
  return FsyncDir(DirName(path));
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

StateDirLock::~StateDirLock() {
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<std::unique_ptr<StateDirLock>> StateDir::Lock() const {
  std::string path = FilePath(kLockFile);
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("open lock file", path, errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "another certbridge-agent is already running with state dir \"", path_,
          "\"; stop it first (one agent per state dir)"));
    }
    return ErrnoError("lock", path, err);
  }
  return std::make_unique<StateDirLock>(fd);
}

std::string StateDir::FilePath(absl::string_view name) const {
  return absl::StrCat(path_, "/", name);
}

bool StateDir::HasRegistration() const {
  return Exists(FilePath(kConfigFile)) || Exists(FilePath(kKeyFile));
}

absl::Status StateDir::Save(const AgentRegistration& registration,
                            const AgentCredentials& credentials, bool overwrite) const {
  for (absl::string_view v : {absl::string_view(registration.broker_address),
                              absl::string_view(registration.tenant_id),
                              absl::string_view(registration.connector_id),
                              absl::string_view(registration.host),
                              absl::string_view(registration.ca_identity)}) {
    if (!ValidConfigValue(v)) {
      return absl::InvalidArgumentError("registration values must not contain line breaks");
    }
  }
  if (!overwrite && HasRegistration()) {
    return absl::AlreadyExistsError(
        absl::StrCat("state dir \"", path_,
                     "\" already holds a registration; pass --force to replace it"));
  }
  RETURN_IF_ERROR(MakeDirs(path_));
  RETURN_IF_ERROR(CheckPrivate(path_));
  // A stale renewal journal must not resurrect an older key over this registration.
  for (const char* name : {kKeyFile, kChainFile}) {
    RETURN_IF_ERROR(RemoveIfExists(FilePath(absl::StrCat(name, kNewSuffix))));
  }
  RETURN_IF_ERROR(RemoveIfExists(FilePath(kRenewalMarker)));

  RETURN_IF_ERROR(WriteFileAtomically(FilePath(kBrokerCaFile), credentials.broker_ca_pem, 0644));
  RETURN_IF_ERROR(WriteFileAtomically(FilePath(kChainFile), credentials.chain_pem, 0644));
  RETURN_IF_ERROR(WriteFileAtomically(FilePath(kKeyFile), credentials.key_pem, 0600));
  std::string conf = absl::StrCat(
      "# certbridge agent registration, written by `certbridge-agent register`.\n",
      "broker=", registration.broker_address, "\n",
      "tenant_id=", registration.tenant_id, "\n",
      "connector_id=", registration.connector_id, "\n",
      "host=", registration.host, "\n",
      "ca_identity=", registration.ca_identity, "\n");
  // Written last: its presence marks a complete registration.
  return WriteFileAtomically(FilePath(kConfigFile), conf, 0600);
}

absl::StatusOr<AgentRegistration> StateDir::LoadRegistration() const {
  absl::StatusOr<std::string> text = ReadWholeFile(FilePath(kConfigFile));
  if (absl::IsNotFound(text.status())) {
    return absl::NotFoundError(absl::StrCat(
        "no registration in state dir \"", path_,
        "\": run `certbridge-agent register --state-dir ", path_, " ...` first"));
  }
  if (!text.ok()) return text.status();
  AgentRegistration reg;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::FailedPreconditionError(absl::StrCat(
          "\"", FilePath(kConfigFile), "\": line without '=': re-register with --force"));
    }
    absl::string_view key = line.substr(0, eq);
    std::string value(line.substr(eq + 1));
    if (key == "broker") reg.broker_address = value;
    else if (key == "tenant_id") reg.tenant_id = value;
    else if (key == "connector_id") reg.connector_id = value;
    else if (key == "host") reg.host = value;
    else if (key == "ca_identity") reg.ca_identity = value;
    // Unknown keys are ignored so that a newer agent's file still loads.
  }
  if (reg.broker_address.empty() || reg.connector_id.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("\"", FilePath(kConfigFile),
                     "\" lacks broker or connector_id: re-register with --force"));
  }
  return reg;
}

absl::Status StateDir::RecoverInterruptedRenewal() const {
  std::string marker = FilePath(kRenewalMarker);
  bool committed = Exists(marker);
  for (const char* name : {kKeyFile, kChainFile}) {
    std::string staged = FilePath(absl::StrCat(name, kNewSuffix));
    if (!Exists(staged)) continue;
    if (committed) {
      RETURN_IF_ERROR(Rename(staged, FilePath(name)));
    } else {
      RETURN_IF_ERROR(RemoveIfExists(staged));
    }
  }
  if (committed) {
    RETURN_IF_ERROR(FsyncDir(path_));
    RETURN_IF_ERROR(RemoveIfExists(marker));
  }
  return absl::OkStatus();
}

absl::StatusOr<AgentCredentials> StateDir::LoadCredentials() const {
  RETURN_IF_ERROR(RecoverInterruptedRenewal());
  AgentCredentials creds;
  ASSIGN_OR_RETURN(creds.key_pem, ReadWholeFile(FilePath(kKeyFile)));
  ASSIGN_OR_RETURN(creds.chain_pem, ReadWholeFile(FilePath(kChainFile)));
  ASSIGN_OR_RETURN(creds.broker_ca_pem, ReadWholeFile(FilePath(kBrokerCaFile)));
  return creds;
}

absl::Status StateDir::ReplaceKeyAndChain(absl::string_view key_pem,
                                          absl::string_view chain_pem) const {
  RETURN_IF_ERROR(RecoverInterruptedRenewal());
  std::string key_new = FilePath(absl::StrCat(kKeyFile, kNewSuffix));
  std::string chain_new = FilePath(absl::StrCat(kChainFile, kNewSuffix));
  RETURN_IF_ERROR(WriteFileAtomically(key_new, key_pem, 0600));
  RETURN_IF_ERROR(WriteFileAtomically(chain_new, chain_pem, 0644));
  // From here on the new pair wins: a crash before the marker leaves the old pair (the
  // staged files are discarded on load); a crash after it is completed on load.
  RETURN_IF_ERROR(WriteFileAtomically(FilePath(kRenewalMarker), "", 0600));
  RETURN_IF_ERROR(Rename(key_new, FilePath(kKeyFile)));
  RETURN_IF_ERROR(Rename(chain_new, FilePath(kChainFile)));
  RETURN_IF_ERROR(FsyncDir(path_));
  return RemoveIfExists(FilePath(kRenewalMarker));
}

}  // namespace certbridge::agent
