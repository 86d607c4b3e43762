#include "tools/bench/proc_figures.h"

#include <dirent.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/support/process/child_process.h"

namespace certbridge::bench {
namespace {

using testing::ReadFileOrEmpty;

struct ProcStat {
  pid_t ppid = 0;
  int64_t own_ticks = 0;     // utime + stime
  int64_t reaped_ticks = 0;  // cutime + cstime
};

// /proc/<pid>/stat: "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
// the fields are counted from the last ')'. After it: state(3) ppid(4) ... utime(14)
// stime(15) cutime(16) cstime(17), numbered as in proc(5).
bool ReadProcStat(pid_t pid, ProcStat& out) {
  const std::string content = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/stat"));
  const size_t paren = content.rfind(')');
  if (paren == std::string::npos) return false;
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(content).substr(paren + 1), ' ', absl::SkipEmpty());
  if (fields.size() < 15) return false;
  int64_t utime = 0, stime = 0, cutime = 0, cstime = 0;
  int ppid = 0;
  if (!absl::SimpleAtoi(fields[1], &ppid) || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime) || !absl::SimpleAtoi(fields[13], &cutime) ||
      !absl::SimpleAtoi(fields[14], &cstime)) {
    return false;
  }
  out.ppid = ppid;
  out.own_ticks = utime + stime;
  out.reaped_ticks = cutime + cstime;
  return true;
}

}  // namespace

absl::Duration ProcessTreeCpu(pid_t root) {
  std::map<pid_t, ProcStat> all;
  if (DIR* proc = ::opendir("/proc"); proc != nullptr) {
    while (dirent* entry = ::readdir(proc)) {
      int pid = 0;
      if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
      ProcStat stat;
      if (ReadProcStat(pid, stat)) all[pid] = stat;
    }
    ::closedir(proc);
  }
  if (all.find(root) == all.end()) return absl::ZeroDuration();
  std::multimap<pid_t, pid_t> children;
  for (const auto& [pid, stat] : all) children.emplace(stat.ppid, pid);
  int64_t ticks = 0;
  std::vector<pid_t> pending = {root};
  while (!pending.empty()) {
    const pid_t pid = pending.back();
    pending.pop_back();
    ticks += all[pid].own_ticks + all[pid].reaped_ticks;
    auto [begin, end] = children.equal_range(pid);
    for (auto it = begin; it != end; ++it) pending.push_back(it->second);
  }
  const long hz = ::sysconf(_SC_CLK_TCK);
  return absl::Seconds(1) * static_cast<double>(ticks) / static_cast<double>(hz > 0 ? hz : 100);
}

int64_t RssKib(pid_t pid) {
  for (absl::string_view line :
       absl::StrSplit(ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/status")), '\n')) {
    if (absl::ConsumePrefix(&line, "VmRSS:")) {
      int64_t kib = 0;
      line = absl::StripAsciiWhitespace(line);
      absl::ConsumeSuffix(&line, "kB");
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &kib)) return kib;
    }
  }
  return -1;
}

int64_t OpenFilesLimit(pid_t pid) {
  for (absl::string_view line :
       absl::StrSplit(ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/limits")), '\n')) {
    if (absl::ConsumePrefix(&line, "Max open files")) {
      std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
      int64_t soft = 0;
      if (!fields.empty() && absl::SimpleAtoi(fields[0], &soft)) return soft;
      if (!fields.empty() && fields[0] == "unlimited") return INT64_MAX;
    }
  }
  return -1;
}

}  // namespace certbridge::bench
