#!/usr/bin/env bash
# End-to-end benchmark on generated data, everything in one invocation on the same source and target schema:
#   pgconverge export, then the ingest limit: psql \copy of exactly those CSV files (SESSIONS sessions) into the
#   target with only primary keys, then every other index, UNIQUE and foreign key re-created and the owned sequences
#   set; pgconverge import of the same files; pgconverge migrate with the defaults, then pgconverge verify and
#   pgconverge check; the peers pgloader (data only, tuned) and DuckDB (mysql + postgres extensions), each followed
#   by the same rebuild and checked for equality with the source by `pgconverge verify` (the tables a peer gets
#   wrong are listed, not hidden).
# Prints a table (seconds, rows/s, MB/s of the CSV yardstick, peak RSS, ratio to the ingest limit of the same run;
# migrate both as the command, which verifies by default, and as its load and finish alone), the first failure line
# of each peer's own output, and how many times migrate's time each peer took; writes it all as JSON to
# $WORK/e2e.json.
#   bash scripts/bench-e2e.sh [--scale S] [--app alkemio|kratos|both] [--no-peers] [--skip-gen] [--sessions N]
#   bash scripts/bench-e2e.sh --follow [--scale S] [--skip-gen]   (instead: the follow scenario of
#     scripts/bench-follow.sh on Alkemio: a backlog applied, changes/s against the source's own write time, then a
#     writer at a fixed rate and the cut-over's freeze; writes $WORK/alkemio/follow.json)
#   MIGRATE_FLAGS="--copy-format csv" bash scripts/bench-e2e.sh ...   (extra flags for the measured migrate)
#   BENCH_DB=s1_alkemio bash scripts/bench-e2e.sh --skip-gen --scale 1   (an existing source database, one app)
#   BENCH_BIN=/tmp/old/pgconverge BENCH_WORK=/tmp/old-run bash scripts/bench-e2e.sh ...   (another build, e.g. the
#   commit before a change, for alternating old/new runs; pgconverge-testbed is taken from beside it)
# Connections run without TLS on loopback (ssl-mode=DISABLED, sslmode=disable), for every tool alike. pgloader comes
# from Debian, DuckDB and its extensions from PyPI (target/bench-py); both are installed when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SCALE=0.05; APPS=alkemio; PEERS=1; GEN=1; SESSIONS=2; FOLLOW=0
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE="$2"; shift 2 ;;
    --app) APPS="$2"; [ "$APPS" = both ] && APPS="alkemio kratos"; shift 2 ;;
    --no-peers) PEERS=0; shift ;;
    --skip-gen) GEN=0; shift ;;
    --sessions) SESSIONS="$2"; shift 2 ;;
    --follow) FOLLOW=1; PEERS=0; APPS=alkemio; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
WORK="${BENCH_WORK:-$PWD/target/bench}"
mkdir -p "$WORK"
bash scripts/db-up.sh >/dev/null
# shellcheck disable=SC1091
source target/db/env
if [ -n "${BENCH_BIN:-}" ]; then
  BIN="$BENCH_BIN"
else
  cargo build --release --quiet
  BIN=$PWD/target/release/pgconverge
fi
TESTBED="$(dirname "$BIN")/pgconverge-testbed"
export PGCONVERGE_LOG=warn
if [ "$PEERS" = 1 ]; then
  command -v pgloader >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgloader >/dev/null
  if ! target/bench-py/bin/python -c 'import duckdb' 2>/dev/null; then
    python3 -m venv target/bench-py
    target/bench-py/bin/pip install -q --disable-pip-version-check 'duckdb==1.4.4' 'duckdb-ext-mysql==1.4.4.*' \
      'duckdb-ext-postgres==1.4.4.*'
  fi
