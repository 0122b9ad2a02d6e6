"""docs/config.md documents every config key the models accept."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from dlgforge_core.config import DlgforgeConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def leaf_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys += leaf_keys(ann, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def test_every_key_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    keys = leaf_keys(DlgforgeConfig)
    assert len(keys) > 100
    missing = []
    for key in keys:
        generic = key
        for agent in ("qa_generator", "kb_responder", "qa_judge"):
            generic = generic.replace(f"llm.agents.{agent}.", "llm.agents.<agent>.")
        parent, leaf = generic.rsplit(".", 1)
        if f"`{generic}`" in text:
            continue
        # grouped rows: "`parent.first` / `.leaf`" or "`parent.first`, `.leaf`"
        if any(f"`{parent}." in line and f"`.{leaf}`" in line for line in text.splitlines()):
            continue
        missing.append(key)
    assert missing == []
