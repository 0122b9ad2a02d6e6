"""Helpers of the generation CLI tests: a small project, the CLI in a subprocess, file readers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tests.support.project import merge



def write_config(root: Path, base_url: str, shared: dict[str, Path], extra: dict[str, Any]) -> Path:
    """``root/config.yaml`` on the shared KB (its index is reused across tests)."""
    root.mkdir(parents=True, exist_ok=True)
    sections = {
        "run": {"total_samples": 5, "batch_size": 4, "min_turns": 2, "max_turns": 3,
                "target_languages": ["en"], "seed": 11},
        "llm": {"backend": "openai", "base_url": base_url, "api_key": "test-key", "model": "fake-model",
                "max_retries": 3, "timeout": 10, "cache": {"enabled": False}},
        "retrieval": {"knowledge_dir": str(shared["knowledge_dir"]), "index_dir": str(shared["index_dir"]),
                      "chunk_size": 200, "chunk_overlap": 20, "default_k": 2},
        "coverage": {"snippets_per_question": 2},
        "saving": {"output_dir": "output"},
    }
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(merge(sections, extra), sort_keys=False), encoding="utf-8")
    return config


def cli_command(*args: str) -> list[str]:
    """The installed ``dlgforge`` script (or ``python -m dlgforge_assets``) with ``args``."""
    script = Path(sys.executable).parent / "dlgforge"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "dlgforge_assets"]
    return command + list(args)


REPO = Path(__file__).resolve().parents[2]


def cli_env() -> dict[str, str]:
    """The test environment, offline, with the repository importable from any folder (the
    loopback server that ``vllm_managed`` tests launch in place of vLLM is ``tests.fake_llm``)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": path}


def dlgforge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the CLI to completion."""
    return subprocess.run(cli_command(*args), cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=600)


def kill_9_after(victim: subprocess.Popen, output: Path, accepted: int, timeout_s: float = 300) -> None:
    """SIGKILL ``victim`` once ``output`` holds ``accepted`` accepted conversations."""
    deadline = time.monotonic() + timeout_s
    while len(jsonl(output / "synthetic_qa.jsonl")) < accepted:
        assert victim.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no conversation was accepted in time"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()


def jsonl(path: Path) -> list[dict]:
    """Complete lines of a JSONL file."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n") and line.strip()]


def normalized_questions(records: list[dict]) -> list[str]:
    return [" ".join(t["user_message"].lower().split()) for r in records for t in r["turns"]]


def assert_consistent_outputs(output: Path, expected: int) -> list[dict]:
    """Exactly ``expected`` accepted records, unique ids and questions, derived files in step."""
    records = jsonl(output / "synthetic_qa.jsonl")
    ids = [r["conversation_id"] for r in records]
    assert len(records) == expected, ids
    assert len(set(ids)) == expected
    questions = normalized_questions(records)
    assert len(questions) == len(set(questions))
    assert len(jsonl(output / "turns.jsonl")) == sum(r["n_turns"] for r in records)
    sharegpt = jsonl(output / "conversations_sharegpt.jsonl")
    assert sorted(row["metadata"]["conversation_id"] for row in sharegpt) == sorted(ids)
    assert sorted(p.stem for p in (output / "conversations").glob("*.json")) == sorted(ids)
    return records
