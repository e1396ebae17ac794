#!/usr/bin/env bash
# The test suite in lanes, stopping at the first lane that fails: set up if needed (with the test tools and the
# example plugin), then
#   ruff check, ruff format --check, mypy (the sources and the tests; the file list is in pyproject.toml),
#   the fast lane: every test not marked slow (a few minutes at most),
#   the slow lane: the tests marked slow (end-to-end smokes on the real embedded model, wheels, the browser).
# Each lane prints its wall time when it ends. Extra arguments replace the two test lanes with one pytest call
# that gets them, after lint and types: ./scripts/test.sh packages/core -k cache
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh" --dev
BIN="${REFLECTLAB_VENV:-$ROOT/.venv}/bin"
cd "$ROOT"

now() { date +%s%N; }
SUITE_START=$(now)

# lane NAME CMD...: run one lane and print its wall time; a failing lane ends the suite with its exit status.
lane() {
  local name=$1 start rc=0
  shift
  echo "=== $name"
  start=$(now)
  "$@" || rc=$?
  local took
  took=$(awk -v ns="$(($(now) - start))" 'BEGIN { printf "%.1f", ns / 1e9 }')
  if [ "$rc" != 0 ]; then
    echo "=== $name: FAILED (exit $rc) after ${took}s; later lanes not run"
    exit "$rc"
  fi
  echo "=== $name: passed in ${took}s"
}

# pytest for a lane: exit status 5 (no test selected, e.g. every slow test deselected) counts as a pass.
pytest_lane() {
  local rc=0
  "$BIN/python" -m pytest "$@" || rc=$?
  [ "$rc" = 5 ] && return 0
  return "$rc"
}

lane "ruff check" "$BIN/ruff" check .
lane "ruff format" "$BIN/ruff" format --check .
lane "mypy" "$BIN/mypy"
if [ "$#" -gt 0 ]; then
  lane "pytest $*" "$BIN/python" -m pytest "$@"
else
  lane "fast lane (not slow)" pytest_lane -m "not slow"
  lane "slow lane" pytest_lane -m slow
fi
echo "=== all lanes passed in $(awk -v ns="$(($(now) - SUITE_START))" 'BEGIN { printf "%.1f", ns / 1e9 }')s"
