#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "tests/agent/support/platform_test_support.h"

namespace certbridge::agent::test_support {
namespace {

std::wstring Wide(const std::string& s) { return std::filesystem::path(s).wstring(); }

}  // namespace

std::string MakeTempDir(const std::string& prefix) {
  const std::filesystem::path base = std::filesystem::temp_directory_path();
  for (unsigned attempt = 0; attempt < 100; ++attempt) {
    std::filesystem::path candidate =
        base / absl::StrCat(prefix, GetCurrentProcessId(), "-", GetTickCount64(), "-", attempt);
    if (CreateDirectoryW(candidate.wstring().c_str(), nullptr)) {
      return candidate.generic_string();
    }
  }
  return std::string();
}

std::pair<std::string, int> RunShell(const std::string& command) {
  std::string output;
  FILE* p = _popen((command + " 2>&1").c_str(), "rb");
  if (p == nullptr) return {"", -1};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  return {output, _pclose(p)};
}

bool HostHasOpensslCommand() { return RunShell("openssl version").second == 0; }

bool HasAccess(const std::string& path, FileAccess access) {
  PACL dacl = nullptr;
  PSID owner = nullptr;
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  if (GetNamedSecurityInfoW(Wide(path).c_str(), SE_FILE_OBJECT,
                            DACL_SECURITY_INFORMATION | OWNER_SECURITY_INFORMATION, &owner,
                            nullptr, &dacl, nullptr, &descriptor) != ERROR_SUCCESS) {
    return false;
  }
  // kOwnerOnly: nobody but SYSTEM, Administrators and the owner. kReadableByAll: the same,
  // and Users may read but not write. That Users CAN read is not checked: Wine keeps a
  // file's DACL as Unix mode bits when the file system has no extended attributes for it,
  // and reads back only SYSTEM and the owner.
  bool only_allowed = dacl != nullptr;
  for (DWORD i = 0; only_allowed && i < dacl->AceCount; ++i) {
    ACE_HEADER* ace = nullptr;
    if (!GetAce(dacl, i, reinterpret_cast<void**>(&ace))) continue;
    if (ace->AceType != ACCESS_ALLOWED_ACE_TYPE) continue;
    auto* allowed = reinterpret_cast<ACCESS_ALLOWED_ACE*>(ace);
    PSID sid = &allowed->SidStart;
    if (access == FileAccess::kReadableByAll && IsWellKnownSid(sid, WinBuiltinUsersSid) &&
        (allowed->Mask & (FILE_WRITE_DATA | FILE_APPEND_DATA | WRITE_DAC | WRITE_OWNER)) == 0) {
      continue;
    }
    only_allowed = IsWellKnownSid(sid, WinLocalSystemSid) ||
                   IsWellKnownSid(sid, WinBuiltinAdministratorsSid) ||
                   IsWellKnownSid(sid, WinCreatorOwnerRightsSid) ||
                   IsWellKnownSid(sid, WinCreatorOwnerSid) ||
                   (owner != nullptr && EqualSid(sid, owner));
  }
  LocalFree(descriptor);
  return only_allowed;
}

bool OpenToOtherUsers(const std::string& dir) {
  // Keeps what is there and adds read access for Users (S-1-5-32-545).
  PACL old_dacl = nullptr;
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  std::wstring wdir = Wide(dir);
  if (GetNamedSecurityInfoW(wdir.c_str(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, nullptr,
                            nullptr, &old_dacl, nullptr, &descriptor) != ERROR_SUCCESS) {
    return false;
  }
  PSID users = nullptr;
  ConvertStringSidToSidW(L"S-1-5-32-545", &users);
  EXPLICIT_ACCESSW access = {};
  access.grfAccessPermissions = GENERIC_READ;
  access.grfAccessMode = GRANT_ACCESS;
  access.grfInheritance = SUB_CONTAINERS_AND_OBJECTS_INHERIT;
  access.Trustee.TrusteeForm = TRUSTEE_IS_SID;
  access.Trustee.TrusteeType = TRUSTEE_IS_GROUP;
  access.Trustee.ptstrName = static_cast<LPWSTR>(users);
  PACL new_dacl = nullptr;
  bool ok = SetEntriesInAclW(1, &access, old_dacl, &new_dacl) == ERROR_SUCCESS &&
            SetNamedSecurityInfoW(wdir.data(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION,
                                  nullptr, nullptr, new_dacl, nullptr) == ERROR_SUCCESS;
  LocalFree(new_dacl);
  LocalFree(users);
  LocalFree(descriptor);
  return ok;
}

}  // namespace certbridge::agent::test_support
