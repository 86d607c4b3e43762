// Figures certbridge-bench reads about a process from /proc: the CPU time of a process tree,
// resident memory, the open-files limit. Linux only; every reader returns a sentinel (zero
// or -1) for a process that is gone or unreadable, so that a figure is missing rather than
// the bench failing.
#ifndef CERTBRIDGE_TOOLS_BENCH_PROC_FIGURES_H_
#define CERTBRIDGE_TOOLS_BENCH_PROC_FIGURES_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/time/time.h"

namespace certbridge::bench {

// User + system CPU time used so far by `root` and all its descendants: each live process's
// own utime+stime (/proc/<pid>/stat), plus cutime+cstime of each, which holds the time of
// children it has already reaped. The difference of two readings is the tree's CPU over the
// interval even when processes start and end within it (e.g. PostgreSQL backends forked by
// the postmaster per connection), as long as the tree's processes reap their children.
// Zero when `root` is gone.
absl::Duration ProcessTreeCpu(pid_t root);

// VmRSS from /proc/<pid>/status in KiB; -1 if unreadable.
int64_t RssKib(pid_t pid);

// "Max open files" (soft) of a process, from /proc/<pid>/limits; -1 if unreadable.
int64_t OpenFilesLimit(pid_t pid);

}  // namespace certbridge::bench

#endif  // CERTBRIDGE_TOOLS_BENCH_PROC_FIGURES_H_
