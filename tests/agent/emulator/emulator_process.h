// Test harness: runs the real adcs-emulator binary (from CERTBRIDGE_BUILD_DIR) on a free
// loopback port in a temp state dir, and shell helpers for checking with the openssl CLI.
#ifndef CERTBRIDGE_TESTS_AGENT_EMULATOR_EMULATOR_PROCESS_H_
#define CERTBRIDGE_TESTS_AGENT_EMULATOR_EMULATOR_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/support/process/child_process.h"

namespace certbridge::testing {

// A temp directory removed (recursively) on destruction.
class TempDir {
 public:
  TempDir() : path_(MakeTempDir("emu")) {}
  ~TempDir() { RemoveTree(path_); }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteTextFile(const std::string& path, const std::string& contents);

// Runs `command` with /bin/sh; stdout and stderr together in `out`.
CommandResult RunShell(const std::string& command);
std::string ShellQuote(const std::string& s);

class EmulatorProcess {
 public:
  // `config_text` is an EmulatorConfig in text format.
  EmulatorProcess(std::string config_text, std::string state_dir);
  ~EmulatorProcess();  // SIGKILLs the process if still running

  // Starts and waits (up to 30 s) for the port file. INTERNAL with the emulator's stderr
  // when it exits or never writes the port.
  absl::Status Start();
  // SIGTERM and wait; returns the exit status.
  int Stop();
  // Waits (up to `timeout_s`) for the process to exit by itself; its exit status, or
  // nullopt on timeout.
  std::optional<int> WaitForExit(int timeout_s);

  int port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string ca_cert_path() const { return state_dir_ + "/ca.cert.pem"; }
  std::string log() const;
  const std::string& state_dir() const { return state_dir_; }

 private:
  std::string config_text_;
  std::string state_dir_;
  TempDir files_;
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
};

}  // namespace certbridge::testing

#endif  // CERTBRIDGE_TESTS_AGENT_EMULATOR_EMULATOR_PROCESS_H_
