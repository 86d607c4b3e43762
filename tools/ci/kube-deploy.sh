#!/usr/bin/env bash
# The deployment test: the chart's broker Deployment run with `podman kube play` (two
# replicas) against PostgreSQL in a container built on the images' debootstrap base, and a
# certificate issued through it by an agent and adcs-emulator running on the host.
#
# podman 4.3 (Debian 12) is not Kubernetes, and this test works around what it lacks:
#  - Secrets are made with `podman secret create` (its reading of Secret objects in the YAML
#    is broken), in the two forms its kube play reads (see env_secret and volume_secret).
#  - It has no Job: the migration Job's command (--migrate_only) is run with podman run.
#  - It publishes every containerPort on the host, so replicas collide: the ports list is
#    removed and the replicas are reached at their addresses on a podman network made for
#    the test (a network namespace of this machine).
#  - It does not enforce probes: readiness is polled here (a TCP connect, like the chart's).
# Services, the PDB and the rest are not run; tools/ci/helm-chart.sh checks them.
#
# Usage: tools/ci/kube-deploy.sh [BUILD_DIR]
# Runs after tools/ci/container-image.sh (the images) and tools/ci/helm-chart.sh (helm-render
# in BUILD_DIR/helm-chart, tools/k8s-validate's node_modules), as tools/test.sh orders them.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
build="$(cd "${1:-build}" && pwd)"
bin="$build/bin"
work="$build/kube-deploy"
export CONTAINERS_CONF="$root/deploy/container/containers.conf"
net=certbridge-kube-test
subnet_prefix=10.89.231
start=$(date +%s)
echo "== deployment test: the chart's Deployment with podman kube play (tools/ci/kube-deploy.sh)"

say() { echo "kube-deploy: $*"; }
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  podman pod rm -f certbridge-pod-0 certbridge-pod-1 >/dev/null 2>&1 || true
  podman rm -f cb-kube-postgres >/dev/null 2>&1 || true
  podman network rm -f "$net" >/dev/null 2>&1 || true
  for s in certbridge-database certbridge-tls certbridge-connector-ca certbridge-operator-key; do
    podman secret rm "$s" >/dev/null 2>&1 || true
    podman volume rm -f "$s" >/dev/null 2>&1 || true  # kube play copies a secret into a volume once
  done
}
die() {
  echo "kube-deploy: error: $*" >&2
  for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done
  for c in certbridge-pod-0-broker certbridge-pod-1-broker cb-kube-postgres; do
    echo "--- podman logs $c" >&2; podman logs "$c" 2>&1 | tail -n 15 >&2 || true
  done
  exit 1
}
trap cleanup EXIT
cleanup
rm -rf "$work"
mkdir -p "$work"

podman image exists localhost/certbridge-broker:dev || die "no broker image: run tools/ci/container-image.sh first"

# --- PostgreSQL in a container -------------------------------------------------------------
podman build --quiet --build-arg BASE_IMAGE=localhost/certbridge-base:latest \
  -f tests/deploy/postgres.Containerfile -t localhost/certbridge-test-postgres:dev tests/deploy \
  >"$work/postgres-build.log" 2>&1 || die "building the PostgreSQL image failed"
podman network create --subnet "$subnet_prefix.0/24" "$net" >/dev/null
pg_password="$(openssl rand -hex 16)"
podman run -d --name cb-kube-postgres --network "$net" --ip "$subnet_prefix.10" \
  -e POSTGRES_PASSWORD="$pg_password" localhost/certbridge-test-postgres:dev >/dev/null
dsn="postgresql://certbridge:$pg_password@$subnet_prefix.10:5432/certbridge"
for _ in $(seq 120); do
  podman exec cb-kube-postgres pg_isready -q -h 127.0.0.1 2>/dev/null && break
  [ "$(podman inspect cb-kube-postgres --format '{{.State.Running}}')" = true ] ||
    die "PostgreSQL exited: $(podman inspect cb-kube-postgres --format '{{.State.ExitCode}} {{.State.Error}}')"
  sleep 0.5
