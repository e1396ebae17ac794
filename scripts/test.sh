#!/usr/bin/env bash
# The test suite: set up if needed (with the test tools and the example plugin), lint, then every test,
# including the end-to-end smoke run on the real embedded model. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh" --dev
BIN="${REFLECTLAB_VENV:-$ROOT/.venv}/bin"
cd "$ROOT"
"$BIN/ruff" check .
"$BIN/ruff" format --check .
"$BIN/mypy" packages/*/src apps/*/src
exec "$BIN/python" -m pytest "$@"
