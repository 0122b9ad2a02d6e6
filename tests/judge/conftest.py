"""Fixtures of the judge tests: a small project folder with a config and a KB."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from dlgforge_core.config import load_config
from tests.support.project import merge

KB_FILES = {
    "billing.md": "# Billing\n\nInvoices are sent on the first day of each month. "
    "Refunds take five business days to reach the original payment method.\n",
    "accounts.md": "# Accounts\n\nPasswords must be at least twelve characters long. "
    "Two-factor authentication can be enabled in the security settings page.\n",
}


def write_project(root: Path, sections: dict[str, Any]) -> Path:
    """Write ``knowledge/`` and ``config.yaml`` under ``root``; return the config path."""
    knowledge = root / "knowledge"
    knowledge.mkdir(parents=True, exist_ok=True)
    for name, text in KB_FILES.items():
        (knowledge / name).write_text(text, encoding="utf-8")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(sections, sort_keys=False), encoding="utf-8")
    return config


BASE_SECTIONS: dict[str, Any] = {
    "llm": {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "test-key",
            "model": "fake-model", "max_retries": 1, "timeout": 10},
    "judge": {"enabled": True, "granularity": "turn",
              "reasons": ["grounded", "unsupported_claim", "unclear"]},
}


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Any]:
    """``make_config(extra_sections=None, name="p")`` -> loaded config of a fresh project."""

    def build(extra: dict[str, Any] | None = None, name: str = "p"):
        path = write_project(tmp_path / name, merge(BASE_SECTIONS, extra or {}))
        return load_config(path)

    return build