done
podman exec cb-kube-postgres pg_isready -q -h 127.0.0.1 || die "PostgreSQL did not start"

# --- Key material; the broker certificate names the replica addresses -------------------------
pki="$work/pki"
deploy/local/make-pki.sh "$pki" >/dev/null
san="DNS:localhost"
# Replica addresses are not known before kube play: name every address of the test subnet.
for i in $(seq 2 254); do san="$san,IP:$subnet_prefix.$i"; done
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=certbridge" \
  -keyout "$pki/broker.key" -out "$pki/broker.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' \
  "$san" >"$pki/broker.ext"
openssl x509 -req -in "$pki/broker.csr" -CA "$pki/tls-ca.pem" -CAkey "$pki/tls-ca.key" \
  -CAcreateserial -days 2 -sha256 -extfile "$pki/broker.ext" -out "$pki/broker.pem" 2>/dev/null

# podman 4.3 reads a secret two ways: for secretKeyRef, as a JSON map of base64 values; for a
# secret volume, as a Secret object whose data values are the files' raw contents.
env_secret() {  # env_secret NAME KEY FILE
  jq -n --arg k "$2" --arg v "$(base64 -w0 <"$3")" '{($k): $v}' >"$work/secret.json"
  podman secret create "$1" "$work/secret.json" >/dev/null
  rm -f "$work/secret.json"
}
volume_secret() {  # volume_secret NAME KEY=FILE...
  local name=$1 data='{}'
  shift
  for kv in "$@"; do
    data="$(jq --arg k "${kv%%=*}" --rawfile v "${kv#*=}" '. + {($k): $v}' <<<"$data")"
  done
  jq -n --arg n "$name" --argjson d "$data" '{apiVersion: "v1", kind: "Secret", metadata: {name: $n}, data: $d}' \
    >"$work/secret.json"
  podman secret create "$name" "$work/secret.json" >/dev/null
  rm -f "$work/secret.json"
}
printf '%s' "$dsn" >"$work/dsn"
env_secret certbridge-database database-url "$work/dsn"
rm -f "$work/dsn"
volume_secret certbridge-tls tls.crt="$pki/broker.pem" tls.key="$pki/broker.key"
volume_secret certbridge-connector-ca tls.crt="$pki/connector-ca.pem" tls.key="$pki/connector-ca.key"
volume_secret certbridge-operator-key operator-key="$pki/operator.key"

# --- Migrations, as the chart's pre-install Job runs them ---------------------------------------
podman run --rm --network "$net" --read-only --cap-drop=ALL --security-opt=no-new-privileges \
  -e CERTBRIDGE_DATABASE_URL="$dsn" localhost/certbridge-broker:dev --migrate_only \
  >"$work/migrate.log" 2>&1 || die "certbridge-broker --migrate_only failed"
say "migrations applied (--migrate_only)"

# --- The chart's Deployment, two replicas ---------------------------------------------------------
"$build/helm-chart/helm-render" -name certbridge -f tests/deploy/kube-values.yaml helm/certbridge \
  >"$work/rendered.yaml" 2>"$work/render.log" || die "rendering the chart failed"
node tools/k8s-validate/podman-deployment.mjs "$work/rendered.yaml" >"$work/deployment.yaml" ||
  die "extracting the Deployment failed"
podman kube play --network "$net" "$work/deployment.yaml" >"$work/kube-play.log" 2>&1 ||
  die "podman kube play failed"

replicas=()
for p in certbridge-pod-0 certbridge-pod-1; do
  ip=""
  for _ in $(seq 50); do
    infra="$(podman pod inspect "$p" --format '{{.InfraContainerID}}' 2>/dev/null || true)"
    [ -n "$infra" ] && ip="$(podman inspect "$infra" --format "{{(index .NetworkSettings.Networks \"$net\").IPAddress}}" 2>/dev/null || true)"
    [ -n "$ip" ] && break
    sleep 0.2
  done
  [ -n "$ip" ] || die "$p has no address on $net"
  replicas+=("$ip")
done
for ip in "${replicas[@]}"; do
  ready=""
  for _ in $(seq 150); do
    if (exec 3<>"/dev/tcp/$ip/8443") 2>/dev/null; then ready=1; break; fi
    sleep 0.2
  done
  [ -n "$ready" ] || die "replica $ip did not listen on 8443"
done
say "two replicas ready: ${replicas[*]}"

# --- Tenant, agent and a certificate, each step through a replica ---------------------------------
a="${replicas[0]}" b="${replicas[1]}"
ctl() { local host=$1; shift; "$bin/certbridgectl" --broker "$host:8443" --ca-cert "$pki/tls-ca.pem" "$@"; }
export CERTBRIDGE_API_KEY
CERTBRIDGE_API_KEY="$(cat "$pki/operator.key")"
tenant="$(ctl "$a" --output json tenants create "kube test" 2>>"$work/ctl.log" | jq -r .tenant_id)" ||
  die "creating a tenant through replica $a failed"
CERTBRIDGE_API_KEY="$(ctl "$b" --output json api-keys create --tenant "$tenant" --scopes admin,certificates 2>>"$work/ctl.log" | jq -r .secret)"
token="$(ctl "$a" --output json enrollment-tokens create --description "kube test" 2>>"$work/ctl.log" | jq -r .token)"

"$bin/adcs-emulator" --config agent/emulator/example-config.txtpb --state-dir "$work/emulator" \
  --port-file "$work/emulator.port" >"$work/emulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/emulator.port" ] && break; sleep 0.1; done
[ -s "$work/emulator.port" ] || die "adcs-emulator did not start"
emulator="127.0.0.1:$(tr -d '[:space:]' <"$work/emulator.port")"

"$bin/certbridge-agent" register --broker "$b:8444" --broker-ca "$pki/tls-ca.pem" --token "$token" \
  --state-dir "$work/agent" --ca-identity 'CORP\AGENT01$' --host agent01.corp.example \
  >"$work/agent-register.log" 2>&1 &
register_pid=$!
pids+=("$register_pid")
code=""
for _ in $(seq 300); do
  code="$(sed -nE 's/.*Registration code: +([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}).*/\1/p' "$work/agent-register.log" | head -n1)"
  [ -n "$code" ] && break
  sleep 0.1
done
[ -n "$code" ] || die "the agent printed no registration code"
ctl "$a" connectors approve "$code" >/dev/null
wait "$register_pid" || die "agent registration failed"

"$bin/certbridge-agent" run --state-dir "$work/agent" --ca-emulator "$emulator" >"$work/agent.log" 2>&1 &
pids+=($!)
connector="$(ctl "$a" --output json connectors list | jq -r '.connectors[0].connector_id')"
connected=""
for _ in $(seq 150); do
  [ "$(ctl "$b" --output json connectors get "$connector" | jq -r .connectivity)" = CONNECTIVITY_CONNECTED ] && { connected=1; break; }
  sleep 0.2
done
[ -n "$connected" ] || die "the agent did not connect"
ca="$(ctl "$a" --output json cas add 'adcs01.corp.example\Corp Issuing CA' --display-name "Corp Issuing CA" | jq -r .ca_id)"
ctl "$b" cas assign "$ca" "$connector" >/dev/null

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kube-test-device" \
  -keyout "$work/device.key" -out "$work/device.csr" 2>/dev/null
for host in "$a" "$b"; do
  ctl "$host" certificates request --ca "$ca" --template CertbridgeDevice --csr "$work/device.csr" \
    --san dns:kube-test.devices.example --wait 60s --out-cert "$work/device-$host.pem" \
    >"$work/request-$host.log" 2>&1 || die "certificate request through replica $host failed"
  openssl verify -CAfile "$work/emulator/ca.cert.pem" "$work/device-$host.pem" >/dev/null ||
    die "the certificate issued through $host does not verify against the emulator CA"
done
say "certificates issued through both replicas and verified against the emulator CA"
say "ok in $(( $(date +%s) - start ))s"
