"""Fixtures for the Dagster tests: a tiny project, a temp DAGSTER_HOME (PostgreSQL: tests/support/postgres.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.fake_llm.server import FakeLLMServer

REPO = Path(__file__).resolve().parents[2]

BLOCKING = {"schema_valid", "unique_questions", "turn_counts_in_bounds", "judge_score_threshold", "drop_rate"}
"""The blocking quality checks (the PII and language checks only warn)."""

KB_DOCS = {
    "billing.md": "# Billing\n\nInvoices are sent on the first day of each month. Refunds take five "
    "business days and are paid to the original card.\n\n## Plans\n\nThe Team plan costs 20 euros "
    "per seat per month; the Enterprise plan is priced on request.\n",
    "setup.md": "# Setup\n\nInstall the agent with the installer, then sign in with your work "
    "account. The agent syncs every ten minutes.\n\n## Troubleshooting\n\nIf sync stalls, restart "
    "the agent and check the proxy settings in the preferences window.\n",
}


def write_project(root: Path, base_url: str, **sections: dict) -> Path:
    """A tiny dlgforge project under `root`: a 2-document KB and a config.yaml; returns its path."""
    knowledge = root / "knowledge"
    knowledge.mkdir(parents=True, exist_ok=True)
    for name, text in KB_DOCS.items():
        (knowledge / name).write_text(text, encoding="utf-8")
    config = {
        "run": {"n_turns": 1, "batch_size": 2, "total_samples": 2, "target_languages": ["en", "fr"],
                "run_id": "main", "seed": 0},
        "llm": {"backend": "openai", "base_url": base_url, "api_key": "test-key", "model": "fake-model",
                "max_retries": 1, "timeout": 5, "cache": {"enabled": False}},
        "retrieval": {"knowledge_dir": "knowledge", "index_dir": "knowledge_index"},
        "saving": {"output_dir": "output"},
        "judge": {"enabled": False},
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    """The in-process loopback OpenAI-compatible server."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp DAGSTER_HOME for this test (with the default instance settings)."""
    from dlgforge_assets.instance import ensure_dagster_home

    home = ensure_dagster_home(tmp_path / "dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def python_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess running this repository's code."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **extra}
    env.pop("HF_TOKEN", None)
    return env


PYTHON = sys.executable


def graph_for(config: Path) -> tuple[list, dict]:
    """The assets + checks and the resources of the graph for `config`, for `dg.materialize`."""
    from dlgforge_assets.build import build_assets, build_resources
    from dlgforge_assets.checks import QUALITY_CHECKS
    from dlgforge_assets.project import read_shape

    shape = read_shape(Path(config).resolve())
    return [*build_assets(shape.languages), *QUALITY_CHECKS], build_resources(shape)


def start_fake_llm_process(port: int, request_log: Path, latency_ms: int = 0) -> tuple[subprocess.Popen, str]:
    """`python -m tests.fake_llm` on a fixed port (so it can be killed and restarted there)."""
    proc = subprocess.Popen(
        [PYTHON, "-m", "tests.fake_llm", "--port", str(port), "--latency-ms", str(latency_ms),
         "--request-log", str(request_log)],
        cwd=REPO, env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"fake LLM server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def logged_requests(request_log: Path) -> list[dict]:
    """The requests a fake server process logged (one JSON line each)."""
    if not request_log.exists():
        return []
    import json

    return [json.loads(line) for line in request_log.read_text().splitlines() if line.strip()]
