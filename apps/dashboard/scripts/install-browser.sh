#!/usr/bin/env bash
# Debian's chromium for the dashboard's real-browser test (headless; about 80 MB). Idempotent: does nothing when a
# `chromium` is already on PATH. Needs root or passwordless sudo for apt-get.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
SUDO=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-browser: run as root (apt-get install chromium)" >&2; exit 1; }
  SUDO=(sudo -n)
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "install-browser: chromium is still not on PATH" >&2; exit 1; }
