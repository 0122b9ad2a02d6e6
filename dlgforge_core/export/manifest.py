"""Versioning and lineage: the export manifest and the export history.

The dataset version is the SHA-256 of the sorted ``path<TAB>sha256`` lines of every file in
the export except ``manifest.json`` itself; no exported file holds a timestamp, so an
unchanged re-export has the same version. Every prepared export's manifest is kept in
``<output_dir>/run_state/export_history/``; the newest one with another version is the
parent, and its stats summary is what regressions are measured against.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import dlgforge_core
from dlgforge_core.export.folder import list_files
from dlgforge_core.store.atomic import write_json_atomic

MANIFEST = "manifest.json"
# metric: (direction that is worse, tolerance before it counts as a regression)
REGRESSION_RULES: dict[str, tuple[str, float]] = {
    "mean_judge_score": ("down", 0.1),
    "drop_rate": ("up", 0.02),
    "distinct_2": ("down", 0.02),
    "mean_pairwise_cosine": ("up", 0.02),
}


def file_hashes(folder: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {sha256, bytes}}`` of every file in ``folder`` but the manifest."""
    result = {}
    for rel in list_files(folder):
        if rel == MANIFEST:
            continue
        digest = hashlib.sha256()
        with open(folder / rel, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        result[rel] = {"sha256": digest.hexdigest(), "bytes": (folder / rel).stat().st_size}
    return result


def dataset_version(files: dict[str, dict[str, Any]]) -> str:
    """The version hash of a set of files (order-independent, content-only)."""
    lines = "".join(f"{path}\t{files[path]['sha256']}\n" for path in sorted(files))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def code_version() -> dict[str, str | None]:
    """dlgforge's version and, when the code runs from a git checkout, the commit."""
    commit = None
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(dlgforge_core.__file__).parent,
                              capture_output=True, text=True, timeout=5, check=False)
        if done.returncode == 0:
            commit = done.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"dlgforge": dlgforge_core.__version__, "git_commit": commit}


def history_dir(cfg: Any) -> Path:
    """Where manifests of past exports are kept."""
    return Path(cfg.output_dir) / "run_state" / "export_history"


def history(cfg: Any) -> list[dict[str, Any]]:
    """Past export manifests, oldest first (each with its file name under ``_file``)."""
    folder = history_dir(cfg)
    entries = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        entry["_file"] = path.name
        entries.append(entry)
    return entries


def find_parent(cfg: Any, version: str) -> dict[str, Any] | None:
    """The parent of an export with ``version``: the newest earlier export of another
    version (re-exporting the newest version again keeps that version's own parent)."""
    entries = history(cfg)
    if not entries:
        return None
    latest = entries[-1]
    if latest.get("dataset_version") != version:
        return latest
    parent_version = latest.get("parent_version")
    return next((e for e in reversed(entries) if e.get("dataset_version") == parent_version), None)


def record_history(cfg: Any, manifest: dict[str, Any]) -> Path:
    """Keep ``manifest`` in the history (once per version in a row); returns its path."""
    entries = history(cfg)
    folder = history_dir(cfg)
    if entries and entries[-1].get("dataset_version") == manifest["dataset_version"]:
        path = folder / entries[-1]["_file"]
        manifest = {**manifest, "pushed": entries[-1].get("pushed")}
    else:
        path = folder / f"{len(entries):05d}-{manifest['dataset_version'][:16]}.json"
    write_json_atomic(path, manifest)
    return path


def mark_pushed(cfg: Any, version: str, pushed: dict[str, Any]) -> None:
    """Record a push (repo, url, commit) on the history entry of ``version``."""
    for entry in reversed(history(cfg)):
        if entry.get("dataset_version") == version:
            name = entry.pop("_file")
            entry["pushed"] = pushed
            write_json_atomic(history_dir(cfg) / name, entry)
            return


def stats_summary(stats: dict[str, Any] | None) -> dict[str, Any]:
    """The few numbers regressions are measured on."""
    stats = stats or {}
    diversity = stats.get("diversity") or {}
    return {
        "records": stats.get("records"),
        "mean_judge_score": (stats.get("judge") or {}).get("mean_score"),
        "drop_rate": (stats.get("drops") or {}).get("drop_rate"),
        "distinct_2": diversity.get("distinct_2"),
        "mean_pairwise_cosine": diversity.get("mean_pairwise_cosine"),
    }


def compare(parent: dict[str, Any] | None, current: dict[str, Any]) -> tuple[dict, list[dict]]:
    """``(diff, regressions)`` of the current stats summary against the parent's."""
    if not parent:
        return {}, []
    diff, regressions = {}, []
    for metric in current:
        old, new = parent.get(metric), current.get(metric)
        if not isinstance(old, (int, float)) or not isinstance(new, (int, float)):
            continue
        delta = round(new - old, 6)
        diff[metric] = {"parent": old, "current": new, "delta": delta}
        rule = REGRESSION_RULES.get(metric)
        if rule and ((rule[0] == "down" and -delta > rule[1]) or (rule[0] == "up" and delta > rule[1])):
            worse = "fell" if rule[0] == "down" else "rose"
            regressions.append({"metric": metric, "parent": old, "current": new, "delta": delta,
                                "message": f"{metric} {worse} from {old} to {new}"})
    return diff, regressions
