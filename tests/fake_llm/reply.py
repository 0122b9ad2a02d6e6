"""``FakeReply``: a handler's reply with extra fields on the assistant message.

A handler normally returns the message content (a dict sent as JSON text, or a str). To
return more, as reasoning servers do, it returns ``FakeReply(content, message_fields)``:
the fields go into the reply's ``choices[0].message`` beside ``content`` (e.g.
``{"reasoning_content": "..."}`` as vLLM and DeepSeek send it, ``{"reasoning": "..."}``
as gpt-oss and OpenRouter do). ``with_reasoning`` wraps a handler that way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class FakeReply:
    """Message content plus extra assistant-message fields."""

    content: dict[str, Any] | str
    message_fields: dict[str, Any] = field(default_factory=dict)


def with_reasoning(handler: Callable[[Any], Any], key: str = "reasoning_content") -> Callable[[Any], FakeReply]:
    """``handler`` whose replies also carry ``Reasoning of <agent> #<seq>.`` under ``key``."""

    def reply(req: Any) -> FakeReply:
        inner = handler(req)
        content = inner.content if isinstance(inner, FakeReply) else inner
        return FakeReply(content, {key: f"Reasoning of {req.agent} #{req.seq}."})

    return reply
