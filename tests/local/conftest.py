"""Fixtures of the embedded-model tests: the real GGUF model and small configs that use it.

These tests run the real model (no fake server). If llama-cpp-python is missing they FAIL:
the embedded backend is a shipped feature, not an optional one for CI.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from dlgforge_core.llm.local_model import default_cache_dir, ensure_default_model

EXAMPLE_KB = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "knowledge"
SMALL_KB = ("plans_and_prices.md", "safety_and_damage.pdf")


@pytest.fixture(scope="session")
def llama_cpp():
    """The real llama_cpp module; a missing install is a failure, never a skip."""
    try:
        import llama_cpp as module
    except ImportError as err:  # pragma: no cover - the failure itself is the point
        pytest.fail(f"llama-cpp-python is not importable ({err}); install dlgforge[local]")
    return module


@pytest.fixture(scope="session")
def default_model(llama_cpp) -> Path:
    """The packaged Gemma 3 270M, assembled once into the shared user cache."""
    return ensure_default_model(default_cache_dir())


def write_local_project(root: Path, *, languages=("en",), total=2, turns=2, judge=True,
                        max_retries=2, local_max_tokens=128, n_ctx=1536, cache=True) -> Path:
    """A project folder with a two-document KB and a config on the local backend."""
    kb = root / "knowledge"
    kb.mkdir(parents=True, exist_ok=True)
    for name in SMALL_KB:
        shutil.copy(EXAMPLE_KB / name, kb / name)
    langs = ", ".join(languages)
    config = root / "config.yaml"
    config.write_text(textwrap.dedent(f"""\
        run:
          run_id: t
          seed: 3
          n_turns: {turns}
          total_samples: {total}
          batch_size: 2
          target_languages: [{langs}]
        llm:
          backend: local
          model: gemma-3-270m
          temperature: 0.0
          timeout: 300
          max_retries: {max_retries}
          cache: {{enabled: {str(cache).lower()}}}
          agents:
            qa_generator: {{max_tokens: 40, temperature: 0.8}}
            kb_responder: {{max_tokens: 128, temperature: 0.8}}
            qa_judge: {{max_tokens: 64}}
          local:
            n_ctx: {n_ctx}
            max_tokens: {local_max_tokens}
        retrieval:
          chunk_size: 400
          chunk_overlap: 40
          default_k: 2
          max_tool_rounds: 3
        coverage:
          snippets_per_question: 1
        judge:
          enabled: {str(judge).lower()}
          mode: online
          granularity: turn
        quality:
          max_drop_rate: 1.0   # a 270M base model drops slots; the test counts accepted ones
        saving:
          output_dir: output
          hf_push: {{generate_plots: false}}
        """), encoding="utf-8")
    return config


@pytest.fixture
def local_project(tmp_path, default_model) -> Path:
    """A ready config.yaml (1 language x 2 conversations x 2 turns, judge on)."""
    return write_local_project(tmp_path)
