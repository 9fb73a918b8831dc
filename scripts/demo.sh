#!/usr/bin/env bash
# The main job end to end on the built-in sample: starts the servers, builds pgconverge, generates a small
# Alkemio + Kratos source on MariaDB, creates the migrated target schemas on PostgreSQL, then runs pgconverge:
# `plan` (the schema contract), `migrate` (the data, verified at the end), then `export` to CSV files with a
# manifest, `import` of them into a second target and `verify` of that target, with the read-only source user and the non-superuser target owner, as an operator
# would.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/db-up.sh >/dev/null
# shellcheck disable=SC1091
source target/db/env
cargo build --release --quiet
BIN=target/release/pgconverge
TESTBED=target/release/pgconverge-testbed
SCALE_ALKEMIO="${SCALE_ALKEMIO:-0.002}"
SCALE_KRATOS="${SCALE_KRATOS:-0.1}"
# Progress: bars on a terminal, a plain line every few seconds when redirected; `--quiet` would hide both.

for app in alkemio kratos; do
  scale=$SCALE_ALKEMIO; [ "$app" = kratos ] && scale=$SCALE_KRATOS
  echo "== $app: generating the source sample (scale $scale) on MariaDB"
  PGCONVERGE_LOG=warn "$TESTBED" gen --app "$app" --create --scale "$scale" --seed 1 --mysql "$PGCONVERGE_TEST_MYSQL_ADMIN/demo_$app" \
    | grep -E '"(total_rows|seconds)"'
  echo "== $app: creating the target schema on PostgreSQL (as the application's migrations leave it)"
  PGPASSWORD=pgc_super psql -q -h 127.0.0.1 -p 15432 -U pgc_super -d postgres \
    -c "DROP DATABASE IF EXISTS demo_$app WITH (FORCE)" -c "CREATE DATABASE demo_$app OWNER pgc_owner"
  PGPASSWORD=pgc_owner psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 15432 -U pgc_owner -d "demo_$app" \
    -f "testbed/fixtures/$app.pg.sql"
  echo "== $app: pgconverge plan"
  "$BIN" plan --source "$PGCONVERGE_TEST_MYSQL_READER/demo_$app" --target "$PGCONVERGE_TEST_PG_OWNER/demo_$app" \
    --mapping "mappings/$app.toml" --report "target/demo-$app-plan.json" | tail -n 3
  echo "== $app: pgconverge migrate"
  "$BIN" migrate --source "$PGCONVERGE_TEST_MYSQL_READER/demo_$app" --target "$PGCONVERGE_TEST_PG_OWNER/demo_$app" \
    --mapping "mappings/$app.toml" --report "target/demo-$app-migrate.json"
  echo "== $app: pgconverge export (CSV files + manifest) and import into a second target"
  PGPASSWORD=pgc_super psql -q -h 127.0.0.1 -p 15432 -U pgc_super -d postgres \
    -c "DROP DATABASE IF EXISTS demo_${app}_import WITH (FORCE)" -c "CREATE DATABASE demo_${app}_import OWNER pgc_owner"
  PGPASSWORD=pgc_owner psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 15432 -U pgc_owner -d "demo_${app}_import" \
    -f "testbed/fixtures/$app.pg.sql"
  "$BIN" export --source "$PGCONVERGE_TEST_MYSQL_READER/demo_$app" \
    --target "$PGCONVERGE_TEST_PG_OWNER/demo_${app}_import" --mapping "mappings/$app.toml" \
    --out "target/demo-$app-export" --replace
  "$BIN" import --target "$PGCONVERGE_TEST_PG_OWNER/demo_${app}_import" --mapping "mappings/$app.toml" \
    --from "target/demo-$app-export"
  echo "== $app: pgconverge verify of the imported target against the source (checklist in target/)"
  "$BIN" verify --source "$PGCONVERGE_TEST_MYSQL_READER/demo_$app" \
    --target "$PGCONVERGE_TEST_PG_OWNER/demo_${app}_import" --mapping "mappings/$app.toml" \
    --checklist "target/demo-$app-checklist.md" --report "target/demo-$app-verify.json" | head -n 3
done
echo "== demo finished: sources demo_alkemio/demo_kratos on MariaDB 127.0.0.1:13306, targets on PostgreSQL 127.0.0.1:15432"
