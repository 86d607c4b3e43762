// os_service.h on Windows: the Service Control Manager.
#include <windows.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/platform/os_service.h"
#include "agent/platform/shutdown_signal.h"

namespace certbridge::agent {
namespace {

constexpr wchar_t kServiceName[] = L"certbridge-agent";
constexpr wchar_t kDisplayName[] = L"certbridge agent";
constexpr wchar_t kDescription[] =
    L"Connects this host's AD CS to the certbridge broker over one outbound TLS stream.";
constexpr DWORD kRestartDelayMs = 60 * 1000;

std::wstring Wide(const std::string& utf8) {
  if (utf8.empty()) return std::wstring();
  int n = MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), nullptr, 0);
  std::wstring out(static_cast<size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), out.data(), n);
  return out;
}

// One argument for a Windows command line (CommandLineToArgvW's quoting rules).
std::wstring Quote(const std::wstring& arg) {
  if (!arg.empty() && arg.find_first_of(L" \t\"") == std::wstring::npos) return arg;
  std::wstring out = L"\"";
  size_t backslashes = 0;
  for (wchar_t c : arg) {
    if (c == L'\\') {
      ++backslashes;
      continue;
    }
    out.append(c == L'"' ? backslashes * 2 + 1 : backslashes, L'\\');
    backslashes = 0;
    out.push_back(c);
  }
  out.append(backslashes * 2, L'\\');
  out.push_back(L'"');
  return out;
}

int Failed(absl::string_view what, DWORD err) {
  std::cerr << "certbridge-agent service: " << what << " failed: Win32 error " << err
            << (err == ERROR_ACCESS_DENIED ? " (run it from an elevated prompt)" : "") << "\n";
  return 1;
}

// Closes an SC_HANDLE.
struct ScHandle {
  SC_HANDLE h;
  ~ScHandle() {
    if (h != nullptr) CloseServiceHandle(h);
  }
};

// Restarted a minute after it dies, like systemd's Restart=on-failure. Needs a handle with
// SERVICE_CHANGE_CONFIG and SERVICE_START.
void SetRestartOnFailure(SC_HANDLE service) {
  SC_ACTION restart[3] = {{SC_ACTION_RESTART, kRestartDelayMs},
                          {SC_ACTION_RESTART, kRestartDelayMs},
                          {SC_ACTION_RESTART, kRestartDelayMs}};
  SERVICE_FAILURE_ACTIONSW failure = {24 * 3600, nullptr, nullptr, 3, restart};
  ChangeServiceConfig2W(service, SERVICE_CONFIG_FAILURE_ACTIONS, &failure);
}

int Install(int argc, char** argv) {
  wchar_t exe[MAX_PATH] = {};
  if (GetModuleFileNameW(nullptr, exe, MAX_PATH) == 0) {
    return Failed("GetModuleFileName", GetLastError());
  }
  std::wstring command = Quote(exe) + L" service run";
  for (int i = 0; i < argc; ++i) command += L" " + Quote(Wide(argv[i]));
  ScHandle scm{OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CREATE_SERVICE)};
  if (scm.h == nullptr) return Failed("OpenSCManager", GetLastError());
  ScHandle service{CreateServiceW(scm.h, kServiceName, kDisplayName, SERVICE_ALL_ACCESS,
                                  SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
                                  SERVICE_ERROR_NORMAL, command.c_str(), nullptr, nullptr,
                                  nullptr, nullptr /* LocalSystem */, nullptr)};
  if (service.h == nullptr) {
    DWORD err = GetLastError();
    if (err == ERROR_SERVICE_EXISTS) {
      std::cerr << "certbridge-agent service: already installed; `certbridge-agent service "
                   "uninstall` first\n";
      return 1;
    }
    return Failed("CreateService", err);
  }
  SERVICE_DESCRIPTIONW description = {const_cast<wchar_t*>(kDescription)};
  ChangeServiceConfig2W(service.h, SERVICE_CONFIG_DESCRIPTION, &description);
  SetRestartOnFailure(service.h);
  std::wcout << L"Installed service " << kServiceName << L": " << command << L"\n";
  return 0;
}

