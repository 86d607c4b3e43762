#include "tests/agent/emulator/emulator_process.h"

#include <signal.h>

#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace certbridge::testing {

void WriteTextFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

CommandResult RunShell(const std::string& command) {
  return RunCommand({"/bin/sh", "-c", command + " 2>&1"});
}

EmulatorProcess::EmulatorProcess(std::string config_text, std::string state_dir)
    : config_text_(std::move(config_text)), state_dir_(std::move(state_dir)) {}

EmulatorProcess::~EmulatorProcess() = default;  // ChildProcess SIGKILLs a running process

std::string EmulatorProcess::log() const { return ReadFileOrEmpty(files_.File("stderr.log")); }

absl::Status EmulatorProcess::Start() {
  const std::string config = files_.File("config.txtpb");
  const std::string port_file = files_.File("port");
  WriteTextFile(config, config_text_);
  std::remove(port_file.c_str());
  absl::StatusOr<std::unique_ptr<ChildProcess>> process = ChildProcess::Start(
      {BuildPath("bin/adcs-emulator"), "--config", config, "--state-dir", state_dir_, "--listen",
       "127.0.0.1:0", "--port-file", port_file},
      files_.File("stderr.log"));
  if (!process.ok()) return process.status();
  process_ = *std::move(process);
  port_ = 0;
  WaitUntil(
      [&] {
        int port = 0;
        if (absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFileOrEmpty(port_file)), &port) &&
            port > 0) {
          port_ = port;
          return true;
        }
        return !process_->Running();
      },
      absl::Seconds(30));
  if (port_ > 0) return absl::OkStatus();
  if (!process_->Running()) {
    return absl::InternalError(absl::StrCat("adcs-emulator exited during start-up: ", log()));
  }
  return absl::DeadlineExceededError(absl::StrCat("adcs-emulator wrote no port file: ", log()));
}

std::optional<int> EmulatorProcess::WaitForExit(int timeout_s) {
  if (process_ == nullptr) return std::nullopt;
  return process_->WaitForExit(absl::Seconds(timeout_s));
}

int EmulatorProcess::Stop() {
  if (process_ == nullptr) return -1;
  process_->Signal(SIGTERM);
  return WaitForExit(30).value_or(-1);
}

}  // namespace certbridge::testing
