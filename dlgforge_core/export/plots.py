"""SVG plots of the dataset stats (matplotlib, no pyplot: thread-safe and backend-free).

Plots are byte-stable for the same data (fixed SVG id salt, no date metadata), so an
unchanged dataset keeps its export version.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

DEFAULT_PLOTS_DIR = "plots"
_TOP = 20
# Fixed margins instead of tight_layout: layout solving dominated the render time.
_MARGINS = {"left": 0.1, "right": 0.97, "top": 0.88}
_DRAWN_KEPT = 32
_drawn: OrderedDict[str, bytes] = OrderedDict()
_lock = threading.Lock()


def render_plots(stats: Mapping[str, Any], records: list[dict], folder: Path) -> list[Path]:
    """Write one SVG per available statistic into ``folder``; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    judge = stats.get("judge") or {}
    coverage = stats.get("kb_coverage") or {}
    bars = {
        "languages": ("Conversations per language", "language", stats.get("languages")),
        "turn_counts": ("Turns per conversation", "turns", stats.get("turn_count_distribution")),
        "judge_scores": ("Judge score per turn", "score", (judge.get("per_turn") or {}).get("distribution")),
        "judge_reasons": ("Judge reasons", "reason", _top(judge.get("reasons"))),
        "drop_reasons": ("Dropped conversations by reason", "reason", (stats.get("drops") or {}).get("by_reason")),
        "topics": ("Conversations per topic", "topic", _top(stats.get("topics"))),
        "user_personas": ("Conversations per user persona", "persona",
                          _top((stats.get("personas") or {}).get("user"))),
    }
    figures = [(name, _bar, (title, xlabel, dict(counts)))
               for name, (title, xlabel, counts) in bars.items() if counts]
    lengths = _message_words(records)
    if any(lengths.values()):
        figures.append(("message_words", _histogram, (lengths,)))
    if coverage.get("documents_total"):
        figures.append(("kb_coverage", _coverage, (dict(coverage),)))
    written = []
    for name, draw, args in figures:
        path = folder / f"{name}.svg"
        path.write_bytes(_svg(draw, args))
        written.append(path)
    return written


def _svg(draw: Callable[..., Figure], args: tuple) -> bytes:
    """The SVG of ``draw(*args)``. The stats asset and the export draw the same plots in
    one run: a figure already drawn from the same data is not drawn again."""
    key = hashlib.sha256(json.dumps([draw.__name__, args], default=str).encode("utf-8")).hexdigest()
    with _lock:
        svg = _drawn.get(key)
    if svg is None:
        buffer = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "dlgforge", "svg.fonttype": "none"}):
            draw(*args).savefig(buffer, format="svg", metadata={"Date": None})
        svg = buffer.getvalue()
        with _lock:
            _drawn[key] = svg
            while len(_drawn) > _DRAWN_KEPT:
                _drawn.popitem(last=False)
    return svg


def _top(counts: Mapping[str, int] | None) -> dict[str, int]:
    ordered = sorted((counts or {}).items(), key=lambda kv: (-kv[1], kv[0]))
    return dict(ordered[:_TOP])


def _bar(title: str, xlabel: str, counts: Mapping[str, int]) -> Figure:
    fig = Figure(figsize=(7, 3.5))
    ax = fig.add_subplot()
    labels = [label if len(label) <= 24 else label[:23] + "…" for label in counts]
    rotate = len(labels) > 6 or max(map(len, labels)) > 12
    ax.bar(range(len(labels)), list(counts.values()), color="#4C72B0")
    ax.set_xticks(range(len(labels)), labels, rotation=30 if rotate else 0, ha="right" if rotate else "center")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    fig.subplots_adjust(**{**_MARGINS, "left": 0.17 if rotate else 0.1, "bottom": 0.38 if rotate else 0.16})
    return fig


def _message_words(records: list[dict]) -> dict[str, list[int]]:
    lengths: dict[str, list[int]] = {"user": [], "assistant": []}
    for record in records:
        for turn in record.get("turns") or []:
            for role in lengths:
                lengths[role].append(len(str(turn.get(f"{role}_message") or "").split()))
    return lengths


def _histogram(lengths: Mapping[str, list[int]]) -> Figure:
    fig = Figure(figsize=(7, 3.5))
    ax = fig.add_subplot()
    for role, values in lengths.items():
        if values:
            ax.hist(values, bins=20, alpha=0.6, label=role)
    ax.set_title("Words per message")
    ax.set_xlabel("words")
    ax.set_ylabel("messages")
    ax.legend()
    fig.subplots_adjust(**{**_MARGINS, "bottom": 0.16})
    return fig


def _coverage(coverage: Mapping[str, Any]) -> Figure:
    fig = Figure(figsize=(7, 2.5))
    ax = fig.add_subplot()
    rows = [("documents", coverage.get("documents_used") or 0, coverage.get("documents_total") or 0)]
    if coverage.get("chunks_total"):
        rows.append(("chunks", coverage.get("chunks_used") or 0, coverage["chunks_total"]))
    for i, (label, used, total) in enumerate(rows):
        ax.barh(i, used, color="#55A868", label="used as grounding" if i == 0 else None)
        ax.barh(i, max(total - used, 0), left=used, color="#DDDDDD", label="unused" if i == 0 else None)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.set_title("KB coverage")
    ax.legend(loc="lower right")
    fig.subplots_adjust(**{**_MARGINS, "left": 0.16, "bottom": 0.16})
    return fig
