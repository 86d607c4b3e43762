#!/usr/bin/env bash
# Runs a throwaway PostgreSQL 15 server in a directory, for tests and the local stack.
#
#   pg.sh start DIR    initdb DIR/data on first use, start on 127.0.0.1 at a free port,
#                      create database "certbridge"; prints the DSN
#                      (postgresql://USER@127.0.0.1:PORT/certbridge) on stdout and writes
#                      it to DIR/dsn. Everything else goes to stderr.
#   pg.sh stop DIR     fast shutdown; keeps the files (a later start reuses them).
#   pg.sh destroy DIR  stop, then remove DIR.
#
# Environment:
#   CERTBRIDGE_PG_FAST=1        no fsync / no synchronous commit: for tests only, never data
#                               you want to keep. Default: durable settings.
#   CERTBRIDGE_PG_OWNER_PID=N   destroy DIR once process N has exited (so a crashed test
#                               leaves no server behind). Default: none.
#   CERTBRIDGE_PG_BIN=path      server binaries. Default: /usr/lib/postgresql/15/bin.
#
# Authentication is "trust", which is why the server listens on loopback and on a unix
# socket inside DIR only. initdb and postgres refuse to run as root: as root, they run as
# the "postgres" system user (DIR is chowned to it) and the DSN user is "postgres".
set -euo pipefail

PG_BIN="${CERTBRIDGE_PG_BIN:-/usr/lib/postgresql/15/bin}"
SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"

die() { echo "pg.sh: $*" >&2; exit 1; }
usage() { die "usage: pg.sh start|stop|destroy DIR"; }

[ $# -eq 2 ] || usage
cmd="$1"
dir_arg="$2"

if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 ||
    die "running as root needs the 'postgres' system user (install postgresql-15: tools/install-deps.sh)"
  PG_USER=postgres
  as_pg() { runuser -u postgres -- "$@"; }
else
  PG_USER="$(id -un)"
  as_pg() { "$@"; }
fi

# A port nothing listens on now. Another process may still take it before the server
# binds; the start loop below then retries with a new port.
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' && return
  fi
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 40000))
    # bash's /dev/tcp: a refused connection means the port is free.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
      echo "${port}"
      return
    fi
  done
  die "no free port found on 127.0.0.1"
}

is_running() {
  [ -f "$1/data/postmaster.pid" ] && as_pg "${PG_BIN}/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

do_stop() {
  local dir="$1"
  [ -d "${dir}/data" ] || return 0
  if is_running "${dir}"; then
    as_pg "${PG_BIN}/pg_ctl" -D "${dir}/data" -s -m fast -w -t 60 stop >&2 ||
      as_pg "${PG_BIN}/pg_ctl" -D "${dir}/data" -s -m immediate -w -t 60 stop >&2
  fi
}

do_start() {
  mkdir -p "${dir_arg}"
  local dir
  dir="$(cd "${dir_arg}" && pwd)"
  [ -x "${PG_BIN}/initdb" ] || die "${PG_BIN}/initdb not found (run tools/install-deps.sh)"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "${dir}"
    as_pg test -w "${dir}" ||
      die "user postgres cannot write ${dir}: choose a directory under /tmp or another path it can reach"
  fi
  if is_running "${dir}"; then
    die "a server already runs in ${dir}; stop it first"
  fi

  if [ ! -f "${dir}/data/PG_VERSION" ]; then
    local sync_flag=()
    [ "${CERTBRIDGE_PG_FAST:-0}" = "1" ] && sync_flag=(--no-sync)
    as_pg "${PG_BIN}/initdb" -D "${dir}/data" -U "${PG_USER}" -E UTF8 --locale=C \
      --auth-local=trust --auth-host=trust "${sync_flag[@]}" >"${dir}/initdb.log" 2>&1 ||
      { cat "${dir}/initdb.log" >&2; die "initdb failed in ${dir}/data"; }
    # Loopback and the socket in DIR only: trust must never reach another host.
    as_pg tee "${dir}/data/pg_hba.conf" >/dev/null <<'EOF'
local all all trust
host  all all 127.0.0.1/32 trust
EOF
    echo "include 'certbridge.conf'" | as_pg tee -a "${dir}/data/postgresql.conf" >/dev/null
    as_pg mkdir -p "${dir}/sock"
  fi

  local durability
  if [ "${CERTBRIDGE_PG_FAST:-0}" = "1" ]; then
    durability="fsync = off
synchronous_commit = off
full_page_writes = off"
  else
    durability="fsync = on"
  fi

  local port attempt
  for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    # Rewritten on each start: the port is picked anew every time.
    as_pg tee "${dir}/data/certbridge.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = '${dir}/sock'
max_connections = 200
shared_buffers = 32MB
logging_collector = off
${durability}
EOF
    if as_pg "${PG_BIN}/pg_ctl" -D "${dir}/data" -s -l "${dir}/server.log" -w -t 60 start >&2; then
      break
    fi
    # Another process may have taken the port between the probe and the bind: retry.
    grep -q "could not bind\|Address already in use" "${dir}/server.log" 2>/dev/null ||
      die "server failed to start; see ${dir}/server.log"
    [ "${attempt}" -lt 5 ] || die "server failed to start after 5 ports; see ${dir}/server.log"
  done

  local exists
  exists="$(as_pg "${PG_BIN}/psql" -X -qtA -h 127.0.0.1 -p "${port}" -U "${PG_USER}" -d postgres \
    -c "SELECT 1 FROM pg_database WHERE datname = 'certbridge'")"
  if [ "${exists}" != "1" ]; then
    as_pg "${PG_BIN}/createdb" -h 127.0.0.1 -p "${port}" -U "${PG_USER}" certbridge
  fi

  local dsn="postgresql://${PG_USER}@127.0.0.1:${port}/certbridge"
  echo "${dsn}" >"${dir}/dsn"
  chmod a+r "${dir}/dsn"

  if [ -n "${CERTBRIDGE_PG_OWNER_PID:-}" ]; then
    # Detached from the caller's stdout/stderr, so that a test runner waiting on those
    # pipes does not wait for this watchdog.
    setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; "$2" destroy "$3"' \
      pg-watchdog "${CERTBRIDGE_PG_OWNER_PID}" "${SELF}" "${dir}" </dev/null >/dev/null 2>&1 &
  fi
  echo "${dsn}"
}

case "${cmd}" in
  start) do_start ;;
  stop)
    [ -d "${dir_arg}" ] || exit 0
    do_stop "$(cd "${dir_arg}" && pwd)"
    ;;
  destroy)
    [ -d "${dir_arg}" ] || exit 0
    dir="$(cd "${dir_arg}" && pwd)"
    do_stop "${dir}" || echo "pg.sh: stop failed in ${dir}; removing anyway" >&2
    rm -rf "${dir}"
    ;;
  *) usage ;;
esac
