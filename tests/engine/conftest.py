"""Fixtures of the engine tests: a small KB indexed once per session, configs, a fake endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from dlgforge_core.config import load_config
from tests.support.project import merge, write_kb



@pytest.fixture(scope="session")
def shared_kb(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One KB folder and one index folder for the whole session (the index builds once)."""
    root = tmp_path_factory.mktemp("engine_kb")
    return {"knowledge_dir": write_kb(root / "knowledge"), "index_dir": root / "knowledge_index"}


def base_sections(base_url: str, shared: dict[str, Path]) -> dict[str, Any]:
    """Config of a fast test run against ``base_url`` on the shared KB."""
    return {
        "run": {"min_turns": 1, "max_turns": 2, "batch_size": 4, "total_samples": 4, "seed": 7},
        "llm": {"backend": "openai", "base_url": base_url, "api_key": "test-key", "model": "fake-model",
                "max_retries": 2, "timeout": 10},
        "retrieval": {"knowledge_dir": str(shared["knowledge_dir"]), "index_dir": str(shared["index_dir"]),
                      "default_k": 2, "chunk_size": 200, "chunk_overlap": 20},
        "coverage": {"snippets_per_question": 2},
    }


@pytest.fixture
def make_config(tmp_path: Path, shared_kb: dict[str, Path]) -> Callable[..., Any]:
    """``make_config(base_url, extra=None, name="p")`` -> a loaded config in its own folder."""

    def build(base_url: str = "http://127.0.0.1:9/v1", extra: dict[str, Any] | None = None, name: str = "p"):
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump(merge(base_sections(base_url, shared_kb), extra or {})), encoding="utf-8")
        return load_config(path)

    return build


@pytest.fixture(scope="session")
def built_kb(shared_kb: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    """The shared KB, indexed with the real MiniLM model and LanceDB (once per session)."""
    from dlgforge_core.kb import KnowledgeBase

    folder = tmp_path_factory.mktemp("kb_cfg")
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(base_sections("http://127.0.0.1:9/v1", shared_kb)), encoding="utf-8")
    kb = KnowledgeBase(load_config(path))
    kb.build()
    return kb
