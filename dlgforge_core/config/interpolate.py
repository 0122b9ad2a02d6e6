"""``${VAR}`` / ``${VAR:-default}`` interpolation and ``DLGFORGE__SECTION__KEY`` overrides."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from dlgforge_core.errors import ConfigError

OVERRIDE_PREFIX = "DLGFORGE__"
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(data: Any, env: Mapping[str, str], source: str, path: str = "") -> Any:
    """Replace ``${VAR}`` in every string of ``data``; ``$$`` is a literal ``$``.

    An unset variable without a default raises ConfigError naming the key path and variable.
    """
    if isinstance(data, dict):
        return {k: interpolate(v, env, source, _join(path, str(k))) for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, env, source, f"{path}[{i}]") for i, v in enumerate(data)]
    if not isinstance(data, str) or "$" not in data:
        return data

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env and (env[name] != "" or default is None):
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{source}: {path or '<root>'}: environment variable {name} is not set")

    return _VAR.sub(replace, data)


def apply_overrides(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Apply ``DLGFORGE__SECTION__KEY=value`` variables (value parsed as a YAML scalar)."""
    for name in sorted(env):
        if not name.startswith(OVERRIDE_PREFIX):
            continue
        keys = [part.lower() for part in name[len(OVERRIDE_PREFIX) :].split("__")]
        if not all(keys):
            raise ConfigError(f"{name}: malformed override name (use DLGFORGE__SECTION__KEY)")
        _set_path(data, keys, _parse_scalar(name, env[name]))
    return data


def _parse_scalar(name: str, raw: str) -> Any:
    try:
        return yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise ConfigError(f"{name}: value is not a valid YAML scalar: {raw!r}") from None


def _set_path(data: dict[str, Any], keys: list[str], value: Any) -> None:
    node = data
    for depth, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            dotted = ".".join(keys[: depth + 1])
            raise ConfigError(f"{OVERRIDE_PREFIX}{'__'.join(keys).upper()}: {dotted} is not a section")
        node = child
    node[keys[-1]] = value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
