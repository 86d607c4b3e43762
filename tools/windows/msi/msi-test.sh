#!/usr/bin/env bash
# The agent's MSI under Wine, in a Wine prefix of its own made fresh for every run:
#   1. `msiexec /i certbridge-agent.msi /qn` installs C:\Program Files\certbridge\
#      certbridge-agent.exe (the same bytes as the build's), the service "certbridge-agent"
#      (automatic start, LocalSystem, `service run --state-dir "C:\ProgramData\certbridge-agent"`)
#      and the event log source; the state dir is not created by the MSI;
#   2. with a registration put in C:\ProgramData\certbridge-agent the way an older agent
#      wrote it (agent.key as plain PEM), `sc start` runs the installed service: RUNNING, it
#      opens its job journal, and agent.key is now DPAPI-protected (migration at first start);
#   3. `msiexec /x` stops and deletes the service and removes the exe and the event log
#      source, and leaves the state dir (docs/windows.md: uninstall keeps the registration).
# Registered in ctest by tools/windows/msi/msi.cmake (label "windows").
#
#   tools/windows/msi/msi-test.sh WINEPREFIX_PARENT MSI AGENT_EXE   (prefix: PARENT/run-<pid>)
set -euo pipefail
wineprefix="${1:?usage: $0 WINEPREFIX_PARENT MSI AGENT_EXE}"
msi="${2:?usage: $0 WINEPREFIX_PARENT MSI AGENT_EXE}"
agent_exe="${3:?usage: $0 WINEPREFIX_PARENT MSI AGENT_EXE}"
here="$(cd "$(dirname "$0")" && pwd)"
wine() { timeout 120 "${here}/../wine-run.sh" "${wineprefix}" "$@"; }
fail() {
  echo "msi-test: $*" >&2
  [ -f "${wineprefix}/drive_c/msi.log" ] && iconv -f UTF-16LE -t UTF-8 "${wineprefix}/drive_c/msi.log" 2>/dev/null |
    grep -iE 'error|fail|return value 3' | head -20 >&2
  exit 1
}
state_of() { wine sc query certbridge-agent | sed -n 's/^ *STATE *: *[0-9]* *//p' | tr -d '\r '; }
service_value() {  # the named value of the service's registry key, e.g. ImagePath
  wine reg query 'HKLM\SYSTEM\CurrentControlSet\Services\certbridge-agent' /v "$1" 2>/dev/null |
    sed -n "s/^ *$1 *REG_[A-Z_]* *//p" | tr -d '\r'
}

# A fresh prefix for each run, of its own (two runs of the build's tests at once must not
# share one): the install starts from a machine that never saw certbridge. Removed when the
# test passes, kept for a look when it fails.
mkdir -p "${wineprefix}"
wineprefix="$(cd "${wineprefix}" && pwd)/run-$$"
rm -rf "${wineprefix}" "${wineprefix}.lock"
mkdir -p "${wineprefix}"
wine cmd /c exit 0 >/dev/null  # boots the prefix (wine-run.sh)
cp "${msi}" "${wineprefix}/drive_c/certbridge-agent.msi"
# One wineserver (and services.exe) for the whole test; see tools/windows/service-test.sh.
WINEPREFIX="${wineprefix}" wineserver -p 300 2>/dev/null || true
passed=0
finish() {
  WINEPREFIX="${wineprefix}" wineserver -k 2>/dev/null || true
  if [ "${passed}" = 1 ]; then
    rm -rf "${wineprefix}" "${wineprefix}.lock"
  else
    echo "msi-test: Wine prefix kept in ${wineprefix}" >&2
  fi
}
trap finish EXIT

program_files="${wineprefix}/drive_c/Program Files/certbridge"
state_dir="${wineprefix}/drive_c/ProgramData/certbridge-agent"
event_source='HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\certbridge-agent'

