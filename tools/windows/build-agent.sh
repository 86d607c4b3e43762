#!/usr/bin/env bash
# Builds the Windows x64 agent, certbridge-agent.exe, and its Wine-run unit tests with
# mingw-w64, from the same sources as the Linux agent (tools/windows/CMakeLists.txt).
#
#   tools/windows/build-agent.sh [OUT_DIR]      (default: build/windows)
#
# OUT_DIR/prefix      the static gRPC/OpenSSL prefix (tools/windows/mingw-prefix.sh)
# OUT_DIR/bin/certbridge-agent.exe, OUT_DIR/bin/*_test.exe
# OUT_DIR/certbridge-agent-<version>-x64.msi   (wixl; tools/windows/msi/)
# OUT_DIR/wine        the Wine prefix the tests run in (tools/windows/wine-run.sh)
#
# Run the tests with `ctest --test-dir OUT_DIR -L windows` (tools/test.sh runs them through
# the Linux build's ctest: tests/windows/). Needs g++-mingw-w64-x86-64-posix, the host's
# protoc and grpc_cpp_plugin, and wine for the tests (tools/install-deps.sh).
# Exit status: 0 built; 1 build error or an exe that needs a non-system DLL.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-${root}/build/windows}"
mkdir -p "${out}"
out="$(cd "${out}" && pwd)"

"${root}/tools/windows/mingw-prefix.sh" "${out}/prefix"

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "${root}/tools/windows" -B "${out}" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="${root}/cmake/mingw-toolchain.cmake" \
  -DMINGW_DEPS_PREFIX="${out}/prefix" -DCMAKE_PREFIX_PATH="${out}/prefix" \
  -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
ninja -C "${out}" -j2

# A customer's host has no mingw runtime: every import must be a Windows system DLL.
system_dlls='^(advapi32|bcrypt|crypt32|dbghelp|iphlpapi|kernel32|msvcrt|ole32|oleaut32|user32|ws2_32|rpcrt4|shell32|secur32|ntdll)\.dll$'
status=0
for exe in "${out}"/bin/*.exe; do
  while read -r dll; do
    if ! echo "${dll}" | tr 'A-Z' 'a-z' | grep -Eq "${system_dlls}"; then
      echo "build-agent: $(basename "${exe}") imports ${dll}, which Windows does not ship" >&2
      status=1
    fi
  done < <(x86_64-w64-mingw32-objdump -p "${exe}" | sed -n 's/^\s*DLL Name: //p')
done
[ "${status}" -eq 0 ] && echo "build-agent: built ${out}/bin/certbridge-agent.exe"
exit "${status}"
