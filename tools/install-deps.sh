#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, run and test certbridge.
# Idempotent: packages already present are skipped quickly by apt.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  golang-github-gogo-googleapis-dev  # google/rpc/{status,error_details}.proto (proto/CMakeLists.txt)
  libabsl-dev libssl-dev openssl libpq-dev
  prometheus-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev
  postgresql-15 postgresql-client-15 jq clang libclang-rt-14-dev
  prometheus curl
  g++-mingw-w64-x86-64-posix mingw-w64-x86-64-dev
  wine wine64 msitools wixl tinyproxy haproxy
  podman runc netavark aardvark-dns iptables debootstrap
  golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev
  libmicrohttpd-dev  # the broker's SCEP listener (broker/scep/scep_http_server.h)
  libcurl4-openssl-dev  # certbridge-bench's SCEP devices: HTTP client (tools/bench/scep_http_client.h)
  scep  # micromdm's scepclient, the SCEP client of tests/broker/scep's front-end test
  certmonger  # certmonger and its scep-submit: the second SCEP client (tests/broker/scep)
  python3-grpcio python3-protobuf python3-cryptography  # the Python example client (examples/python)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "install-deps: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's postgresql package starts a cluster on port 5432 through systemd/pg_ctlcluster
# on some images; certbridge never uses it: tests and the local stack run their own
# throwaway servers from /usr/lib/postgresql/15/bin.
test -x /usr/lib/postgresql/15/bin/initdb || { echo "install-deps: initdb missing" >&2; exit 1; }

# npm packages, pinned by the committed package-lock.json files and installed into the
# folder beside them (node_modules, not committed): buf for tools/check-protos.sh, and
# @grpc/grpc-js + @grpc/proto-loader for the Node.js example client. Debian's nodejs and
# npm unless a Node.js with npm is already installed (NodeSource's nodejs ships npm and
# conflicts with Debian's npm package). npm ci runs again only when a lock file changed.
if ! command -v npm >/dev/null; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "install-deps: installing nodejs npm"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
for dir in tools/buf examples/node; do
  root="$(dirname "$0")/../$dir"
  [ -f "$root/package-lock.json" ] || continue
  if ! cmp -s "$root/package-lock.json" "$root/node_modules/.certbridge-installed-lock.json"; then
    echo "install-deps: npm ci in $dir"
    (cd "$root" && npm ci --no-audit --no-fund --loglevel=error >/dev/null &&
       cp package-lock.json node_modules/.certbridge-installed-lock.json)
  fi
done
