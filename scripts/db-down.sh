#!/usr/bin/env bash
# Stops the private MariaDB and PostgreSQL instances that scripts/db-up.sh started (data is kept).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DB="${PGCONVERGE_DB_DIR:-$ROOT/target/db}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ -f "$DB/pg/postmaster.pid" ]; then
  run_pg "$PG_BIN/pg_ctl" -D "$DB/pg" -m fast -w stop >/dev/null && echo "db-down: PostgreSQL stopped"
fi
if [ -f "$DB/mariadb-run/mariadb.pid" ]; then
  pid="$(cat "$DB/mariadb-run/mariadb.pid")"
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  echo "db-down: MariaDB stopped"
fi
