#!/usr/bin/env bash
# Runs every check: starts the test servers, then rustfmt, clippy (warnings are errors) and all tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/db-up.sh >/dev/null
# shellcheck disable=SC1091
source target/db/env
cargo fmt --check
cargo clippy --all-targets -- -D warnings
# Database tests share two servers; a few threads per test binary keep a 2-core machine responsive.
cargo test --lib --bins --tests -- --test-threads="${PGCONVERGE_TEST_THREADS:-4}"
# Criterion benches run once each in test mode: a smoke test that they still build and run.
cargo test --benches
cargo test --doc
