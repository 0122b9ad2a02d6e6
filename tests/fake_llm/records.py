"""What the fake server remembers about each request it received."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RecordedRequest:
    """One chat completion request as the fake server saw it.

    ``seq`` numbers the requests of one agent from 0; ``attempt`` numbers the requests of
    one (agent, conversation) pair (so retries of a slot show up as attempts 1, 2, ...);
    ``received_at`` is the server's ``time.monotonic()`` on arrival; ``status`` is the HTTP
    status it answered (None while in flight); ``fault`` the injected fault, if any;
    ``server_name`` the ``name`` the server was given (to tell several servers apart).
    """

    agent: str
    conversation_id: str | None
    model: str
    body: dict[str, Any]
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    seq: int = 0
    attempt: int = 0
    received_at: float = 0.0
    fault: str | None = None
    server_name: str = ""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The request's chat messages."""
        return list(self.body.get("messages") or [])

    @property
    def prompt_text(self) -> str:
        """All message contents joined by newlines (what the handlers search)."""
        return "\n".join(str(m.get("content") or "") for m in self.messages)

    @property
    def last_user_message(self) -> str:
        """The content of the last user message, or ''."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return str(message.get("content") or "")
        return ""

    @property
    def response_format(self) -> dict[str, Any] | None:
        """The request's ``response_format``, or None when it sent none."""
        return self.body.get("response_format")

    @property
    def json_schema(self) -> dict[str, Any] | None:
        """The JSON schema of a ``json_schema`` response_format, or None."""
        fmt = self.response_format or {}
        if fmt.get("type") != "json_schema":
            return None
        return (fmt.get("json_schema") or {}).get("schema")
