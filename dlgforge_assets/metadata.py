"""Builders for the metadata assets attach to their materializations."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg

PREVIEW_CHARS = 600
"""Messages longer than this are cut in the Markdown preview."""


def content_version(parts: Iterable[str]) -> dg.DataVersion:
    """A data version from an ordered stream of strings (ids, file digests)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\n")
    return dg.DataVersion(digest.hexdigest()[:16])


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes ("missing" when absent)."""
    if not path.exists():
        return "missing"
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _clip(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + " …"


def conversation_preview(record: Mapping[str, Any]) -> str:
    """One conversation as Markdown: header, personas, then each turn."""
    user = (record.get("user_persona") or {}).get("name", "user")
    assistant = (record.get("assistant_persona") or {}).get("name", "assistant")
    lines = [
        f"### {record.get('conversation_id')} ({record.get('language')}, {len(record.get('turns') or [])} turns)",
        f"*topic:* {record.get('topic') or '-'} · *user:* {user} · *assistant:* {assistant}",
        "",
    ]
    for turn in record.get("turns") or []:
        lines.append(f"**User:** {_clip(turn.get('user_message', ''))}")
        lines.append("")
        lines.append(f"**Assistant:** {_clip(turn.get('assistant_message', ''))}")
        score = (turn.get("qa_judge") or {}).get("score")
        if score is not None:
            lines.append(f"*judge score:* {score}")
        lines.append("")
    return "\n".join(lines)


def table_from_rows(rows: list[dict[str, Any]]) -> dg.TableMetadataValue:
    """A Dagster table from uniform dict rows (column types inferred from the first row)."""
    if not rows:
        return dg.MetadataValue.table(records=[], schema=dg.TableSchema(columns=[]))
    kinds = {bool: "bool", int: "int", float: "float"}

    def kind(name: str) -> str:
        values = [row.get(name) for row in rows if row.get(name) is not None]
        return kinds.get(type(values[0]), "string") if values else "string"

    columns = [dg.TableColumn(name, kind(name)) for name in rows[0]]
    records = [dg.TableRecord({k: _cell(v) for k, v in row.items()}) for row in rows]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def svg_markdown(paths: Iterable[Path], limit: int = 4) -> str:
    """Markdown embedding SVG plots as data URIs, so the Dagster UI shows them inline."""
    parts = []
    for path in list(paths)[:limit]:
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(f"**{path.stem}**\n\n![{path.stem}](data:image/svg+xml;base64,{encoded})\n")
    return "\n".join(parts) or "_no plots_"
