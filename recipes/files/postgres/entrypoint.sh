#!/bin/sh
# First start: initdb into $PGDATA with $POSTGRES_USER / $POSTGRES_PASSWORD / $POSTGRES_DB
# (the variables the official image reads), password logins over TCP; then run the server.
set -eu
: "${POSTGRES_USER:?set POSTGRES_USER}" "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
PGDATA=${PGDATA:-/var/lib/postgresql/data}
bin=/usr/lib/postgresql/15/bin
done_marker="$PGDATA/.bakery-initialised"
if [ -s "$PGDATA/PG_VERSION" ] && [ ! -e "$done_marker" ]; then
  echo "error: $PGDATA holds a cluster whose first start did not finish; remove the volume" >&2
  exit 1
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
  # local socket logins are trusted (only this container reaches /tmp); TCP needs the password
  "$bin/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" -E UTF8 --no-locale \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  "$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses='' -k /tmp" -w start >/dev/null
  if [ "$POSTGRES_DB" != postgres ]; then
    "$bin/createdb" -h /tmp -U "$POSTGRES_USER" -O "$POSTGRES_USER" "$POSTGRES_DB"
  fi
  "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
  : >"$done_marker"
fi
exec "$bin/postgres" -D "$PGDATA" -k /tmp
