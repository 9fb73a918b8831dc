#!/usr/bin/env bash
# End-to-end benchmark on generated data: pgconverge migrate against the same-run reference of psql \copy
# loading the very CSV pgconverge produced (into the same target schema, foreign keys dropped as pgconverge
# does). Prints wall times, rows/s, MB/s, peak RSS and the ratio. Usage:
#   SCALE=1 APP=alkemio bash scripts/bench-e2e.sh        (generates the source unless SKIP_GEN=1)
#   MIGRATE_FLAGS="--copy-format binary" ...             (flags for the measured run; the CSV run stays CSV)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
APP="${APP:-alkemio}"; SCALE="${SCALE:-0.05}"; SESSIONS="${SESSIONS:-2}"
WORK="${BENCH_WORK:-target/bench}"; DB="${BENCH_DB:-bench_${APP}}"
bash scripts/db-up.sh >/dev/null
# shellcheck disable=SC1091
source target/db/env
cargo build --release --quiet
BIN=target/release/pgconverge
TESTBED=target/release/pgconverge-testbed
export PGCONVERGE_LOG=warn
psql_super() { PGPASSWORD=pgc_super psql -qAt -h 127.0.0.1 -p 15432 -U pgc_super "$@"; }
psql_owner() { PGPASSWORD=pgc_owner psql -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 15432 -U pgc_owner -d "$DB" "$@"; }
fresh_target() {
  psql_super -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB OWNER pgc_owner"
  psql_owner -f "testbed/fixtures/$APP.pg.sql" >/dev/null
  psql_super -d "$DB" -c "CHECKPOINT"
}
if [ "${SKIP_GEN:-0}" != 1 ]; then
  "$TESTBED" gen --app "$APP" --create --scale "$SCALE" --seed 1 --mysql "$PGCONVERGE_TEST_MYSQL_ADMIN/$DB" >"$WORK.gen.json"
fi
mkdir -p "$WORK"; rm -rf "$WORK/csv"
run_migrate() { # $1 = label, rest = extra flags
  local label="$1"; shift
  fresh_target
  /usr/bin/time -f "%e %M" -o "$WORK/$label.time" "$BIN" migrate --source "$PGCONVERGE_TEST_MYSQL_READER/$DB" \
    --target "$PGCONVERGE_TEST_PG_OWNER/$DB" --mapping "mappings/$APP.toml" --report "$WORK/$label.json" "$@" >/dev/null
}
# The plan report gives each table's COPY column order (the CSV files have no header).
fresh_target
"$BIN" plan --source "$PGCONVERGE_TEST_MYSQL_READER/$DB" --target "$PGCONVERGE_TEST_PG_OWNER/$DB" \
  --mapping "mappings/$APP.toml" --report "$WORK/plan.json" >/dev/null
# 1. pgconverge, keeping the CSV it loads (the reference input).
run_migrate with_csv --csv-dir "$WORK/csv"
# 2. Reference: psql \copy of the same CSV, SESSIONS parallel sessions, FKs dropped like pgconverge does.
fresh_target
psql_owner -c "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I;', conrelid::regclass, conname) FROM pg_constraint WHERE contype='f' AND connamespace='public'::regnamespace" > "$WORK/dropfk.sql"
psql_owner -c "SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s;', conrelid::regclass, conname, pg_get_constraintdef(oid)) FROM pg_constraint WHERE contype='f' AND connamespace='public'::regnamespace" > "$WORK/addfk.sql"
psql_owner -f "$WORK/dropfk.sql" >/dev/null
# The seed rows are deleted by pgconverge; delete them here too.
for t in $(python3 -c "import tomllib;print(' '.join(tomllib.load(open('mappings/$APP.toml','rb')).get('seeded_tables',[])))"); do
  psql_owner -c "DELETE FROM \"$t\"" >/dev/null
done
python3 - "$WORK" "$APP" "$SESSIONS" <<'PY'
import json, os, sys
work, app, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
plan = {t["source"]: t for t in json.load(open(f"{work}/plan.json"))["tables"]}
files = sorted(os.listdir(f"{work}/csv"), key=lambda f: -os.path.getsize(f"{work}/csv/{f}"))
scripts = [[] for _ in range(n)]
for i, f in enumerate(files):
    table = f.rsplit(".", 2)[0]
    target = plan[table]["target"]
    cols = ", ".join('"' + c["target"] + '"' for c in plan[table]["columns"])
    scripts[i % n].append(f"\\copy \"{target}\" ({cols}) FROM '{work}/csv/{f}' (FORMAT csv)")
for i, s in enumerate(scripts):
    open(f"{work}/copy{i}.sql", "w").write("\n".join(s) + "\n")
PY
start=$(date +%s.%N)
for i in $(seq 0 $((SESSIONS - 1))); do psql_owner -f "$WORK/copy$i.sql" >/dev/null & done
wait
ref=$(python3 -c "import time;print(round(time.time()-$start,2))")
psql_owner -f "$WORK/addfk.sql" >/dev/null
ref_fk=$(python3 -c "import time;print(round(time.time()-$start,2))")
# 3. pgconverge alone (no CSV files written), from a fresh target.
# shellcheck disable=SC2086
run_migrate plain ${MIGRATE_FLAGS:-}
python3 - "$WORK" "$ref" "$SESSIONS" "$ref_fk" <<'PY'
import json, sys
work, ref, n, ref_fk = sys.argv[1], float(sys.argv[2]), sys.argv[3], float(sys.argv[4])
r = json.load(open(f"{work}/plain.json"))
wall, rss = open(f"{work}/plain.time").read().split()
wall, rss = float(wall), int(rss) / 1024
print(f"rows {r['rows']}  bytes sent to COPY {r['csv_bytes']/1e6:.0f} MB")
print(f"pgconverge migrate: {wall:.1f} s wall (load {r['seconds_load']:.1f} s, finish {r['seconds_finish']:.1f} s), "
      f"{r['rows']/wall:,.0f} rows/s, {r['csv_bytes']/1e6/wall:.1f} MB/s sent, peak RSS {rss:.0f} MiB")
print(f"reference psql \\copy of the same CSV, {n} sessions, FKs dropped: {ref:.1f} s")
print(f"reference + re-creating the foreign keys: {ref_fk:.1f} s")
print(f"ratios: load phase / \\copy {r['seconds_load']/ref:.2f}x;  load+finish / (\\copy + FKs) "
      f"{(r['seconds_load'] + r['seconds_finish'])/ref_fk:.2f}x;  whole run wall / (\\copy + FKs) {wall/ref_fk:.2f}x")
PY
