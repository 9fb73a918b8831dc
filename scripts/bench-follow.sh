#!/usr/bin/env bash
# The follow scenario of scripts/bench-e2e.sh (`--follow`), sourced by it with its helpers and variables ($BIN,
# $TESTBED, $W, $DB, CONN, psql_owner, stopwatch, timed, fresh_target):
#   1. migrate --follow copies the source; once it follows, it is stopped (SIGTERM).
#   2. The source commits a backlog of BATCHES transactions of ROWS row updates each (of FOLLOW_TABLE), timed: the same-run reference
#      (how fast the source itself writes those changes).
#   3. migrate --resume --follow applies the backlog, timed until the ledger holds the source's position:
#      applied row changes per second, and the ratio to the source's own time.
#   (FOLLOW_WRAP="perf record -g -o /tmp/follow.perf" runs the resumed follower under a profiler.)
#   4. A writer commits RATE transactions a second for WRITE_SECONDS (pgconverge-testbed write); then cutover,
#      timed: the freeze from the cutover command to the verified target, as both processes print it.
# Writes $W/follow.json.
FOLLOW_BATCHES="${FOLLOW_BATCHES:-200}"; FOLLOW_ROWS="${FOLLOW_ROWS:-500}"
# The backlog's table: authorization_policy's rows are wide (about 3.4 kB, JSON rules); calendar's are narrow.
FOLLOW_TABLE="${FOLLOW_TABLE:-authorization_policy}"
# More flags for the resumed follower, e.g. FOLLOW_FLAGS=--index-foreign-keys.
FOLLOW_FLAGS="${FOLLOW_FLAGS:-}"
FOLLOW_RATE="${FOLLOW_RATE:-200}"; FOLLOW_WRITE_SECONDS="${FOLLOW_WRITE_SECONDS:-10}"

mariadb_admin() {
  local hp="${PGCONVERGE_TEST_MYSQL_ADMIN##*@}"
  mariadb --protocol=TCP -h "${hp%:*}" -P "${hp#*:}" -u pgc_admin -ppgc_admin -N -s "$@"
}

# The source's binary log position, file:offset.
source_position() { mariadb_admin -e 'SHOW MASTER STATUS' | awk '{print $1 ":" $2}'; }

# wait_applied POSITION: until the target's ledger holds POSITION as applied. One psql session polls it every
# 20 ms (`\watch`, each poll its own transaction; the division by zero once the position is there ends it). A new
# psql every 50 ms took a fifth of this 2-core machine's CPU from the follower it timed, and a polling loop inside
# one statement (DO) holds back the removal of dead row versions for as long as it runs, which slows the very
# updates it waits for.
wait_applied() {
  until [ "$(psql_owner -c 'SELECT applied FROM pgconverge.follow' 2>/dev/null)" = "$1" ]; do
    psql_owner >/dev/null 2>&1 <<SQL || true
SELECT 1 / (applied IS DISTINCT FROM '$1')::int FROM pgconverge.follow \watch 0.02
SQL
  done
}

run_follow() {
  fresh_target
  # shellcheck disable=SC2086
  PGCONVERGE_LOG=info "$BIN" migrate --follow $FOLLOW_FLAGS "${CONN[@]}" >"$W/follow-copy.log" 2>&1 &
  local pid=$!
  # Stopped once it reads the binary log: after the copy and whatever the flags make before following.
  until grep -q "Following the source's binary log." "$W/follow-copy.log"; do
    kill -0 "$pid" 2>/dev/null || { cat "$W/follow-copy.log" >&2; return 1; }
    sleep 0.2
  done
  kill -TERM "$pid"; wait "$pid" || true
  local sql="$W/backlog.sql" start
  : >"$sql"
  for _ in $(seq 1 "$FOLLOW_BATCHES"); do
    echo "UPDATE $FOLLOW_TABLE SET version = version + 1 ORDER BY id LIMIT $FOLLOW_ROWS;" >>"$sql"
  done
  start=$(date +%s.%N)
  mariadb_admin "$DB" <"$sql"
  stopwatch source_writes "$start"
  local end; end=$(source_position)
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  PGCONVERGE_LOG="${FOLLOW_LOG:-info}" ${FOLLOW_WRAP:-} "$BIN" migrate --resume --follow $FOLLOW_FLAGS "${CONN[@]}" --report "$W/follow.json.run" >"$W/follow.log" 2>&1 &
  pid=$!
  wait_applied "$end"
  stopwatch follow_catchup "$start"
  "$TESTBED" write --mysql "$PGCONVERGE_TEST_MYSQL_ADMIN/$DB" --rate "$FOLLOW_RATE" --seconds "$FOLLOW_WRITE_SECONDS" \
    --seed "$(date +%s)" >"$W/writer.json"
  timed cutover "$BIN" cutover "${CONN[@]}" --timeout 10m >"$W/cutover.log" 2>&1
  wait "$pid"
  python3 - "$W" "$FOLLOW_BATCHES" "$FOLLOW_ROWS" "$FOLLOW_TABLE" <<'PY'
import json, sys
w, batches, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t = lambda n: float(open(f"{w}/{n}.time").read().split()[0])
changes = batches * rows
run = json.load(open(f"{w}/follow.json.run"))["follow"]
writer = json.load(open(f"{w}/writer.json"))
out = {
    "backlog_changes": changes,
    "backlog_table": sys.argv[4],
    "source_writes_seconds": t("source_writes"),
    "catchup_seconds": t("follow_catchup"),
    "applied_changes_per_second": round(changes / t("follow_catchup")),
    "catchup_over_source_writes": round(t("follow_catchup") / t("source_writes"), 3),
    "writer": writer,
    "cutover_command_seconds": t("cutover"),
    "freeze_seconds": run["seconds_freeze"],
    "tables_touched": len(run["tables_touched"]),
    "keys_checked_at_cutover": run["keys_checked"],
    "tables_checked_by_key": run["tables_checked_by_key"],
    "tables_verified_whole": run["tables_verified_whole"],
}
json.dump(out, open(f"{w}/follow.json", "w"), indent=1)
print(f"follow: {changes} row changes applied in {out['catchup_seconds']:.2f}s = {out['applied_changes_per_second']} changes/s "
      f"({out['catchup_over_source_writes']}x the source's own {out['source_writes_seconds']:.2f}s); "
      f"writer {writer['transactions']} tx at {writer['transactions'] / writer['seconds']:.0f}/s; "
      f"freeze {out['freeze_seconds']:.2f}s (cutover command {out['cutover_command_seconds']:.2f}s; "
      f"{out['keys_checked_at_cutover']} changed rows checked by key, {len(out['tables_verified_whole'])} tables verified whole)")
PY
}
