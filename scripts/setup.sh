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
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "[setup] installing dependencies (the first time builds llama-cpp-python: ~15 min on 2 cores)"
  .venv/bin/pip install -q --disable-pip-version-check -U pip wheel setuptools
  # torch first, from pip: a plain 'torch' requirement resolved by another tool pulls a CUDA build.
  .venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
  # llama-cpp-python compiles from source; keep the built wheel in a user cache so that a new
  # virtual environment (or CI on the same machine) reuses it instead of compiling again.
  # A portable AVX2 build, not a native one: on CPUs that report AMX tiles, a native build runs
  # ggml's AMX kernels, which crash (SIGSEGV) where the kernel or hypervisor does not hand the
  # tile state to the process.
  wheels=${XDG_CACHE_HOME:-$HOME/.cache}/dlgforge/wheels/llama-cpu-avx2
  mkdir -p "$wheels"
  if ! ls "$wheels"/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" \
      .venv/bin/pip wheel -q --no-cache-dir --disable-pip-version-check --no-deps -w "$wheels" llama-cpp-python==0.3.36
  fi
  .venv/bin/pip install -q --disable-pip-version-check --no-deps --force-reinstall "$wheels"/llama_cpp_python-0.3.36-*.whl
  .venv/bin/pip install -q --disable-pip-version-check --find-links "$wheels" -e ".[local,test,bench]"
  echo "$want" > "$stamp"
else
  echo "[setup] .venv is up to date"
fi
