"""Fixtures for config tests: an isolated environment and a project folder with a config."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dlgforge_core.config.providers import PROVIDERS

_CONFIG_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LLM_MODEL", "OPENAI_MODEL", "DLGFORGE_STORE_DSN",
                "DLGFORGE_POSTGRES_DSN", "TAVILY_API_KEY", "SERPER_API_KEY", "LLM_USER_API_KEY_ENV",
                "LLM_ASSISTANT_API_KEY_ENV", "LLM_JUDGE_API_KEY_ENV",
                *(var for provider in PROVIDERS.values() for var in provider.key_vars))


@pytest.fixture(autouse=True)
def isolated_env() -> Iterator[None]:
    """Each test starts without config-related variables and leaves os.environ as it found it.

    load_config exports `.env` values into os.environ, so a snapshot is restored afterwards.
    """
    saved = dict(os.environ)
    for name in list(os.environ):
        if name in _CONFIG_VARS or name.startswith("DLGFORGE__"):
            del os.environ[name]
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with an empty ``knowledge/`` folder next to where the config goes."""
    (tmp_path / "knowledge").mkdir()
    return tmp_path


@pytest.fixture
def write_config(project: Path) -> Callable[..., Path]:
    """Write ``config.yaml`` (dedented YAML) into the project folder and return its path."""

    def write(text: str, name: str = "config.yaml") -> Path:
        path = project / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write

