"""The judge's JSON contract: ``JudgeReply`` and its per-config variant.

The JSON schema sent as ``response_format`` carries the configured score range
(``minimum``/``maximum``) and the allowed reason labels (an ``enum`` on the items of
``reasons``), so a server that honours structured output can only produce valid replies.
Servers that ignore the schema are caught by :func:`make_validator`, whose error message
feeds the client's one repair attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model


class JudgeReply(BaseModel):
    """A judgement: an integer score, reason labels from the configured list, free notes."""

    model_config = ConfigDict(extra="forbid")

    score: int
    reasons: list[str] = Field(default_factory=list)
    notes: str = ""


def judge_reply_model(
    score_min: int, score_max: int, reasons: Sequence[str]
) -> type[JudgeReply]:
    """Build the ``JudgeReply`` subclass whose JSON schema encodes this config's rules.

    Every field is required (strict structured-output servers demand it). The field
    types stay lenient (plain ``int`` and ``str``) so that a reply breaking a rule
    reaches :func:`make_validator`, which names the rule in its error; the schema still
    tells the server the exact range and labels.
    """
    score_schema: dict[str, Any] = {"minimum": score_min, "maximum": score_max}
    reasons_schema: dict[str, Any] = {"items": {"type": "string"}}
    if reasons:
        reasons_schema["items"]["enum"] = list(reasons)
    else:
        reasons_schema["maxItems"] = 0
    return create_model(
        "JudgeReply",
        __base__=JudgeReply,
        __doc__=(
            f"A judgement: score from {score_min} to {score_max}, reasons from the "
            "allowed labels, short notes."
        ),
        score=(int, Field(json_schema_extra=score_schema)),
        reasons=(list[str], Field(json_schema_extra=reasons_schema)),
        notes=(str, ...),
    )


def make_validator(
    score_min: int, score_max: int, reasons: Sequence[str]
) -> Callable[[JudgeReply], None]:
    """Return a ``validate(reply)`` that raises ``ValueError`` naming the broken rule."""
    allowed = list(reasons)

    def validate(reply: JudgeReply) -> None:
        if not score_min <= reply.score <= score_max:
            raise ValueError(
                f"score {reply.score} is outside the allowed range {score_min}..{score_max}"
            )
        unknown = [label for label in reply.reasons if label not in allowed]
        if unknown:
            raise ValueError(
                f"reasons {unknown} are not allowed; use only labels from {allowed}"
            )

    return validate
