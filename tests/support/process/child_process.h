// Real processes for integration tests: start a binary with its output in a log file,
// signal it, wait for it, and run short commands to completion.
#ifndef CERTBRIDGE_TESTS_SUPPORT_PROCESS_CHILD_PROCESS_H_
#define CERTBRIDGE_TESTS_SUPPORT_PROCESS_CHILD_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace certbridge::testing {

class ChildProcess {
 public:
  // Starts argv[0] (a path) with stdout and stderr appended to `log_path`.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                            const std::string& log_path);
  // Kills the process (SIGKILL) if it is still running.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  void Signal(int signal_number);
  // The exit code (128+signal if killed), or nullopt if still running after `timeout`.
  std::optional<int> WaitForExit(absl::Duration timeout);
  bool Running();
  std::string Log() const;

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string log_path_;
  std::optional<int> exit_code_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs a command to completion (killed after `timeout`), capturing stdout and stderr.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         absl::Duration timeout = absl::Seconds(60));

// Polls `condition` every 20 ms until it holds or `timeout` passes.
bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout);

std::string ReadFileOrEmpty(const std::string& path);
// A new empty directory under TMPDIR; removed by RemoveTree.
std::string MakeTempDir(const std::string& prefix);
void RemoveTree(const std::string& path);

// $CERTBRIDGE_BUILD_DIR/<relative> and $CERTBRIDGE_SOURCE_DIR/<relative>.
std::string BuildPath(const std::string& relative);
std::string SourcePath(const std::string& relative);

}  // namespace certbridge::testing

#endif  // CERTBRIDGE_TESTS_SUPPORT_PROCESS_CHILD_PROCESS_H_
