"""``dlgforge config migrate``: a dlgforge config rewritten in the native schema.

The YAML is translated as written (``${VAR}`` references stay references, keys read from the
environment become ``${VAR}``), so no secret is ever written to the new file. Relative paths
are rebased when the new file lives in another folder. Keys with no effect here are listed
as comments at the top of the new file (and returned, for the CLI to print).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from dlgforge_core.config.compat import translate
from dlgforge_core.errors import ConfigError
from dlgforge_core.store.atomic import write_text_atomic

# path keys relative to the config folder, and their defaults (rebased when the folder changes)
PATH_KEYS: dict[str, str | None] = {
    "retrieval.knowledge_dir": "knowledge",
    "retrieval.index_dir": "knowledge_index",
    "saving.output_dir": "output",
    "saving.logs_dir": "logs",
    "llm.cache.dir": ".dlgforge_cache",
    "personas.path": None,
    "coverage.seed_topics_path": None,
    "llm.local.model_path": None,
    "llm.local.cache_dir": None,
}


def migrate_config(old: Path, new: Path, overwrite: bool = False) -> list[str]:
    """Write the native equivalent of ``old`` to ``new``; returns the no-effect warnings."""
    old, new = Path(old), Path(new)
    if not old.is_file():
        raise ConfigError(f"{old}: config file not found")
    if new.exists() and not overwrite:
        raise ConfigError(f"{new}: already exists (pass --overwrite to replace it)")
    if new.resolve() == old.resolve():
        raise ConfigError(f"{new}: destination must differ from the source file")
    try:
        data = yaml.safe_load(old.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{old}: cannot read config file ({err.__class__.__name__})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ConfigError(f"{old}: {f'line {mark.line + 1}' if mark else 'YAML'}: invalid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{old}: top level must be a mapping of sections")
    data = {key: ({} if value is None else value) for key, value in data.items()}
    warnings: list[str] = []
    native = translate(data, str(old), warnings.append, environ=None)
    _rebase_paths(native, old.resolve().parent, new.resolve().parent)
    header = [f"# Migrated by `dlgforge config migrate` from {old.name} (dlgforge schema -> native)."]
    header += [f"# dropped: {line}" for line in warnings]
    body = yaml.safe_dump(native, allow_unicode=True, sort_keys=False, default_flow_style=False)
    write_text_atomic(new, "\n".join(header) + "\n" + body)
    return warnings


def _rebase_paths(data: dict[str, Any], old_dir: Path, new_dir: Path) -> None:
    if old_dir == new_dir:
        return
    for dotted, default in PATH_KEYS.items():
        *parents, leaf = dotted.split(".")
        node = data
        for name in parents:
            child = node.get(name)
            if not isinstance(child, dict):
                if default is None:
                    node = None
                    break
                child = node[name] = {}
            node = child
        if node is None:
            continue
        value = node.get(leaf, default)
        if value is None or not isinstance(value, str) or "$" in value:
            continue
        path = Path(value).expanduser()
        if not path.is_absolute():
            node[leaf] = os.path.relpath(old_dir / path, new_dir)
