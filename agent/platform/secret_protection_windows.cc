// DPAPI, machine scope. Machine scope (not the service account's user scope) because the
// agent runs as LocalSystem and an administrator must be able to run `certbridge-agent run`
// in a console against the same state dir; the DACL of the state dir (SYSTEM,
// Administrators) keeps other local accounts from the file, DPAPI keeps the file useless
// off this machine. The entropy string is not a secret: it only keeps other programs that
// call CryptUnprotectData on an arbitrary blob from decrypting ours by accident.
#include "agent/platform/secret_protection.h"

#include <windows.h>
#include <dpapi.h>
#include <wincrypt.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace certbridge::agent {
namespace {

constexpr absl::string_view kHeader = "certbridge-dpapi-machine-v1\n";
constexpr char kEntropy[] = "certbridge-agent secret at rest v1";

DATA_BLOB Blob(absl::string_view data) {
  return DATA_BLOB{static_cast<DWORD>(data.size()),
                   reinterpret_cast<BYTE*>(const_cast<char*>(data.data()))};
}

// Takes the output blob of CryptProtectData/CryptUnprotectData; wipes and frees it.
std::string TakeBlob(DATA_BLOB& out) {
  std::string value(reinterpret_cast<const char*>(out.pbData), out.cbData);
  SecureZeroMemory(out.pbData, out.cbData);
  LocalFree(out.pbData);
  return value;
}

}  // namespace

absl::string_view SecretProtectionName() { return "DPAPI (machine scope)"; }

bool SecretProtectionEncrypts() { return true; }

absl::StatusOr<std::string> ProtectSecret(absl::string_view secret) {
  DATA_BLOB in = Blob(secret);
  DATA_BLOB entropy = Blob(kEntropy);
  DATA_BLOB out{};
  if (!CryptProtectData(&in, L"certbridge-agent", &entropy, nullptr, nullptr,
                        CRYPTPROTECT_LOCAL_MACHINE | CRYPTPROTECT_UI_FORBIDDEN, &out)) {
    return absl::InternalError(
        absl::StrCat("DPAPI CryptProtectData failed (Win32 error ", GetLastError(), ")"));
  }
  return absl::StrCat(kHeader, absl::Base64Escape(TakeBlob(out)), "\n");
}

absl::StatusOr<UnprotectedSecret> UnprotectSecret(absl::string_view stored) {
  if (!absl::StartsWith(stored, kHeader)) {
    return UnprotectedSecret{std::string(stored), false};
  }
  absl::string_view body = absl::StripAsciiWhitespace(stored.substr(kHeader.size()));
  std::string blob;
  if (!absl::Base64Unescape(body, &blob)) {
    return absl::DataLossError("DPAPI-protected secret is damaged (not base64)");
  }
  DATA_BLOB in = Blob(blob);
  DATA_BLOB entropy = Blob(kEntropy);
  DATA_BLOB out{};
  if (!CryptUnprotectData(&in, nullptr, &entropy, nullptr, nullptr, CRYPTPROTECT_UI_FORBIDDEN,
                          &out)) {
    return absl::DataLossError(absl::StrCat(
        "DPAPI CryptUnprotectData failed (Win32 error ", GetLastError(),
        "): the file was protected on another machine or is damaged; re-register the agent"));
  }
  return UnprotectedSecret{TakeBlob(out), true};
}

}  // namespace certbridge::agent
