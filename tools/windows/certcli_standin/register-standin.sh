#!/usr/bin/env bash
# Registers certcli_standin.dll in a Wine prefix under the real CLSIDs of CCertRequest,
# CCertAdmin and CCertView, pointed at an adcs-emulator, so that CoCreateInstance in the
# agent finds it as it would find certcli.dll / certadm.dll on Windows. TEST TOOL ONLY.
#
#   register-standin.sh WINEPREFIX_DIR CERTCLI_STANDIN_DLL EMULATOR_HOST:PORT IDENTITY
#   register-standin.sh WINEPREFIX_DIR --remove
#
# IDENTITY is who the emulator believes the caller is (on Windows: the Kerberos identity of
# the calling account, e.g. CORP\AGENT01$ for a service running as LocalSystem).
# The DLL is copied to C:\certbridge-standin\ in the prefix. One `wine regedit` import of a
# REGEDIT4 file (one Wine start instead of one per `wine reg add`).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${1:?usage: $0 WINEPREFIX_DIR DLL EMULATOR IDENTITY | WINEPREFIX_DIR --remove}"
mkdir -p "${prefix}"
prefix="$(cd "${prefix}" && pwd)"

clsids=(
  "98AFF3F0-5524-11D0-8812-00A0C903B83C CCertRequest"
  "37EABAF0-7FB6-11D0-8817-00A0C903B83C CCertAdmin"
  "A12D0F7A-1E84-11D1-9BD6-00C04FB683FA CCertView"
)
config_key='HKEY_LOCAL_MACHINE\SOFTWARE\Certbridge\CertCliStandIn'
reg="$(mktemp --suffix=.reg)"
trap 'rm -f "${reg}"' EXIT

# REGEDIT4 strings escape backslashes and quotes.
regstr() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }

if [ "${2:-}" = "--remove" ]; then
  {
    echo REGEDIT4
    for entry in "${clsids[@]}"; do
      echo
      echo "[-HKEY_LOCAL_MACHINE\\Software\\Classes\\CLSID\\{${entry%% *}}]"
    done
    echo
    echo "[-${config_key}]"
  } >"${reg}"
  "${here}/../wine-run.sh" "${prefix}" regedit /S "Z:${reg//\//\\}"
  rm -rf "${prefix}/drive_c/certbridge-standin"
  exit 0
fi

dll="${2:?missing DLL}"
emulator="${3:?missing EMULATOR_HOST:PORT}"
identity="${4:?missing IDENTITY}"
mkdir -p "${prefix}/drive_c/certbridge-standin"
cp "${dll}" "${prefix}/drive_c/certbridge-standin/certcli_standin.dll"
windll='C:\certbridge-standin\certcli_standin.dll'
{
  echo REGEDIT4
  for entry in "${clsids[@]}"; do
    clsid="${entry%% *}"
    echo
    echo "[HKEY_LOCAL_MACHINE\\Software\\Classes\\CLSID\\{${clsid}}]"
    echo "@=\"${entry#* } (certbridge stand-in for tests)\""
    echo
    echo "[HKEY_LOCAL_MACHINE\\Software\\Classes\\CLSID\\{${clsid}}\\InprocServer32]"
    echo "@=\"$(regstr "${windll}")\""
    echo "\"ThreadingModel\"=\"Both\""
  done
  echo
  echo "[${config_key}]"
  echo "\"Emulator\"=\"$(regstr "${emulator}")\""
  echo "\"Identity\"=\"$(regstr "${identity}")\""
} >"${reg}"
# regedit reads the file through its Unix path on Wine's Z: drive.
"${here}/../wine-run.sh" "${prefix}" regedit /S "Z:${reg//\//\\}"
