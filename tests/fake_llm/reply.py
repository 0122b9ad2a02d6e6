"""``FakeReply``: a handler's reply with extra fields on the assistant message or another
finish reason.

A handler normally returns the message content (a dict sent as JSON text, or a str). To
return more, as reasoning servers do, it returns ``FakeReply(content, message_fields)``:
the fields go into the reply's ``choices[0].message`` beside ``content`` (e.g.
``{"reasoning_content": "..."}`` as vLLM and DeepSeek send it, ``{"reasoning": "..."}``
as gpt-oss and OpenRouter do). ``with_reasoning`` wraps a handler that way.
``FakeReply(content, finish_reason="length")`` is a reply cut off by the token limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class FakeReply:
    """Message content plus extra assistant-message fields and the choice's finish reason."""

    content: dict[str, Any] | str
    message_fields: dict[str, Any] = field(default_factory=dict)
    finish_reason: str = "stop"


def with_reasoning(handler: Callable[[Any], Any], key: str = "reasoning_content") -> Callable[[Any], FakeReply]:
    """``handler`` whose replies also carry ``Reasoning of <agent> #<seq>.`` under ``key``."""

    def reply(req: Any) -> FakeReply:
        inner = handler(req)
        content = inner.content if isinstance(inner, FakeReply) else inner
        finish = inner.finish_reason if isinstance(inner, FakeReply) else "stop"
        return FakeReply(content, {key: f"Reasoning of {req.agent} #{req.seq}."}, finish)

    return reply