int Uninstall() {
  ScHandle scm{OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT)};
  if (scm.h == nullptr) return Failed("OpenSCManager", GetLastError());
  ScHandle service{
      OpenServiceW(scm.h, kServiceName, SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE)};
  if (service.h == nullptr) {
    DWORD err = GetLastError();
    if (err == ERROR_SERVICE_DOES_NOT_EXIST) {
      std::cerr << "certbridge-agent service: not installed\n";
      return 0;
    }
    return Failed("OpenService", err);
  }
  SERVICE_STATUS status = {};
  if (ControlService(service.h, SERVICE_CONTROL_STOP, &status)) {
    // The agent stops within seconds (it finishes the CA call in progress); wait up to 30 s.
    for (int i = 0; i < 60 && QueryServiceStatus(service.h, &status) &&
                    status.dwCurrentState != SERVICE_STOPPED;
         ++i) {
      Sleep(500);
    }
  }
  if (!DeleteService(service.h)) return Failed("DeleteService", GetLastError());
  CloseServiceHandle(service.h);
  service.h = nullptr;
  // The SCM removes the entry once every handle to it is closed; until then a new
  // `install` of the same name cannot be started. Wait up to 10 s for it to go.
  for (int i = 0; i < 20; ++i) {
    ScHandle probe{OpenServiceW(scm.h, kServiceName, SERVICE_QUERY_STATUS)};
    if (probe.h == nullptr && GetLastError() == ERROR_SERVICE_DOES_NOT_EXIST) break;
    Sleep(500);
  }
  std::wcout << L"Removed service " << kServiceName << L"\n";
  return 0;
}

// What ServiceMain needs; set once by RunUnderScm before the dispatcher starts.
struct ServiceRun {
  std::vector<std::string> args;
  std::function<int(int, char**)> run_agent;
  SERVICE_STATUS_HANDLE status_handle = nullptr;
};
ServiceRun* g_service = nullptr;

void Report(DWORD state, DWORD exit_code = 0) {
  SERVICE_STATUS status = {};
  status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  status.dwCurrentState = state;
  status.dwControlsAccepted =
      state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
  status.dwWin32ExitCode = exit_code == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
  status.dwServiceSpecificExitCode = exit_code;
  status.dwWaitHint = state == SERVICE_STOP_PENDING ? 30 * 1000 : 0;
  SetServiceStatus(g_service->status_handle, &status);
}

DWORD WINAPI OnServiceControl(DWORD control, DWORD, void*, void*) {
  switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
      Report(SERVICE_STOP_PENDING);
      ShutdownSignal::Request();  // the same stop as Ctrl+C / SIGTERM
      return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
      return NO_ERROR;
    default:
      return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

void WINAPI ServiceMain(DWORD, wchar_t**) {
  g_service->status_handle =
      RegisterServiceCtrlHandlerExW(kServiceName, OnServiceControl, nullptr);
  if (g_service->status_handle == nullptr) return;
  Report(SERVICE_RUNNING);
  // The MSI registers the service through the Windows Installer's ServiceInstall table,
  // which (in wixl) has no failure actions: the service sets its own at every start.
  // Best effort: without them it is simply not restarted after a crash.
  ScHandle scm{OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT)};
  ScHandle self{scm.h == nullptr ? nullptr
                                 : OpenServiceW(scm.h, kServiceName,
                                                SERVICE_CHANGE_CONFIG | SERVICE_START)};
  if (self.h != nullptr) SetRestartOnFailure(self.h);
  std::vector<char*> argv;
  for (std::string& a : g_service->args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int exit_code = g_service->run_agent(static_cast<int>(g_service->args.size()), argv.data());
  Report(SERVICE_STOPPED, static_cast<DWORD>(exit_code));
}

int RunUnderScm(int argc, char** argv, const std::function<int(int, char**)>& run_agent) {
  static ServiceRun service;
  service.args.assign(argv, argv + argc);
  service.run_agent = run_agent;
  g_service = &service;
  SERVICE_TABLE_ENTRYW table[] = {{const_cast<wchar_t*>(kServiceName), ServiceMain},
                                  {nullptr, nullptr}};
  if (!StartServiceCtrlDispatcherW(table)) {
    DWORD err = GetLastError();
    if (err == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
      std::cerr << "certbridge-agent service run: only the Service Control Manager starts "
                   "this; in a console use `certbridge-agent run`\n";
      return 2;
    }
    return Failed("StartServiceCtrlDispatcher", err);
  }
  return 0;
}

}  // namespace

bool HasServiceCommand() { return true; }

int ServiceCommand(int argc, char** argv, const std::function<int(int, char**)>& run_agent) {
  const std::string sub = argc > 0 ? argv[0] : "";
  if (sub == "install") return Install(argc - 1, argv + 1);
  if (sub == "uninstall" && argc == 1) return Uninstall();
  if (sub == "run") return RunUnderScm(argc - 1, argv + 1, run_agent);
  std::cerr << "Usage: certbridge-agent service install [run flags]   register the Windows "
               "service (elevated)\n"
               "       certbridge-agent service uninstall           stop and remove it\n"
               "       certbridge-agent service run [run flags]     what the service runs\n";
  return 2;
}

}  // namespace certbridge::agent