# 1. Install.
wine msiexec /i 'C:\certbridge-agent.msi' /qn /l*v 'C:\msi.log' ||
  fail "msiexec /i exited $?"
[ -f "${program_files}/certbridge-agent.exe" ] || fail "no certbridge-agent.exe under Program Files"
cmp -s "${program_files}/certbridge-agent.exe" "${agent_exe}" ||
  fail "the installed exe is not the one built"
image_path="$(service_value ImagePath)"
case "${image_path}" in
  *'\Program Files\certbridge\certbridge-agent.exe'*' service run --state-dir "C:\ProgramData\certbridge-agent"') ;;
  *) fail "service ImagePath is \"${image_path}\"" ;;
esac
[ "$(service_value Start)" = 0x2 ] || fail "service start type $(service_value Start), want 0x2 (automatic)"
[ "$(service_value ObjectName)" = LocalSystem ] || fail "service account $(service_value ObjectName)"
wine reg query "${event_source}" /v EventMessageFile | grep -q 'certbridge\\certbridge-agent.exe' ||
  fail "no event log source"
[ ! -e "${state_dir}" ] || fail "the MSI created the state dir (register must, with its DACL)"
# ServiceControl started it without waiting; with no registration it stopped (exit code 1).
[ "$(state_of)" = STOPPED ] || fail "service is $(state_of) before registration, want STOPPED"

# 2. A registration (self-signed, broker on a closed port: the agent keeps reconnecting) with
# agent.key as plain PEM, as written before protection at rest.
mkdir -p "${state_dir}"
chmod 700 "${state_dir}"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj /CN=adcs01 -keyout "${state_dir}/agent.key" -out "${state_dir}/agent-chain.pem" 2>/dev/null
cp "${state_dir}/agent-chain.pem" "${state_dir}/broker-ca.pem"
printf 'broker=127.0.0.1:1\ntenant_id=t-1\nconnector_id=c-1\nhost=adcs01\nca_identity=ADCS01$\n' \
  > "${state_dir}/agent.conf"
grep -q 'BEGIN PRIVATE KEY' "${state_dir}/agent.key" || fail "test setup: no plain key"
for _ in $(seq 1 10); do
  wine sc start certbridge-agent >/dev/null || true
  [ "$(state_of)" = RUNNING ] && break
  sleep 1
done
[ "$(state_of)" = RUNNING ] || fail "installed service not RUNNING after sc start"
# (The service sets its own restart-on-failure actions at start; Wine's SCM does not
# implement SERVICE_CONFIG_FAILURE_ACTIONS, so that is for a real Windows host to check.)
for _ in $(seq 1 100); do
  [ -d "${state_dir}/journal" ] && head -1 "${state_dir}/agent.key" | grep -q '^certbridge-dpapi-machine-v1' && break
  sleep 0.2
done
[ -d "${state_dir}/journal" ] || fail "the service did not start its job side in ${state_dir}"
head -1 "${state_dir}/agent.key" | grep -q '^certbridge-dpapi-machine-v1$' ||
  fail "agent.key was not DPAPI-protected at first start"
! grep -q 'PRIVATE KEY' "${state_dir}/agent.key" || fail "agent.key still holds a plain PEM"

# 3. Uninstall while the service runs.
wine msiexec /x 'C:\certbridge-agent.msi' /qn /l*v 'C:\msi.log' || fail "msiexec /x exited $?"
if wine sc query certbridge-agent 2>/dev/null | grep -q SERVICE_NAME; then
  fail "service still registered after uninstall"
fi
[ ! -e "${program_files}/certbridge-agent.exe" ] || fail "certbridge-agent.exe left after uninstall"
if wine reg query "${event_source}" >/dev/null 2>&1; then fail "event log source left"; fi
[ -f "${state_dir}/agent.key" ] || fail "uninstall removed the state dir (it keeps it)"
passed=1
echo "msi-test: install (files, service, event source), service from ProgramData with DPAPI key, uninstall: OK"
