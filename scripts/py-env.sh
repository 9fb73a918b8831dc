#!/usr/bin/env bash
# The Python the tests use as an independent Parquet reader: a virtualenv in target/pyenv with pyarrow (PyPI).
# Idempotent; prints the interpreter's path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=target/pyenv/bin/python3
if ! "$PY" -c 'import pyarrow' >/dev/null 2>&1; then
  python3 -m venv target/pyenv
  "$PY" -m pip install --quiet --disable-pip-version-check 'pyarrow>=14'
fi
"$PY" -c 'import pyarrow' && echo "$PWD/$PY"
