#include "agent/client/state_dir.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace certbridge::agent {
namespace {

constexpr const char* kRenewalMarker = "renewal.commit";
constexpr const char* kNewSuffix = ".new";

bool ValidConfigValue(absl::string_view v) {
  return v.find('\n') == absl::string_view::npos && v.find('\r') == absl::string_view::npos;
}

}  // namespace

absl::Status WriteSecretFile(const std::string& path, absl::string_view secret) {
  ASSIGN_OR_RETURN(std::string stored, ProtectSecret(secret));
  return WriteFileAtomically(path, stored, FileAccess::kOwnerOnly);
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string stored, ReadWholeFile(path));
  absl::StatusOr<UnprotectedSecret> secret = UnprotectSecret(stored);
  if (!secret.ok()) {
    return absl::Status(secret.status().code(),
                        absl::StrCat("\"", path, "\": ", secret.status().message()));
  }
  if (!secret->was_protected) {
    // Migration: a file from before protection at rest, protected from now on.
    RETURN_IF_ERROR(WriteSecretFile(path, secret->secret));
    LogInfo("state.secret_protected", {{"file", path}, {"protection", SecretProtectionName()}});
  }
  return std::move(secret->secret);
}

absl::StatusOr<std::unique_ptr<StateDirLock>> StateDir::Lock() const {
  absl::StatusOr<std::unique_ptr<ExclusiveFileLock>> lock =
      ExclusiveFileLock::TryLock(FilePath(kLockFile));
  if (absl::IsFailedPrecondition(lock.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "another certbridge-agent is already running with state dir \"", path_,
        "\"; stop it first (one agent per state dir)"));
  }
  return lock;
}

std::string StateDir::FilePath(absl::string_view name) const {
  return absl::StrCat(path_, "/", name);
}

bool StateDir::HasRegistration() const {
  return PathExists(FilePath(kConfigFile)) || PathExists(FilePath(kKeyFile));
}

absl::Status StateDir::Save(const AgentRegistration& registration,
                            const AgentCredentials& credentials, bool overwrite) const {
  for (absl::string_view v : {absl::string_view(registration.broker_address),
                              absl::string_view(registration.tenant_id),
                              absl::string_view(registration.connector_id),
                              absl::string_view(registration.host),
                              absl::string_view(registration.ca_identity),
                              absl::string_view(registration.proxy)}) {
    if (!ValidConfigValue(v)) {
      return absl::InvalidArgumentError("registration values must not contain line breaks");
    }
  }
  if (!overwrite && HasRegistration()) {
    return absl::AlreadyExistsError(
        absl::StrCat("state dir \"", path_,
                     "\" already holds a registration; pass --force to replace it"));
  }
  RETURN_IF_ERROR(CreatePrivateDirectories(path_));
  RETURN_IF_ERROR(CheckPrivateDirectory(path_, "state dir"));
  // A stale renewal journal must not resurrect an older key over this registration.
  for (const char* name : {kKeyFile, kChainFile}) {
    RETURN_IF_ERROR(RemoveFileIfExists(FilePath(absl::StrCat(name, kNewSuffix))));
  }
  RETURN_IF_ERROR(RemoveFileIfExists(FilePath(kRenewalMarker)));

  RETURN_IF_ERROR(WriteFileAtomically(FilePath(kBrokerCaFile), credentials.broker_ca_pem,
                                      FileAccess::kReadableByAll));
  RETURN_IF_ERROR(WriteFileAtomically(FilePath(kChainFile), credentials.chain_pem,
                                      FileAccess::kReadableByAll));
  RETURN_IF_ERROR(WriteSecretFile(FilePath(kKeyFile), credentials.key_pem));
  std::string conf = absl::StrCat(
      "# certbridge agent registration, written by `certbridge-agent register`.\n",
      "broker=", registration.broker_address, "\n",
      "tenant_id=", registration.tenant_id, "\n",
      "connector_id=", registration.connector_id, "\n",
      "host=", registration.host, "\n",
      "ca_identity=", registration.ca_identity, "\n",
      registration.proxy.empty() ? "" : absl::StrCat("proxy=", registration.proxy, "\n"));
  // Written last: its presence marks a complete registration.
  return WriteFileAtomically(FilePath(kConfigFile), conf, FileAccess::kOwnerOnly);
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
    else if (key == "proxy") reg.proxy = value;
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
  bool committed = PathExists(marker);
  for (const char* name : {kKeyFile, kChainFile}) {
    std::string staged = FilePath(absl::StrCat(name, kNewSuffix));
    if (!PathExists(staged)) continue;
    if (committed) {
      RETURN_IF_ERROR(RenameReplacing(staged, FilePath(name)));
    } else {
      RETURN_IF_ERROR(RemoveFileIfExists(staged));
    }
  }
  if (committed) {
    RETURN_IF_ERROR(SyncDirectory(path_));
    RETURN_IF_ERROR(RemoveFileIfExists(marker));
  }
  return absl::OkStatus();
}

absl::StatusOr<AgentCredentials> StateDir::LoadCredentials() const {
  RETURN_IF_ERROR(RecoverInterruptedRenewal());
  AgentCredentials creds;
  ASSIGN_OR_RETURN(creds.key_pem, ReadSecretFile(FilePath(kKeyFile)));
  ASSIGN_OR_RETURN(creds.chain_pem, ReadWholeFile(FilePath(kChainFile)));
  ASSIGN_OR_RETURN(creds.broker_ca_pem, ReadWholeFile(FilePath(kBrokerCaFile)));
  return creds;
}

absl::Status StateDir::ReplaceKeyAndChain(absl::string_view key_pem,
                                          absl::string_view chain_pem) const {
  RETURN_IF_ERROR(RecoverInterruptedRenewal());
  std::string key_new = FilePath(absl::StrCat(kKeyFile, kNewSuffix));
  std::string chain_new = FilePath(absl::StrCat(kChainFile, kNewSuffix));
  RETURN_IF_ERROR(WriteSecretFile(key_new, key_pem));
  RETURN_IF_ERROR(WriteFileAtomically(chain_new, chain_pem, FileAccess::kReadableByAll));
  // From here on the new pair wins: a crash before the marker leaves the old pair (the
  // staged files are discarded on load); a crash after it is completed on load.
  RETURN_IF_ERROR(WriteFileAtomically(FilePath(kRenewalMarker), "", FileAccess::kOwnerOnly));
  RETURN_IF_ERROR(RenameReplacing(key_new, FilePath(kKeyFile)));
  RETURN_IF_ERROR(RenameReplacing(chain_new, FilePath(kChainFile)));
  return RemoveFileIfExists(FilePath(kRenewalMarker));
}

}  // namespace certbridge::agent
