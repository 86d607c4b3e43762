#!/usr/bin/env bash
# The local certbridge stack on this machine, for a first look and for demos:
# PostgreSQL, the broker, the AD CS emulator and an approved agent; then a certificate is
# issued from the emulator's CA and shown with openssl.
#
#   deploy/local/stack.sh          # (re)start the stack and issue a certificate
#   deploy/local/stack.sh down     # stop it and remove its state (.stack/)
#
# Everything runs on loopback; state, keys and logs are under .stack/ in the repo.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
state="$root/.stack"
build="${CERTBRIDGE_BUILD:-$root/build}"
bin="$build/bin"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "stack.sh: $*" >&2; exit 1; }

down() {
  if [ -d "$state" ]; then
    for pidfile in "$state"/*.pid; do
      [ -f "$pidfile" ] || continue
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    done
    [ -d "$state/pg" ] && "$root/deploy/local/pg.sh" destroy "$state/pg" >/dev/null 2>&1 || true
    rm -rf "$state"
  fi
}

# wait_for FILE SECONDS: until FILE exists and is non-empty.
wait_for() {
  for _ in $(seq $(( $2 * 10 ))); do [ -s "$1" ] && return 0; sleep 0.1; done
  return 1
}

start_bg() {  # start_bg NAME CMD...: runs CMD in the background, log and pid under .stack/
  local name=$1; shift
  nohup "$@" >"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}

if [ "${1:-up}" = "down" ]; then down; echo "stack stopped"; exit 0; fi
[ "${1:-up}" = "up" ] || die "usage: stack.sh [up|down]"

say "Installing what is missing and building (first time: several minutes)"
"$root/tools/install-deps.sh"
export CCACHE_BASEDIR="$root"
cmake -S "$root" -B "$build" -G Ninja >/dev/null
ninja -C "$build" -j2 certbridge-broker certbridge-agent certbridgectl adcs-emulator

down
mkdir -p "$state"

say "PostgreSQL"
dsn=$("$root/deploy/local/pg.sh" start "$state/pg")
echo "$dsn"

say "Key material (TLS root, broker certificate, connector CA, operator key)"
"$root/deploy/local/make-pki.sh" "$state/pki" >/dev/null
ls "$state/pki"

say "AD CS emulator (adcs01.corp.example\\Corp Issuing CA)"
start_bg emulator "$bin/adcs-emulator" --config "$root/agent/emulator/example-config.txtpb" \
  --state-dir "$state/emulator" --port-file "$state/emulator.port"
wait_for "$state/emulator.port" 30 || die "emulator did not start: $(cat "$state/emulator.log")"
emulator="127.0.0.1:$(tr -d '[:space:]' <"$state/emulator.port")"
echo "listening on $emulator"

say "Broker"
# The secret the SCEP RA keys are sealed with (docs/scep.md): a file, never a flag value.
[ -s "$state/scep-ra.secret" ] || (umask 077; openssl rand -hex 32 >"$state/scep-ra.secret")
start_bg broker "$bin/certbridge-broker" --database_url="$dsn" \
  --api_listen=127.0.0.1:0 --agent_listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 \
  --tls_cert="$state/pki/broker.pem" --tls_key="$state/pki/broker.key" \
  --connector_ca_cert="$state/pki/connector-ca.pem" --connector_ca_key="$state/pki/connector-ca.key" \
  --operator_key_file="$state/pki/operator.key" --port_file="$state/broker.ports" \
  --registration_url_base="https://console.local.invalid/connectors/approve" \
  --scep_listen=127.0.0.1:0 --scep_ra_secret_file="$state/scep-ra.secret" --scep_ra_renewal_interval=2s
wait_for "$state/broker.ports" 60 || die "broker did not start: $(cat "$state/broker.log")"
api_port=$(sed -n 's/^api=//p' "$state/broker.ports")
agent_port=$(sed -n 's/^agent=//p' "$state/broker.ports")
metrics_port=$(sed -n 's/^metrics=//p' "$state/broker.ports")
scep_port=$(sed -n 's/^scep=//p' "$state/broker.ports")
echo "API port 127.0.0.1:$api_port, agent port 127.0.0.1:$agent_port"
echo "Prometheus metrics: http://127.0.0.1:$metrics_port/metrics (series: docs/monitoring.md)"

ctl() { "$bin/certbridgectl" --broker "127.0.0.1:$api_port" --ca-cert "$state/pki/tls-ca.pem" "$@"; }

say "Tenant and its admin key (operator)"
export CERTBRIDGE_API_KEY
CERTBRIDGE_API_KEY=$(cat "$state/pki/operator.key")
tenant=$(ctl --output json tenants create "Local demo" | jq -r .tenant_id)
admin_key=$(ctl --output json api-keys create --tenant "$tenant" --scopes admin,certificates 2>/dev/null | jq -r .secret)
CERTBRIDGE_API_KEY=$admin_key
printf '%s' "$admin_key" >"$state/admin.key"
chmod 600 "$state/admin.key"
echo "tenant $tenant; admin key in .stack/admin.key"

say "Agent registration (a Windows admin would run this on the CA-side server)"
# The token goes through a file, not the command line, where the process list would show it.
(umask 077; ctl --output json enrollment-tokens create --description "local stack" 2>/dev/null \
  | jq -r .token > "$state/enrollment.token")
start_bg agent-register "$bin/certbridge-agent" register --broker "127.0.0.1:$agent_port" \
  --broker-ca "$state/pki/tls-ca.pem" --token-file "$state/enrollment.token" --state-dir "$state/agent" \
  --ca-identity 'CORP\AGENT01$' --host agent01.corp.example
code=""
for _ in $(seq 300); do
  code=$(sed -nE 's/.*Registration code: +([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}).*/\1/p' "$state/agent-register.log" | head -1)
  [ -n "$code" ] && break
  sleep 0.1
done
[ -n "$code" ] || die "agent printed no registration code: $(cat "$state/agent-register.log")"
cat "$state/agent-register.log" | grep -v '^{' || true
ctl connectors list

say "Approving registration code $code (what the tenant admin does)"
ctl connectors approve "$code"
for _ in $(seq 300); do kill -0 "$(cat "$state/agent-register.pid")" 2>/dev/null || break; sleep 0.1; done
rm -f "$state/agent-register.pid"

say "Agent stream"
start_bg agent "$bin/certbridge-agent" run --state-dir "$state/agent" \
  --ca-emulator "$emulator"
connector=$(ctl --output json connectors list | jq -r '.connectors[0].connector_id')
for _ in $(seq 100); do
  [ "$(ctl --output json connectors get "$connector" | jq -r .connectivity)" = "CONNECTIVITY_CONNECTED" ] && break
  sleep 0.2
done
ca=$(ctl --output json cas add 'adcs01.corp.example\Corp Issuing CA' --display-name "Corp Issuing CA" | jq -r .ca_id)
ctl cas assign "$ca" "$connector" >/dev/null
ctl connectors list

say "Issuing a certificate"
"$root/deploy/local/issue-demo.sh" "$state" "$ca"

say "SCEP profile (docs/scep.md)"
profile=$(ctl scep profiles create --display-name "Local devices" --ca-id "$ca" \
  --template CertbridgeDevice --ra-template CertbridgeScepRa | sed -n 's/^profile_id: //p')
for _ in $(seq 150); do
  ctl scep profiles get "$profile" | grep -q '^ra_certificate: issued' && break
  sleep 0.2
done
ctl scep profiles get "$profile"
scep_challenge=$(ctl scep challenges create "$profile" --device-id demo-device 2>/dev/null)

cat <<TXT

The stack keeps running. Try:
  export CERTBRIDGE_API_KEY=\$(cat .stack/admin.key)
  $bin/certbridgectl --broker 127.0.0.1:$api_port --ca-cert .stack/pki/tls-ca.pem connectors list
  curl -s http://127.0.0.1:$metrics_port/metrics | grep '^certbridge_requests_total'
SCEP URL: http://127.0.0.1:$scep_port/scep/$profile/pkiclient.exe
A fresh single-use challenge (1 h): $scep_challenge
  scepclient -server-url http://127.0.0.1:$scep_port/scep/$profile/pkiclient.exe \\
    -private-key /tmp/device.key -challenge '$scep_challenge' -cn demo-device
More challenges: $bin/certbridgectl --broker 127.0.0.1:$api_port --ca-cert .stack/pki/tls-ca.pem scep challenges create $profile
Logs: .stack/*.log. Stop with: deploy/local/stack.sh down
TXT
