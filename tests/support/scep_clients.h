// How the SCEP tests run the SCEP clients nobody here wrote — Debian's scepclient
// (micromdm/scep) and certmonger (its daemon with the scep-submit helper, driven by getcert)
// — in one place: tests/broker/scep/scep_http_front_end_test.cc and
// scep_certmonger_front_end_test.cc (against the listener and a test CA) and
// tests/integration/scep_enrollment_test.cc (through broker, agent and emulator).
//
// Only command lines: each test runs them with the RunCommand it already uses (a shell line
// in tests/common/pki/openssl_cli.h, an argv in tests/support/process/child_process.h).
//
// scepclient has no flag for its poll interval: after PENDING it waits a fixed 30 s before
// it asks again (`scepclient -help`), which is most of a pending-approval test's time.
#ifndef CERTBRIDGE_TESTS_SUPPORT_SCEP_CLIENTS_H_
#define CERTBRIDGE_TESTS_SUPPORT_SCEP_CLIENTS_H_

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"

namespace certbridge::testing {

// scepclient (Debian's path: ChildProcess::Start does not search PATH) enrolling against
// `url` with the key at `key_path` (made when missing). It keeps
// its CSR and the certificate (client.pem) beside the key, and signs a renewal with that
// certificate when it is there, so each device gets a directory of its own.
inline std::vector<std::string> ScepClientArgv(absl::string_view url, absl::string_view key_path,
                                               absl::string_view challenge, absl::string_view cn) {
  return {"/usr/bin/scepclient", "-server-url", std::string(url),       "-private-key",
          std::string(key_path), "-challenge", std::string(challenge), "-cn",
          std::string(cn),       "-debug"};
}

// `argv` as one POSIX shell line, every word single-quoted.
inline std::string ShellLine(const std::vector<std::string>& argv) {
  std::string line;
  for (const std::string& word : argv) {
    absl::StrAppend(&line, line.empty() ? "" : " ", "'",
                    absl::StrReplaceAll(word, {{"'", "'\\''"}}), "'");
  }
  return line;
}

// The directories a private certmonger keeps its state in, under `state_dir`; create them
// before CertmongerDaemonLine runs.
inline std::vector<std::string> CertmongerStateDirs(absl::string_view state_dir) {
  std::vector<std::string> dirs;
  for (const char* sub : {"config", "requests", "cas", "tmp", "local"}) {
    dirs.push_back(absl::StrCat(state_dir, "/", sub));
  }
  return dirs;
}

// The first lines of a certmonger script: registers `ca_url` as the SCEP CA "testca"
// (certmonger then fetches the CA's capabilities and certificates itself), exiting 90 if
// that fails.
inline std::string CertmongerScriptPrologue(absl::string_view ca_url) {
  return absl::StrCat("set -u\n", "getcert add-scep-ca -s -c testca -u '", ca_url,
                      "' || exit 90\n");
}

// A shell line running `bash script_path` under a certmonger daemon of its own: a private
// D-Bus session bus and every state directory under `state_dir`, so nothing of the
// machine's certmonger (if any) is read or changed. The daemon exits when the script does;
// `timeout_seconds` bounds the whole.
inline std::string CertmongerDaemonLine(absl::string_view state_dir, absl::string_view script_path,
                                        int timeout_seconds) {
  return absl::StrCat("CERTMONGER_CONFIG_DIR=", state_dir, "/config CERTMONGER_REQUESTS_DIR=",
                      state_dir, "/requests CERTMONGER_CAS_DIR=", state_dir,
                      "/cas CERTMONGER_TMPDIR=", state_dir,
                      "/tmp CERTMONGER_LOCAL_CA_DIR=", state_dir,
                      "/local CERTMONGER_SYSTEM_LOCK_FILE=", state_dir, "/lock timeout ",
                      timeout_seconds, " dbus-run-session -- certmonger -s -n -B -c 'bash ",
                      script_path, "'");
}

}  // namespace certbridge::testing

#endif  // CERTBRIDGE_TESTS_SUPPORT_SCEP_CLIENTS_H_
