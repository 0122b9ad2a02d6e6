"""Shared base model and agent names for the config sections."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

AgentName = Literal["qa_generator", "kb_responder", "qa_judge"]
AGENTS: tuple[str, ...] = ("qa_generator", "kb_responder", "qa_judge")


class Section(BaseModel):
    """Base of every config model: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
