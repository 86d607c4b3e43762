#!/usr/bin/env bash
# Runs a Windows program under Wine in a Wine prefix of the build tree, booting the prefix
# on first use. ctest runs every Windows test through it (CROSSCOMPILING_EMULATOR).
#
#   tools/windows/wine-run.sh WINEPREFIX_DIR PROGRAM.exe [ARGS...]
#
# WINEDEBUG=-all keeps Wine's own diagnostics out of the test output; the Mono and Gecko
# installers are not wanted (no .NET, no HTML). Exit status: the program's, or 127 without
# wine.
set -euo pipefail

export WINEPREFIX="${1:?usage: $0 WINEPREFIX_DIR PROGRAM [ARGS...]}"
shift
mkdir -p "${WINEPREFIX}"
WINEPREFIX="$(cd "${WINEPREFIX}" && pwd)"  # wine wants an absolute path
export WINEDEBUG="${WINEDEBUG:--all}"
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"

if ! command -v wine >/dev/null 2>&1; then
  echo "wine-run: wine not found; install wine and wine64 (tools/install-deps.sh)" >&2
  exit 127
fi
# One boot, even when ctest starts several tests at once.
(
  flock 9
  if [ ! -f "${WINEPREFIX}/system.reg" ]; then
    wineboot -i >/dev/null 2>&1
    wineserver -w
  fi
) 9>"${WINEPREFIX}.lock"
exec wine "$@"
