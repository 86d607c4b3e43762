// Test support: a temporary directory and the `openssl` command line, to check our
// output with an independent reader.
#ifndef CERTBRIDGE_TESTS_COMMON_PKI_OPENSSL_CLI_H_
#define CERTBRIDGE_TESTS_COMMON_PKI_OPENSSL_CLI_H_

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace certbridge::pki::testing {

class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = ::testing::TempDir() + "/pki_test_XXXXXX";
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  // Writes `contents` to <dir>/<name>; returns the full path.
  std::string Write(absl::string_view name, absl::string_view contents) const {
    std::string file = path_ + "/" + std::string(name);
    std::ofstream out(file, std::ios::binary);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    EXPECT_TRUE(out.good()) << file;
    return file;
  }
  std::string Read(absl::string_view name) const {
    std::ifstream in(path_ + "/" + std::string(name), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::string Path(absl::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `command` with /bin/sh, stderr merged into stdout.
inline CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace certbridge::pki::testing

#endif  // CERTBRIDGE_TESTS_COMMON_PKI_OPENSSL_CLI_H_
