// certbridge-bench's output: the table of every figure (docs/benchmarks.md explains each).
#ifndef CERTBRIDGE_TOOLS_BENCH_REPORT_H_
#define CERTBRIDGE_TOOLS_BENCH_REPORT_H_

#include <string>

#include "tools/bench/figures.h"

namespace certbridge::bench {

// /proc/loadavg's first three fields: shows how busy the shared machine was.
std::string LoadAverage();

// Prints the table to stdout; a run not measured prints "not measured".
void PrintTable(const Figures& f, const std::string& load_at_start);

}  // namespace certbridge::bench

#endif  // CERTBRIDGE_TOOLS_BENCH_REPORT_H_
