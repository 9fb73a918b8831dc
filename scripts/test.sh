#!/usr/bin/env bash
# Runs every check: starts the test servers, then rustfmt, clippy (warnings are errors) and all tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/db-up.sh >/dev/null
# shellcheck disable=SC1091
source target/db/env
# An independent Parquet reader (pyarrow, from PyPI) for the export read-back tests.
PGCONVERGE_TEST_PYTHON="$(bash scripts/py-env.sh)"
export PGCONVERGE_TEST_PYTHON
cargo fmt --all --check
# The module structure: no import cycle, tasks and channels only in the pipeline.
python3 scripts/check-modules.py
cargo clippy --all-targets --features test-hooks -- -D warnings
# The product as released: no test hooks.
cargo clippy --lib --bins -- -D warnings
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
# Criterion benches run once each in test mode: a smoke test that they still build and run.
cargo test --features test-hooks --benches 2>&1 | tee -a "$LOG"
cargo test --features test-hooks --doc 2>&1 | tee -a "$LOG"
# Database tests share two servers; a few threads per test binary keep a 2-core machine responsive. The
# test-hooks feature compiles in the pause points the kill/resume tests use (release builds have none).
# Test binaries run one after another, so tests/server_restart.rs restarts the servers under no other test.
cargo test --features test-hooks --lib --bins --tests -- --test-threads="${PGCONVERGE_TEST_THREADS:-4}" 2>&1 | tee -a "$LOG"
# One closing line over every test binary (cargo prints one per binary, the last of which may hold none).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0) }' "$LOG"
