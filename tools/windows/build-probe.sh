#!/usr/bin/env bash
# Compiles and links the Windows COM CA client (agent/ca/com_cert_client_win.cc) and a small
# probe program with mingw-w64, so a Windows build error is caught on Linux CI. The result
# cannot run here (under Wine CoCreateInstance(CCertRequest) gives REGDB_E_CLASSNOTREG);
# copy it to a domain-joined Windows host to try it against a real CA.
#
#   tools/windows/build-probe.sh [OUT_DIR]     (default: build-windows/)
#
# Needs Debian packages g++-mingw-w64-x86-64-posix and mingw-w64-x86-64-dev
# (tools/install-deps.sh). Exit status: 0 built; 1 compile/link error; 2 no compiler.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-${root}/build-windows}"
cxx="${CXX_MINGW:-x86_64-w64-mingw32-g++-posix}"

if ! command -v "${cxx}" >/dev/null 2>&1; then
  echo "build-probe: ${cxx} not found; install g++-mingw-w64-x86-64-posix" >&2
  exit 2
fi
mkdir -p "${out}"

# -posix: std::thread/std::mutex (the COM apartment thread) need the posix threading model.
# Static libstdc++/libgcc/winpthread so the .exe runs on a Windows host without mingw DLLs.
"${cxx}" -std=c++17 -O2 -Wall -Wextra -Werror \
  -I"${root}" \
  -o "${out}/certbridge-com-probe.exe" \
  "${root}/agent/ca/com_cert_client_win.cc" \
  "${root}/tools/windows/com_probe_main.cc" \
  -static -lole32 -loleaut32 -luuid

echo "build-probe: built ${out}/certbridge-com-probe.exe"
