#!/usr/bin/env bash
# Create .venv and install dlgforge with the embedded-model and test extras.
# Idempotent: a second run with an unchanged pyproject.toml installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$python_bin" -m venv .venv
fi

stamp=.venv/.dlgforge-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "[setup] installing dependencies (the first time builds llama-cpp-python: ~15 min on 2 cores)"
  .venv/bin/pip install -q --disable-pip-version-check -U pip wheel setuptools
  # torch first, from pip: a plain 'torch' requirement resolved by another tool pulls a CUDA build.
  .venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
  # llama-cpp-python compiles from source; keep the built wheel in a user cache so that a new
  # virtual environment (or CI on the same machine) reuses it instead of compiling again.
  wheels=${XDG_CACHE_HOME:-$HOME/.cache}/dlgforge/wheels
  mkdir -p "$wheels"
  if ! ls "$wheels"/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then
    .venv/bin/pip wheel -q --disable-pip-version-check --no-deps -w "$wheels" llama-cpp-python==0.3.36
  fi
  .venv/bin/pip install -q --disable-pip-version-check --find-links "$wheels" -e ".[local,test,bench]"
  echo "$want" > "$stamp"
else
  echo "[setup] .venv is up to date"
fi
