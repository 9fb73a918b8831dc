#!/usr/bin/env bash
# Restarts one of the test servers that scripts/db-up.sh started (for the server-restart tests):
#   bash scripts/db-restart.sh postgres|mariadb
# The data directory is asked from the running server, so it works whichever checkout started it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MY_PORT="${PGCONVERGE_MY_PORT:-13306}"
PG_PORT="${PGCONVERGE_PG_PORT:-15432}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
run_as() { local u="$1"; shift; if [ "$(id -un)" = "$u" ]; then "$@"; else runuser -u "$u" -- "$@"; fi; }
case "${1:-}" in
  postgres)
    data="$(PGPASSWORD=pgc_super psql -qAt -h 127.0.0.1 -p "$PG_PORT" -U pgc_super -d postgres -c 'SHOW data_directory')"
    owner="$(stat -c %U "$data")"
    run_as "$owner" "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 60 restart -l "$(dirname "$data")/pg-run/server.log" >/dev/null
    ;;
  mariadb)
    data="$(mariadb --protocol=TCP -h 127.0.0.1 -P "$MY_PORT" -u pgc_admin -ppgc_admin -Nse 'SELECT @@datadir')"
    pid="$(cat "$(mariadb --protocol=TCP -h 127.0.0.1 -P "$MY_PORT" -u pgc_admin -ppgc_admin -Nse 'SELECT @@pid_file')" 2>/dev/null || true)"
    mariadb-admin --protocol=TCP -h 127.0.0.1 -P "$MY_PORT" -u pgc_admin -ppgc_admin shutdown
    # shutdown returns while the server still removes its files; starting again must not race it.
    for _ in $(seq 1 240); do
      if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then break; fi
      sleep 0.25
    done
    PGCONVERGE_DB_DIR="$(dirname "${data%/}")" bash scripts/db-up.sh >/dev/null
    ;;
  *) echo "usage: $0 postgres|mariadb" >&2; exit 2 ;;
esac
