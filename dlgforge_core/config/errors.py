"""Pydantic validation errors turned into one line that names the file and key path."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

_KEYED = re.compile(r"^([a-z_]+): (.*)$")


def key_path(loc: tuple[Any, ...]) -> str:
    """``("llm", "routing", "endpoints", 0, "model")`` -> ``llm.routing.endpoints[0].model``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "model-")):
            continue  # validator frames, not keys
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


def format_validation_error(source: str, err: ValidationError) -> str:
    """The first error as ``<source>: <key.path>: <message> (got <value>)``; counts the rest."""
    errors = err.errors(include_url=False)
    first = errors[0]
    path = key_path(tuple(first.get("loc", ())))
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    else:
        message = first["msg"].removeprefix("Value error, ")
        keyed = _KEYED.match(message)
        if keyed and first["type"] == "value_error":  # a section validator naming its key
            path, message = f"{path}.{keyed.group(1)}", keyed.group(2)
        if not path.endswith(("api_key", "dsn")):  # never echo a secret back
            message += _got(first.get("input"))
    more = f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    line = f"{source}: {path}: {message}{more}"
    return " ".join(line.split())


def _got(value: Any) -> str:
    if isinstance(value, (dict, list)) or value is None:
        return ""
    text = repr(value)
    return f" (got {text[:80]}{'...' if len(text) > 80 else ''})"
