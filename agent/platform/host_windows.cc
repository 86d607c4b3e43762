// host.h on Windows.
#include <windows.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/platform/host.h"

namespace certbridge::agent {
namespace {

std::string Utf8(const wchar_t* wide, int length) {
  int n = WideCharToMultiByte(CP_UTF8, 0, wide, length, nullptr, 0, nullptr, nullptr);
  std::string out(static_cast<size_t>(n), '\0');
  WideCharToMultiByte(CP_UTF8, 0, wide, length, out.data(), n, nullptr, nullptr);
  return out;
}

}  // namespace

std::string OsDescription() {
  // GetVersionEx reports 6.2 to programs without a compatibility manifest; RtlGetVersion
  // (ntdll, always loaded) reports the real version.
  using RtlGetVersionFn = LONG(WINAPI*)(OSVERSIONINFOW*);
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  auto rtl_get_version = ntdll == nullptr ? nullptr
      : reinterpret_cast<RtlGetVersionFn>(
            reinterpret_cast<void*>(GetProcAddress(ntdll, "RtlGetVersion")));
  OSVERSIONINFOW info = {};
  info.dwOSVersionInfoSize = sizeof info;
  if (rtl_get_version == nullptr || rtl_get_version(&info) != 0) return "unknown";
  SYSTEM_INFO system = {};
  GetNativeSystemInfo(&system);
  const char* machine = system.wProcessorArchitecture == PROCESSOR_ARCHITECTURE_AMD64   ? "x86_64"
                        : system.wProcessorArchitecture == PROCESSOR_ARCHITECTURE_ARM64 ? "arm64"
                                                                                        : "x86";
  return absl::StrCat("Windows ", info.dwMajorVersion, ".", info.dwMinorVersion, ".",
                      info.dwBuildNumber, " ", machine);
}

std::string LocalHostName() {
  wchar_t buf[256] = {};
  DWORD size = sizeof buf / sizeof buf[0];
  if (!GetComputerNameExW(ComputerNameDnsHostname, buf, &size) || size == 0) return "localhost";
  return Utf8(buf, static_cast<int>(size));
}

std::string DefaultStateDir() {
  const char* program_data = std::getenv("ProgramData");
  std::string base = program_data != nullptr && program_data[0] != '\0' ? program_data
                                                                         : "C:/ProgramData";
  return absl::StrCat(base, "\\certbridge-agent");
}

}  // namespace certbridge::agent
