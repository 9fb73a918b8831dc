#!/usr/bin/env bash
# Accuracy of `plan --window --calibrate`: a rehearsal migrates the generator's dataset at one scale with
# --report, `plan` estimates a migration at another scale from that report, then that migration runs and the
# estimate is compared with what it took (total and per phase). Usage:
#   APP=alkemio CAL_SCALE=0.05 SCALE=0.15 bash scripts/bench-window.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
APP="${APP:-alkemio}"; CAL_SCALE="${CAL_SCALE:-0.05}"; SCALE="${SCALE:-0.15}"
WORK="${BENCH_WORK:-target/bench-window}"
bash scripts/db-up.sh >/dev/null
# shellcheck disable=SC1091
source target/db/env
cargo build --release --quiet
BIN=target/release/pgconverge
TESTBED=target/release/pgconverge-testbed
export PGCONVERGE_LOG=warn
mkdir -p "$WORK"
psql_super() { PGPASSWORD=pgc_super psql -qAt -h 127.0.0.1 -p 15432 -U pgc_super "$@"; }
setup() { # $1 = database, $2 = scale: a generated source and a target as the migrations leave it
  "$TESTBED" gen --app "$APP" --create --scale "$2" --seed 7 --mysql "$PGCONVERGE_TEST_MYSQL_ADMIN/$1" >/dev/null
  psql_super -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1 OWNER pgc_owner"
  PGPASSWORD=pgc_owner psql -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 15432 -U pgc_owner -d "$1" \
    -f "testbed/fixtures/$APP.pg.sql" >/dev/null
}
urls() { echo --source "$PGCONVERGE_TEST_MYSQL_READER/$1" --target "$PGCONVERGE_TEST_PG_OWNER/$1" --mapping "mappings/$APP.toml"; }
setup win_cal "$CAL_SCALE"
setup win_run "$SCALE"
# shellcheck disable=SC2046
"$BIN" migrate $(urls win_cal) --report "$WORK/calibration.json" >/dev/null
# shellcheck disable=SC2046
"$BIN" plan $(urls win_run) --window 30m --calibrate "$WORK/calibration.json" --report "$WORK/plan.json" | tail -n 8
# shellcheck disable=SC2046
"$BIN" migrate $(urls win_run) --report "$WORK/actual.json" >/dev/null
python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
e = json.load(open(f"{work}/plan.json"))["estimate"]
a = json.load(open(f"{work}/actual.json"))
print(f"{'phase':<8} {'estimated s':>12} {'actual s':>10} {'error':>8}")
for p in ["prepare", "load", "finish", "verify", "total"]:
    est, act = e[f"seconds_{p}"], a[f"seconds_{p}"] + (a["seconds_verify"] if p == "total" else 0)
    print(f"{p:<8} {est:>12.1f} {act:>10.1f} {100 * (est - act) / max(act, 1e-9):>+7.0f}%")
PY