fi
MY_HOSTPORT=${PGCONVERGE_TEST_MYSQL_READER##*@}; PG_HOSTPORT=${PGCONVERGE_TEST_PG_OWNER##*@}
psql_super() { PGPASSWORD=pgc_super psql -qAt -h "${PG_HOSTPORT%:*}" -p "${PG_HOSTPORT#*:}" -U pgc_super "$@"; }
psql_owner() {
  PGPASSWORD=pgc_owner psql -qAt -v ON_ERROR_STOP=1 -h "${PG_HOSTPORT%:*}" -p "${PG_HOSTPORT#*:}" -U pgc_owner \
    -d "$DB" "$@"
}
# timed LABEL CMD...: wall seconds and peak RSS of one command into $W/LABEL.time.
timed() { local label="$1"; shift; /usr/bin/time -f "%e %M" -o "$W/$label.time" "$@"; }
# stopwatch LABEL START: wall seconds since START (date +%s.%N) into $W/LABEL.time, no RSS (several processes).
stopwatch() { python3 -c "import time;print(round(time.time()-$2,3), 0)" >"$W/$1.time"; }

fresh_target() {
  psql_super -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB OWNER pgc_owner" 2>/dev/null
  psql_owner -f "testbed/fixtures/$APP.pg.sql" >/dev/null
  psql_super -d "$DB" -c "CHECKPOINT"
}

# A bare target for a plain loader: seeded rows deleted (the load brings the source's), only primary keys left.
# Writes $W/rebuild.sql, which puts back every other index, UNIQUE and foreign key and sets the owned sequences.
bare_target() {
  fresh_target
  psql_owner >"$W/rebuild.sql" <<'SQL'
SELECT pg_get_indexdef(i.indexrelid) || ';' FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE c.relnamespace = 'public'::regnamespace AND NOT i.indisprimary
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u'));
SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s;', conrelid::regclass, conname, pg_get_constraintdef(oid))
  FROM pg_constraint WHERE contype IN ('u', 'f') AND connamespace = 'public'::regnamespace ORDER BY contype = 'f';
SELECT format('SELECT setval(%L, GREATEST((SELECT max(%I) FROM %s), 1));', s, a.attname, c.oid::regclass)
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
  CROSS JOIN LATERAL pg_get_serial_sequence(c.oid::regclass::text, a.attname) s
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND s IS NOT NULL;
SQL
  psql_owner <<'SQL' | psql_owner >/dev/null
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I;', conrelid::regclass, conname) FROM pg_constraint
 WHERE contype IN ('f', 'u') AND connamespace = 'public'::regnamespace ORDER BY contype = 'u';
SELECT format('DROP INDEX %s;', indexrelid::regclass) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE c.relnamespace = 'public'::regnamespace AND NOT i.indisprimary
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u'));
SQL
  for t in $(python3 -c "import tomllib;print(' '.join(tomllib.load(open('mappings/$APP.toml','rb')).get('seeded_tables',[])))"); do
    psql_owner -c "DELETE FROM \"$t\"" >/dev/null
  done
}

# equal LABEL: pgconverge verify of the target against the source; its report says which tables differ.
equal() { "$BIN" verify "${CONN[@]}" --report "$W/$1.verify.json" >/dev/null 2>&1 || true; }

run_app() {
  APP="$1"; DB="${BENCH_DB:-bench_${APP}}"; W="$WORK/$APP"; mkdir -p "$W"
  rm -f "$W"/*.time "$W"/*.json
  local src="$PGCONVERGE_TEST_MYSQL_READER/$DB?ssl-mode=DISABLED" tgt="$PGCONVERGE_TEST_PG_OWNER/$DB?sslmode=disable"
  CONN=(--source "$src" --target "$tgt" --mapping "mappings/$APP.toml")
  if [ "$GEN" = 1 ]; then
    "$TESTBED" gen --app "$APP" --create --scale "$SCALE" --seed 1 --mysql "$PGCONVERGE_TEST_MYSQL_ADMIN/$DB" >"$W/gen.json"
  fi
  echo "== $APP, scale $SCALE" >&2
  if [ "$FOLLOW" = 1 ]; then
    # shellcheck source=scripts/bench-follow.sh
    source scripts/bench-follow.sh
    run_follow
    return
  fi
  fresh_target
  "$BIN" plan "${CONN[@]}" --report "$W/plan.json" >/dev/null
  rm -rf "$W/export"
  timed export "$BIN" export "${CONN[@]}" --out "$W/export" --report "$W/export.json" >/dev/null
  # The ingest limit, on exactly the converted rows.
  bare_target
  python3 - "$W" "$SESSIONS" <<'PY'
import json, sys
w, n = sys.argv[1], int(sys.argv[2])
files = sorted(json.load(open(f"{w}/export/manifest.json"))["files"], key=lambda f: -f["bytes"])
scripts = [[] for _ in range(n)]
for i, f in enumerate(files):
    cols = ", ".join('"' + c + '"' for c in f["columns"])
    scripts[i % n].append(f"\\copy \"{f['target_table']}\" ({cols}) FROM '{w}/export/{f['path']}' (FORMAT csv, HEADER true)")
for i, s in enumerate(scripts):
    open(f"{w}/copy{i}.sql", "w").write("\n".join(s) + "\n")
PY
  local start; start=$(date +%s.%N)
  for i in $(seq 0 $((SESSIONS - 1))); do psql_owner -f "$W/copy$i.sql" >/dev/null & done
  wait
  stopwatch ingest_copy "$start"
  psql_owner -f "$W/rebuild.sql" >/dev/null
  stopwatch ingest_limit "$start"
  fresh_target
  timed import "$BIN" import --target "$tgt" --mapping "mappings/$APP.toml" --from "$W/export" \
    --report "$W/import.json" >/dev/null
  fresh_target
  # shellcheck disable=SC2086
  timed migrate "$BIN" migrate "${CONN[@]}" --report "$W/migrate.json" ${MIGRATE_FLAGS:-} >/dev/null
  timed verify "$BIN" verify "${CONN[@]}" --report "$W/verify.json" >/dev/null
  timed check "$BIN" check "${CONN[@]}" --report "$W/check.json" >/dev/null || true
  if [ "$PEERS" = 1 ]; then
    bare_target
    local tables; tables=$(python3 -c "import json;print(','.join(\"'\"+t['source']+\"'\" for t in json.load(open('$W/plan.json'))['tables']))")
    cat >"$W/pgloader.load" <<EOF
LOAD DATABASE
  FROM mysql://pgc_reader:pgc_reader@$MY_HOSTPORT/$DB
  INTO pgsql://pgc_owner:pgc_owner@$PG_HOSTPORT/$DB?sslmode=disable
WITH data only, create no tables, create no indexes, no foreign keys, reset no sequences, no truncate,
     quote identifiers,
     workers = 4, concurrency = 2, multiple readers per thread, rows per range = 50000
SET PostgreSQL PARAMETERS maintenance_work_mem to '512MB', work_mem to '64MB'
INCLUDING ONLY TABLE NAMES MATCHING $tables
ALTER SCHEMA '$DB' RENAME TO 'public';
EOF
    timed pgloader pgloader --dynamic-space-size 8192 --no-ssl-cert-verification "$W/pgloader.load" \
      >"$W/pgloader.log" 2>&1 || true
    start=$(date +%s.%N); psql_owner -f "$W/rebuild.sql" >/dev/null 2>"$W/pgloader.rebuild.err" || true
    stopwatch pgloader_rebuild "$start"
    equal pgloader
    bare_target
    local myattach="host=${MY_HOSTPORT%:*} port=${MY_HOSTPORT#*:} user=pgc_reader password=pgc_reader database=$DB ssl_mode=disabled"
    local pgattach="host=${PG_HOSTPORT%:*} port=${PG_HOSTPORT#*:} user=pgc_owner password=pgc_owner dbname=$DB sslmode=disable"
    timed duckdb target/bench-py/bin/python scripts/peers/duckdb_load.py "$W/plan.json" "$myattach" "$pgattach" \
      >"$W/duckdb.json" 2>"$W/duckdb.err" || true
    start=$(date +%s.%N); psql_owner -f "$W/rebuild.sql" >/dev/null 2>"$W/duckdb.rebuild.err" || true
    stopwatch duckdb_rebuild "$start"
    equal duckdb
  fi
}

for app in $APPS; do run_app "$app"; done
# The follow scenario printed and wrote its own figures.
[ "$FOLLOW" = 1 ] && exit 0
python3 - "$WORK" "$SCALE" "$SESSIONS" "$(git rev-parse --short HEAD)" $APPS <<'PY'
import json, os, sys
work, scale, sessions, commit, apps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
out = {"scale": float(scale), "commit": commit, "sessions": int(sessions), "apps": {}}
def t(w, label):
    p = f"{w}/{label}.time"
    if not os.path.exists(p):
        return None, None
    # /usr/bin/time puts "Command exited with non-zero status N" first when the command failed.
    wall, rss = open(p).read().split("\n")[-2].split()
    return float(wall), (int(rss) / 1024 if int(rss) else None)
for app in apps:
    w = f"{work}/{app}"
    rows = json.load(open(f"{w}/migrate.json"))["rows"]
    mb = json.load(open(f"{w}/export.json"))["bytes"] / 1e6
    limit = t(w, "ingest_limit")[0]
    steps = []
    def add(name, label, extra=None, plus=None):
        wall, rss = t(w, label)
        if wall is None:
            return
        if plus:
            wall += t(w, plus)[0] or 0
        steps.append({"step": name, "seconds": round(wall, 2), "rows_per_s": round(rows / wall),
                      "mb_per_s": round(mb / wall, 1), "peak_rss_mib": rss and round(rss),
                      "x_ingest_limit": round(wall / limit, 2), **(extra or {})})
    def cause(label):
        # The first line of a peer's own output that reports a failure, as the peer printed it.
        for name in (f"{label}.log", f"{label}.err"):
            p = f"{w}/{name}"
            if os.path.exists(p):
                for line in open(p, errors="replace"):
                    if any(k in line for k in ("FATAL", "ERROR", "Error", "exhausted", "Segmentation")):
                        return line.strip()[:200]
        return None
    def wrong(label):
        p = f"{w}/{label}.verify.json"
        if not os.path.exists(p):
            return ["(no verify report)"]
        v = json.load(open(p))
        bad = sorted(x["source"] for x in v.get("tables", [])
                     if x["rows_source"] != x["rows_target"] or x["differing_buckets"])
        others = [i["name"] for i in v.get("items", []) if not i.get("passed")]
        failed = set(json.load(open(f"{w}/duckdb.json")).get("failed", {})) \
            if label == "duckdb" and os.path.getsize(f"{w}/duckdb.json") else set()
        return [n + (" (load failed)" if n in failed else "") for n in sorted(set(bad) | failed)] \
            + ([f"{len(others)} checklist items"] if others and not bad else [])
    add("ingest limit: \\copy (PK only) + rebuild", "ingest_limit")
    add("  of which \\copy", "ingest_copy")
    add("pgconverge migrate (defaults)", "migrate")
    m = json.load(open(f"{w}/migrate.json"))
    bare = sum(m[k] for k in ("seconds_prepare", "seconds_load", "seconds_finish"))
    if steps and steps[-1]["step"] == "pgconverge migrate (defaults)":
        # The command verifies by default; a peer verifies nothing, so it is also compared with the load alone.
        steps.append({"step": "  of which prepare + load + finish", "seconds": round(bare, 2),
                      "rows_per_s": round(rows / bare), "mb_per_s": round(mb / bare, 1), "peak_rss_mib": None,
                      "x_ingest_limit": round(bare / limit, 2)})
    add("pgconverge verify", "verify")
    add("pgconverge check", "check")
    add("pgconverge export", "export")
    add("pgconverge import (verified)", "import")
    verified = t(w, "migrate")[0]
    peers = {}
    for peer in ("pgloader", "duckdb"):
        add(f"{peer} + rebuild", peer, {"wrong": wrong(peer), "cause": cause(peer)}, plus=f"{peer}_rebuild")
        if steps[-1]["step"] == f"{peer} + rebuild":
            # How many times the time of migrate the peer took (the issue's "x faster"), complete or not.
            peers[peer] = {"x_migrate": round(steps[-1]["seconds"] / bare, 2),
                           "x_migrate_verified": round(steps[-1]["seconds"] / verified, 2),
                           "complete": not steps[-1]["wrong"]}
    out["apps"][app] = {"rows": rows, "csv_mb": round(mb, 1), "steps": steps, "peers": peers,
                        "migrate_phases": {k: round(m[k], 2) for k in
                                           ("seconds_prepare", "seconds_load", "seconds_finish", "seconds_verify")}}
    print(f"\n{app}, scale {scale}: {rows:,} rows, {mb:,.0f} MB as CSV; commit {commit}")
    print(f"{'step':44} {'s':>8} {'rows/s':>10} {'MB/s':>7} {'RSS MiB':>8} {'x limit':>8}")
    for s in steps:
        rss = s["peak_rss_mib"] if s["peak_rss_mib"] else "-"
        print(f"{s['step']:44} {s['seconds']:8.1f} {s['rows_per_s']:10,} {s['mb_per_s']:7.1f} {rss:>8} "
              f"{s['x_ingest_limit']:7.2f}x" + (f"  wrong: {', '.join(s['wrong']) or 'none'}" if "wrong" in s else ""))
    for s in steps:
        if s.get("cause"):
            print(f"{s['step']}: {s['cause']}")
    ph = out["apps"][app]["migrate_phases"]
    print("migrate phases: " + ", ".join(f"{k[8:]} {v:.1f} s" for k, v in ph.items()))
    for peer, r in peers.items():
        print(f"{peer} took {r['x_migrate']:.2f}x the time of migrate's load and finish, {r['x_migrate_verified']:.2f}x "
              f"of the verified migrate" + ("" if r["complete"] else " (and its target is not equal to the source)"))
json.dump(out, open(f"{work}/e2e.json", "w"), indent=1)
print(f"\nwritten {work}/e2e.json")
PY
