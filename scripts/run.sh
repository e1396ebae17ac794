#!/usr/bin/env bash
# The main job: set up if needed, then run the introspection inquiry on the embedded default model (quick
# preset). Extra arguments are config overrides, e.g. `scripts/run.sh preset=smoke seed=3`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
exec "${REFLECTLAB_VENV:-$ROOT/.venv}/bin/platform" run introspection preset=quick "$@"
