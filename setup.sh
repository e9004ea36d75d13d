#!/usr/bin/env bash
# Sets up trigger-hgq on a fresh machine: a virtualenv in .venv with the pinned stack and every extra.
# Usage: bash setup.sh            (idempotent; safe to rerun)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[all]"
# Open-source RTL route (yosys, verilator) comes from Debian packages when apt is available and we are root.
if [ -f .ci/apt-packages ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=()
  for p in $(grep -v '^#' .ci/apt-packages); do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
echo "trigger-hgq is set up in .venv"
