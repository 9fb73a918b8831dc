#!/usr/bin/env bash
# End-to-end benchmark on generated data: pgconverge migrate, export and import against the same-run ingest limit:
# psql \copy of the very CSV pgconverge produced, SESSIONS sessions, into the target with only primary keys, then
# every other index, UNIQUE and foreign key re-created. Prints wall times, rows/s, MB/s, peak RSS and the ratios.
# Usage:
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
mkdir -p "$WORK"; rm -rf "$WORK/kept" "$WORK/export"
run_migrate() { # $1 = label, rest = extra flags
  local label="$1"; shift
  fresh_target
  /usr/bin/time -f "%e %M" -o "$WORK/$label.time" "$BIN" migrate --source "$PGCONVERGE_TEST_MYSQL_READER/$DB" \
    --target "$PGCONVERGE_TEST_PG_OWNER/$DB" --mapping "mappings/$APP.toml" --report "$WORK/$label.json" "$@" >/dev/null
}
# 1. pgconverge, keeping the CSV it loads (the reference input) as an export directory.
run_migrate with_csv --keep "$WORK/kept"
# 2. The ingest limit: psql \copy of the same CSV, SESSIONS parallel sessions, into tables with only their primary
#    keys; then every other index, UNIQUE and foreign key re-created.
fresh_target
psql_owner >"$WORK/drop.sql" <<'SQL'
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I;', conrelid::regclass, conname) FROM pg_constraint
 WHERE contype IN ('f', 'u') AND connamespace = 'public'::regnamespace ORDER BY contype = 'u';
SELECT format('DROP INDEX %s;', indexrelid::regclass) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE c.relnamespace = 'public'::regnamespace AND NOT i.indisprimary
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u'));
SQL
psql_owner >"$WORK/rebuild.sql" <<'SQL'
SELECT pg_get_indexdef(i.indexrelid) || ';' FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE c.relnamespace = 'public'::regnamespace AND NOT i.indisprimary
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u'));
SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s;', conrelid::regclass, conname, pg_get_constraintdef(oid))
  FROM pg_constraint WHERE contype IN ('u', 'f') AND connamespace = 'public'::regnamespace ORDER BY contype = 'f';
SQL
psql_owner -f "$WORK/drop.sql" >/dev/null
# The seed rows are deleted by pgconverge; delete them here too.
for t in $(python3 -c "import tomllib;print(' '.join(tomllib.load(open('mappings/$APP.toml','rb')).get('seeded_tables',[])))"); do
  psql_owner -c "DELETE FROM \"$t\"" >/dev/null
done
python3 - "$WORK" "$SESSIONS" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
files = sorted(json.load(open(f"{work}/kept/manifest.json"))["files"], key=lambda f: -f["bytes"])
scripts = [[] for _ in range(n)]
for i, f in enumerate(files):
    cols = ", ".join('"' + c + '"' for c in f["columns"])
    scripts[i % n].append(f"\\copy \"{f['target_table']}\" ({cols}) FROM '{work}/kept/{f['path']}' (FORMAT csv, HEADER true)")
for i, s in enumerate(scripts):
    open(f"{work}/copy{i}.sql", "w").write("\n".join(s) + "\n")
PY
start=$(date +%s.%N)
for i in $(seq 0 $((SESSIONS - 1))); do psql_owner -f "$WORK/copy$i.sql" >/dev/null & done
wait
ref=$(python3 -c "import time;print(round(time.time()-$start,2))")
psql_owner -f "$WORK/rebuild.sql" >/dev/null
ref_fk=$(python3 -c "import time;print(round(time.time()-$start,2))")
# 4. export (files only), then import of those files into a fresh target (verified against the export).
/usr/bin/time -f "%e %M" -o "$WORK/export.time" "$BIN" export --source "$PGCONVERGE_TEST_MYSQL_READER/$DB" \
  --target "$PGCONVERGE_TEST_PG_OWNER/$DB" --mapping "mappings/$APP.toml" --out "$WORK/export" --replace \
  --report "$WORK/export.json" >/dev/null
fresh_target
/usr/bin/time -f "%e %M" -o "$WORK/import.time" "$BIN" import --target "$PGCONVERGE_TEST_PG_OWNER/$DB" \
  --mapping "mappings/$APP.toml" --from "$WORK/export" --report "$WORK/import.json" >/dev/null
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
print(f"ingest limit: psql \\copy of the same CSV, {n} sessions, primary keys only: {ref:.1f} s; "
      f"+ every other index, UNIQUE and foreign key re-created: {ref_fk:.1f} s")
print(f"ratios: load phase / \\copy {r['seconds_load']/ref:.2f}x;  load+finish / ingest limit "
      f"{(r['seconds_load'] + r['seconds_finish'])/ref_fk:.2f}x;  whole run wall / ingest limit {wall/ref_fk:.2f}x")
for label in ("export", "import"):
    rep = json.load(open(f"{work}/{label}.json"))
    w, m = open(f"{work}/{label}.time").read().split()
    w, m = float(w), int(m) / 1024
    extra = f" (verify {rep.get('seconds_verify', 0):.1f} s)" if label == "import" else ""
    print(f"pgconverge {label}: {w:.1f} s wall{extra}, {rep['rows']/w:,.0f} rows/s, "
          f"{rep['bytes']/1e6/w:.1f} MB/s of files, peak RSS {m:.0f} MiB; / ingest limit {w/ref_fk:.2f}x")
PY
