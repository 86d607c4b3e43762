// What the agent's tests need from the platform, one implementation per platform:
// platform_test_support_posix.cc (Linux) and platform_test_support_windows.cc (mingw, run
// under Wine). Lets the same test sources run on both.
#ifndef CERTBRIDGE_TESTS_AGENT_SUPPORT_PLATFORM_TEST_SUPPORT_H_
#define CERTBRIDGE_TESTS_AGENT_SUPPORT_PLATFORM_TEST_SUPPORT_H_

#include <string>
#include <utility>

#include "agent/platform/durable_files.h"

namespace certbridge::agent::test_support {

// A new, empty directory under the system's temporary directory, its name starting with
// `prefix`. Empty string on failure.
std::string MakeTempDir(const std::string& prefix);

// Output (stdout and stderr) and exit status of a command run by the host's shell.
// -1 when it could not be started.
std::pair<std::string, int> RunShell(const std::string& command);

// Whether the host can run `openssl` through RunShell (not under Wine: its cmd.exe has no
// openssl). Tests that use the OpenSSL command line as an independent check skip without.
bool HostHasOpensslCommand();

// True when the file or directory at `path` is protected the way the agent wrote it with
// `access` (agent/platform/durable_files.h):
//   POSIX: exactly mode 0600 (kOwnerOnly) or 0644 (kReadableByAll) for a file, 0700 for a
//   directory (kOwnerOnly);
//   Windows: a DACL that allows only SYSTEM, Administrators and the owner, and for
//   kReadableByAll also read (not write) for Users; that Users can read is not checked
//   (Wine does not keep that ACE). For a directory, kOwnerOnly.
bool HasAccess(const std::string& path, FileAccess access);

// Lets other users read the directory (POSIX chmod 0755; Windows an allow ACE for
// Users). False on failure.
bool OpenToOtherUsers(const std::string& dir);

}  // namespace certbridge::agent::test_support

#endif  // CERTBRIDGE_TESTS_AGENT_SUPPORT_PLATFORM_TEST_SUPPORT_H_
