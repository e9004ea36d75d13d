#!/usr/bin/env bash
# Sets up trigger-hgq on a fresh machine: a virtualenv in .venv with the pinned stack and every extra.
# Usage: bash setup.sh                        (idempotent; safe to rerun)
#        PYTHON=/path/to/python3.13 bash setup.sh   (pick the interpreter; Python 3.11, 3.12 or 3.13)
set -euo pipefail
cd "$(dirname "$0")"

# The interpreter: $PYTHON if set, else python3 when it is 3.11-3.13, else the first of python3.13/3.12/3.11 on PATH.
supported() {  # prints "3.X" and succeeds when "$1" runs and is Python 3.11-3.13
  local v
  v=$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || return 1
  case "$v" in 3.11|3.12|3.13) echo "$v" ;; *) echo "$v"; return 1 ;; esac
}
PY=""
if [ -n "${PYTHON:-}" ]; then
  if ! v=$(supported "$PYTHON"); then
    echo "setup.sh: PYTHON=$PYTHON is ${v:-not a runnable Python}; trigger-hgq needs Python 3.11, 3.12 or 3.13" >&2
    exit 1
  fi
  PY=$PYTHON
else
  tried=()
  for cand in python3 python3.13 python3.12 python3.11; do
    if command -v "$cand" >/dev/null 2>&1; then
      if v=$(supported "$cand"); then PY=$(command -v "$cand"); break; fi
      tried+=("$cand (${v:-does not run})")
    else
      tried+=("$cand (not on PATH)")
    fi
  done
  # A pyenv shim runs only the versions pyenv is told to: ask pyenv for its installed 3.13, 3.12, 3.11.
  if [ -z "$PY" ] && command -v pyenv >/dev/null 2>&1; then
    for minor in 3.13 3.12 3.11; do
      ver=$(pyenv versions --bare 2>/dev/null | grep -E "^${minor//./\\.}\.[0-9]+$" | tail -n 1 || true)
      [ -n "$ver" ] || continue
      exe=$(PYENV_VERSION=$ver pyenv which "python$minor" 2>/dev/null || true)
      if [ -n "$exe" ] && v=$(supported "$exe"); then PY=$exe; break; fi
      tried+=("pyenv $ver (${v:-does not run})")
    done
  fi
  if [ -z "$PY" ]; then
    echo "setup.sh: no Python 3.11-3.13 found; tried: ${tried[*]}. Set PYTHON=/path/to/python3.1x" >&2
    exit 1
  fi
fi
echo "setup.sh: using $PY (Python $v)"

# An existing .venv on another Python minor version is rebuilt.
if [ -x .venv/bin/python ]; then
  have=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo none)
  if [ "$have" != "$v" ]; then
    echo "setup.sh: .venv is Python $have, rebuilding it on Python $v"
    rm -rf .venv
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[all]"
# qkeras-v3 (QKeras on Keras 3) without its dependencies: its metadata asks for the full `tensorflow` wheel and
# tensorflow-model-optimization, which would pull tf-keras (Keras 2) in beside tensorflow-cpu. What it imports
# at run time is already in pyproject.toml's dependencies.
.venv/bin/python -m pip install --quiet --no-deps "qkeras-v3==1.2.1"
# Open-source RTL route (yosys, verilator) comes from Debian packages when apt is available and we are root.
if [ -f .ci/apt-packages ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=()
  for p in $(grep -v '^#' .ci/apt-packages); do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
# da4ml's constant-multiplication solver is compiled by numba on first use (minutes of CPU) and cached in .venv:
# compile it once here, so that test and pipeline processes load it instead of each compiling it at once.
if .venv/bin/python -c "import da4ml" >/dev/null 2>&1; then
  echo "setup.sh: compiling da4ml's solver once (cached in .venv)"
  TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python -m trigger_hgq.export.rtl.warmup
fi
echo "trigger-hgq is set up in .venv (Python $v)"
