"""Fixtures for the LLM client tests: configs pointing at the loopback fake server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dlgforge_core.config import DlgforgeConfig, load_config
from tests.fake_llm import FakeLLMServer
from tests.llm.helpers import SECRET_KEY


@pytest.fixture(autouse=True)
def _isolated_env() -> Iterator[None]:
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("DLGFORGE__") or name in ("LLM_MODEL", "OPENAI_MODEL",
                                                     "OPENAI_API_KEY", "OPENAI_BASE_URL"):
            del os.environ[name]
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    """A fake endpoint with no latency and no faults."""
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DlgforgeConfig]:
    """``make_cfg(base_url, **llm_keys)``: a loaded config whose ``llm`` section is given."""
    (tmp_path / "knowledge").mkdir(exist_ok=True)

    def build(base_url: str | None = None, **llm: Any) -> DlgforgeConfig:
        section = {"model": "fake-model", "api_key": SECRET_KEY, "max_retries": 3,
                   "timeout": 5, **llm}
        if base_url is not None:
            section["base_url"] = base_url
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump({"llm": section}), encoding="utf-8")
        return load_config(path)

    return build


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """Where the client writes ``llm.log``."""
    return tmp_path / "output" / "logs"
