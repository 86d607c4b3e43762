#!/usr/bin/env bash
# certbridge-agent.exe as a Windows service under Wine's Service Control Manager:
# `service install`, `sc start` (RUNNING), `sc stop` (STOPPED with exit code 0, which
# AgentSession::Run returns only after a graceful Stop()), `service uninstall`.
# The state dir holds a self-signed registration pointing at a closed port, so the agent
# keeps reconnecting until it is stopped. Registered in ctest by windows_tests.cmake.
#
#   tools/windows/service-test.sh WINEPREFIX_DIR AGENT_EXE
set -euo pipefail
wineprefix="${1:?usage: $0 WINEPREFIX_DIR AGENT_EXE}"
exe="${2:?usage: $0 WINEPREFIX_DIR AGENT_EXE}"
here="$(cd "$(dirname "$0")" && pwd)"
wine() { timeout 120 "${here}/wine-run.sh" "${wineprefix}" "$@"; }
state_of() { wine sc query certbridge-agent | sed -n 's/^ *STATE *: *[0-9]* *//p' | tr -d '\r '; }
fail() { echo "service-test: $*" >&2; wine sc query certbridge-agent >&2 || true; exit 1; }

state_dir="${wineprefix}/drive_c/certbridge-service-test"
rm -rf "${state_dir}"
mkdir -p "${state_dir}"
chmod 700 "${state_dir}"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj /CN=adcs01 -keyout "${state_dir}/agent.key" -out "${state_dir}/agent-chain.pem" 2>/dev/null
cp "${state_dir}/agent-chain.pem" "${state_dir}/broker-ca.pem"
printf 'broker=127.0.0.1:1\ntenant_id=t-1\nconnector_id=c-1\nhost=adcs01\nca_identity=ADCS01$\n' \
  > "${state_dir}/agent.conf"

# One wineserver (and services.exe) for the whole test: by default it exits 3 s after the
# last Wine process, and a StartService right after it came back up was seen to fail.
WINEPREFIX="${wineprefix}" wineserver -p 300 2>/dev/null || true  # already running: fine
cleanup() {
  wine "${exe}" service uninstall >/dev/null 2>&1 || true
  WINEPREFIX="${wineprefix}" wineserver -k 2>/dev/null || true
}
trap cleanup EXIT
wine "${exe}" service uninstall >/dev/null 2>&1 || true   # a leftover from an aborted run
wine "${exe}" service install --state-dir 'C:\certbridge-service-test' --backoff-max-ms 2000
# sc start returns while the service is START_PENDING; the agent reports RUNNING at once.
for _ in $(seq 1 10); do
  wine sc start certbridge-agent >/dev/null || true
  [ "$(state_of)" = RUNNING ] && break
  sleep 1
done
[ "$(state_of)" = RUNNING ] || fail "not RUNNING after sc start"
# The agent got as far as opening its job journal.
for _ in $(seq 1 50); do
  [ -d "${state_dir}/journal" ] && break
  sleep 0.2
done
[ -d "${state_dir}/journal" ] || fail "the agent did not start its job side"
wine sc stop certbridge-agent >/dev/null
for _ in $(seq 1 100); do
  [ "$(state_of)" = STOPPED ] && break
  sleep 0.2
done
[ "$(state_of)" = STOPPED ] || fail "not STOPPED within 20 s of sc stop"
exit_code="$(wine sc query certbridge-agent | sed -n 's/^ *SERVICE_EXIT_CODE *: *\([0-9]*\).*/\1/p')"
win32_exit="$(wine sc query certbridge-agent | sed -n 's/^ *WIN32_EXIT_CODE *: *\([0-9]*\).*/\1/p')"
[ "${win32_exit}" = 0 ] && [ "${exit_code}" = 0 ] ||
  fail "stopped with WIN32_EXIT_CODE ${win32_exit}, SERVICE_EXIT_CODE ${exit_code} (want 0, 0)"
wine "${exe}" service uninstall
if wine sc query certbridge-agent | grep -q SERVICE_NAME; then
  fail "still registered after uninstall"
fi
rm -rf "${state_dir}"
echo "service-test: install, start, graceful stop, uninstall: OK"
