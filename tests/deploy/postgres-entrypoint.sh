#!/bin/sh
# Starts a fresh cluster: database and role "certbridge" with password $POSTGRES_PASSWORD,
# reachable over the container network with scram-sha-256.
set -eu
data=/tmp/pgdata
bin=/usr/lib/postgresql/15/bin
printf '%s\n' "$POSTGRES_PASSWORD" >/tmp/pwfile
"$bin/initdb" -D "$data" -U certbridge --pwfile=/tmp/pwfile --auth=scram-sha-256 >/tmp/initdb.log
rm -f /tmp/pwfile
echo "host all all 0.0.0.0/0 scram-sha-256" >>"$data/pg_hba.conf"
# The set-up server listens on the socket only: whoever polls TCP sees only the final one.
"$bin/pg_ctl" -D "$data" -o "-c listen_addresses='' -c unix_socket_directories=/tmp" -w start >/dev/null
PGPASSWORD="$POSTGRES_PASSWORD" "$bin/psql" -h /tmp -U certbridge -d postgres -qc "CREATE DATABASE certbridge"
"$bin/pg_ctl" -D "$data" -w stop >/dev/null
exec "$bin/postgres" -D "$data" -c listen_addresses='*' -c unix_socket_directories=/tmp
