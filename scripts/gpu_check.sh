#!/usr/bin/env bash
# The GPU check of the vllm backend: run on a machine with a CUDA GPU and `pip install 'reflectlab-core[vllm]'`.
# Compares vllm's greedy generations and log-probabilities with the hf backend's on the same prompts (see
# scripts/vllm_check.py); extra arguments go to it, e.g. `scripts/gpu_check.sh --dtype bfloat16 --tolerance 0.2`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || { echo "no GPU (nvidia-smi failed)" >&2; exit 2; }
"$PY" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
exec "$PY" "$ROOT/scripts/vllm_check.py" "$@"
