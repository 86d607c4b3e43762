#!/usr/bin/env bash
# Runs the Windows build's unit tests under Wine: `ctest -L windows` in BUILD_DIR, the
# output of tools/windows/build-agent.sh. Registered in the Linux build's ctest by
# tests/windows/CMakeLists.txt. Exit status: ctest's; 77 (skipped) when BUILD_DIR holds no
# Windows build.
set -euo pipefail
dir="${1:?usage: $0 WINDOWS_BUILD_DIR}"
if [ ! -f "${dir}/CTestTestfile.cmake" ]; then
  echo "run-wine-tests: no Windows build in ${dir}; run tools/windows/build-agent.sh ${dir}" >&2
  exit 77
fi
exec ctest --test-dir "${dir}" -L windows --output-on-failure --no-tests=error
