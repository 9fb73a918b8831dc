#!/usr/bin/env bash
# The follower's catch-up, two builds alternating on one followed target (same-run ratios on a noisy machine):
#   bash scripts/bench-follow-alternate.sh NEW_BIN OLD_BIN
# copies the existing scale-1 source database $BENCH_DB (default bench_alkemio; make it with
# `scripts/bench-e2e.sh --follow --scale 1`) once with NEW_BIN's `migrate --follow --index-foreign-keys`, then for
# each of ROUNDS rounds and each build: writes a backlog of 200 transactions of 500 row updates of TABLE on the
# source (timed: the reference), resumes that build's follower and times it until the ledger holds the source's
# position, then stops it. COPY=0 reuses a target an earlier call left following.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/db-up.sh >/dev/null
# shellcheck disable=SC1091
source target/db/env
NEW="$1"; OLD="$2"
DB="${BENCH_DB:-bench_alkemio}"; TABLE="${TABLE:-calendar}"; ROUNDS="${ROUNDS:-4}"
PGH=${PGCONVERGE_TEST_PG_OWNER##*@}
CONN=(--source "$PGCONVERGE_TEST_MYSQL_READER/$DB?ssl-mode=DISABLED" --target "$PGCONVERGE_TEST_PG_OWNER/$DB?sslmode=disable"
  --mapping mappings/alkemio.toml --index-foreign-keys)
W=$(mktemp -d)
psql_owner() { PGPASSWORD=pgc_owner psql -qAt -v ON_ERROR_STOP=1 -h "${PGH%:*}" -p "${PGH#*:}" -U pgc_owner -d "$DB" "$@"; }
psuper() { PGPASSWORD=pgc_super psql -qAt -h "${PGH%:*}" -p "${PGH#*:}" -U pgc_super "$@"; }
# mariadb_admin, source_position and wait_applied, as the follow scenario uses them.
# shellcheck source=scripts/bench-follow.sh
source scripts/bench-follow.sh
if [ "${COPY:-1}" = 1 ]; then
  psuper -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB OWNER pgc_owner" 2>/dev/null
  psql_owner -f testbed/fixtures/alkemio.pg.sql >/dev/null
  PGCONVERGE_LOG=info "$NEW" migrate --follow "${CONN[@]}" >"$W/copy.log" 2>&1 &
  pid=$!
  until grep -q "Following the source's binary log." "$W/copy.log"; do
    kill -0 "$pid" 2>/dev/null || { cat "$W/copy.log" >&2; exit 1; }
    sleep 0.5
  done
  kill -TERM "$pid"; wait "$pid"
fi
for _ in $(seq 1 200); do echo "UPDATE $TABLE SET version = version + 1 ORDER BY id LIMIT 500;"; done >"$W/backlog.sql"
for round in $(seq 1 "$ROUNDS"); do
  for build in new old; do
    bin=$NEW; [ "$build" = old ] && bin=$OLD
    s=$(date +%s.%N); mariadb_admin "$DB" <"$W/backlog.sql"; e=$(date +%s.%N); end=$(source_position)
    psuper -d "$DB" -c CHECKPOINT >/dev/null
    s2=$(date +%s.%N)
    PGCONVERGE_LOG=warn "$bin" migrate --resume --follow "${CONN[@]}" >"$W/$build.log" 2>&1 &
    pid=$!
    wait_applied "$end"; e2=$(date +%s.%N)
    kill -TERM "$pid"; wait "$pid"
    python3 -c "s,e,s2,e2=$s,$e,$s2,$e2; print(f'$TABLE round $round $build: source {e-s:.2f}s, follower {e2-s2:.2f}s ({(e2-s2)/(e-s):.2f}x), {100000/(e2-s2):.0f} changes/s')"
  done
done
rm -rf "$W"
