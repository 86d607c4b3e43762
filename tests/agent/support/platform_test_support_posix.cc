#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>

#include "tests/agent/support/platform_test_support.h"

namespace certbridge::agent::test_support {

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  return mkdtemp(tmpl.data()) == nullptr ? std::string() : tmpl;
}

std::pair<std::string, int> RunShell(const std::string& command) {
  std::string output;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return {"", -1};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  int status = pclose(p);
  return {output, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

bool HostHasOpensslCommand() { return true; }

bool HasAccess(const std::string& path, FileAccess access) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return false;
  const unsigned mode = st.st_mode & 07777;
  if (S_ISDIR(st.st_mode)) return access == FileAccess::kOwnerOnly && mode == 0700;
  return mode == (access == FileAccess::kOwnerOnly ? 0600u : 0644u);
}

bool OpenToOtherUsers(const std::string& dir) { return chmod(dir.c_str(), 0755) == 0; }

}  // namespace certbridge::agent::test_support
