"""Structured output: the response_format of each reply model, parsing and repair prompts.

Three modes, tried in order and remembered per endpoint once a server rejects one:
``json_schema`` (response_format with the model's schema), ``json_object`` (JSON mode plus
the schema in the prompt) and ``text`` (no response_format, the schema in the prompt).
Backends that enforce the schema themselves (a grammar) use ``native``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from pydantic import BaseModel

MODES = ("json_schema", "json_object", "text")
NATIVE = "native"
_FENCE = re.compile(r"^```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)
_MAX_ERROR_CHARS = 800
_MAX_ECHO_CHARS = 4000
_NAME_MAPS = ("properties", "$defs", "definitions")


@dataclass(frozen=True)
class SchemaSpec:
    """Everything derived once from a reply model (built once per model class)."""

    name: str
    schema: dict[str, Any]
    schema_hash: str
    json_schema_format: dict[str, Any]
    instruction: str


@lru_cache(maxsize=256)
def schema_spec(model: type[BaseModel]) -> SchemaSpec:
    """The cached ``SchemaSpec`` of a pydantic reply model."""
    schema, strict = _strict_schema(model.model_json_schema())
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", model.__name__)[:64]
    return SchemaSpec(
        name=name,
        schema=schema,
        schema_hash=hashlib.sha256(text.encode()).hexdigest()[:16],
        json_schema_format={"type": "json_schema",
                            "json_schema": {"name": name, "schema": schema, "strict": strict}},
        instruction=("Reply with only one JSON object, no prose and no code fences, that "
                     f"matches this JSON schema: {text}"),
    )


def response_format_for(mode: str, spec: SchemaSpec) -> dict[str, Any] | None:
    """What to send as ``response_format`` in ``mode``."""
    if mode == "json_schema":
        return spec.json_schema_format
    if mode == "json_object":
        return {"type": "json_object"}
    return None


def messages_for(mode: str, messages: list[dict[str, str]],
                 spec: SchemaSpec) -> list[dict[str, str]]:
    """The messages to send in ``mode``: the schema goes into the system prompt when the
    server does not receive it through ``response_format``."""
    if mode in ("json_schema", NATIVE):
        return messages
    if messages and messages[0].get("role") == "system":
        first = {"role": "system", "content": f"{messages[0]['content']}\n\n{spec.instruction}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": spec.instruction}, *messages]


def parse_json_text(text: str) -> Any:
    """The first JSON object in ``text`` (code fences and surrounding prose are ignored)."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    start = stripped.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(stripped, start)
            return value
        except ValueError:
            start = stripped.find("{", start + 1)
    raise ValueError("the reply holds no JSON object")


def validate_reply(text: str, model: type[BaseModel],
                   validate: Callable[[Any], Any] | None = None) -> BaseModel:
    """Parse and validate one reply; raises ``ValueError`` (pydantic's included) if invalid."""
    value = model.model_validate(parse_json_text(text))
    if validate is not None:
        validate(value)
    return value


def error_summary(err: Exception) -> str:
    """A short, single-paragraph description of why a reply was invalid."""
    return " ".join(str(err).split())[:_MAX_ERROR_CHARS]


def repair_messages(messages: list[dict[str, str]], bad_reply: str,
                    error: str) -> list[dict[str, str]]:
    """The conversation asking the model to correct its invalid reply (one repair attempt)."""
    return [*messages,
            {"role": "assistant", "content": bad_reply[:_MAX_ECHO_CHARS]},
            {"role": "user", "content": (f"Your reply was not valid: {error}\n"
                                         "Reply again with only the corrected JSON object.")}]


def _strict_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A copy of ``schema`` shaped for strict mode: closed objects, every property required,
    no defaults. ``strict`` is False when an object allows free-form extra keys."""
    schema = copy.deepcopy(schema)
    strict = True

    def visit(node: Any) -> None:
        nonlocal strict
        if isinstance(node, list):
            for item in node:
                visit(item)
            return
        if not isinstance(node, dict):
            return
        node.pop("default", None)
        if node.get("type") == "object" or isinstance(node.get("properties"), dict):
            extra = node.get("additionalProperties")
            if isinstance(extra, dict) or extra is True:
                strict = False
            else:
                node["additionalProperties"] = False
                node["required"] = list((node.get("properties") or {}).keys())
        for key, value in node.items():
            if key in _NAME_MAPS and isinstance(value, dict):
                for sub in value.values():  # names map to schemas: never strip a name
                    visit(sub)
            else:
                visit(value)

    visit(schema)
    return schema, strict
