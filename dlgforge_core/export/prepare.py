"""``prepare_export``: build the export folder (data, formats, stats, plots, card, manifest).

Layout (see docs/export.md)::

    <export_dir>/README.md                 dataset card
    <export_dir>/data/<source file>        ShareGPT rows (judged when judging ran)
    <export_dir>/sft|raft|dpo/train.jsonl  training formats, when enabled
    <export_dir>/schemas/<format>.schema.json
    <export_dir>/dataset_stats.json        stats (name from saving.hf_push.stats_file)
    <export_dir>/plots/*.svg               plots (name from saving.hf_push.plots_dir)
    <export_dir>/run_state/*.json          checkpoints, with saving.hf_push.include_run_state
    <export_dir>/manifest.json             hashes, version, parent, lineage, gates
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from dlgforge_core.errors import ExportError
from dlgforge_core.export import formats
from dlgforge_core.export.card import DataFile, Lineage, render_card
from dlgforge_core.export.checks import GateOutcome
from dlgforge_core.export.folder import atomic_folder, export_lock, list_files, resolve_export_dir
from dlgforge_core.export.gating import evaluate_gates
from dlgforge_core.export.kb_view import KBView
from dlgforge_core.export.manifest import (
    MANIFEST, code_version, compare, dataset_version, file_hashes, find_parent, record_history,
    stats_summary,
)
from dlgforge_core.export import secrets
from dlgforge_core.export.pii import find_pii, redact_value
from dlgforge_core.export.plots import DEFAULT_PLOTS_DIR, render_plots
from dlgforge_core.export.stats import (
    DEFAULT_STATS_FILE, build_stats, dropped_by_language, dumps_stats, merge_drops, stats_path,
)
from dlgforge_core.store.atomic import write_text_atomic
from dlgforge_core.store.gates import GATES_FILE
from dlgforge_core.store.jsonl import read_jsonl
from dlgforge_core.store.outputs import SHAREGPT, SHAREGPT_JUDGED, OutputStore


@dataclass
class ExportResult:
    """What ``prepare_export`` built."""

    export_dir: Path
    files: list[str]
    manifest: dict[str, Any]
    version: str
    parent_version: str | None
    stats: dict[str, Any]
    regressions: list[dict[str, Any]]
    gate_failures: list[GateOutcome]
    gates: list[GateOutcome] = field(default_factory=list)
    stats_diff: dict[str, Any] = field(default_factory=dict)
    redacted: bool = False
    redacted_secrets: bool = False


def prepare_export(cfg: Any, redact_pii: bool | None = None,
                   redact_secrets: bool | None = None) -> ExportResult:
    """Build ``saving.hf_push.export_dir`` atomically and record it in the export history.

    ``redact_pii`` / ``redact_secrets`` override ``saving.hf_push.redact_pii`` /
    ``redact_secrets``. Gate failures do not stop the export (it is local); they are
    returned and make ``push_export`` refuse.
    """
    export_dir = resolve_export_dir(cfg)
    with export_lock(cfg.output_dir):
        return _prepare(cfg, export_dir, redact_pii, redact_secrets)


def _prepare(cfg: Any, export_dir: Path, redact_pii: bool | None,
             redact_secrets: bool | None = None) -> ExportResult:
    hf = cfg.saving.hf_push
    redact = hf.redact_pii if redact_pii is None else bool(redact_pii)
    hide_secrets = hf.redact_secrets if redact_secrets is None else bool(redact_secrets)
    records = sorted(OutputStore(cfg).accepted_records(), key=lambda r: r["conversation_id"])
    if not records:
        raise ExportError(f"{Path(cfg.output_dir) / 'synthetic_qa.jsonl'}: no accepted conversations to export")
    if redact:
        records = [redact_value(r, r.get("language")) for r in records]
    if hide_secrets:
        records = [secrets.redact_value(r) for r in records]
    source = _source_file(cfg)
    kb = KBView(cfg)
    data = [DataFile("default", f"data/{source.name}", _source_description(source.name),
                     rows=_source_rows(cfg, source, redact))]
    data += _format_files(cfg, records, kb, redact)
    if hide_secrets:  # source rows and KB chunk texts too, not only the records
        for item in data:
            item.rows = [secrets.redact_value(row) for row in item.rows]
    gates = evaluate_gates(cfg, records, merge_drops(dropped_by_language(cfg)), _chunk_pii(data),
                           secrets.raft_chunk_secrets(data) if cfg.quality.secrets_check else [])
    stats = build_stats(cfg, records, kb) if hf.generate_stats else _minimal_stats(records)
    lineage = Lineage(models=_models(records), config_hash=cfg.config_hash,
                      kb_fingerprint=kb.fingerprint, kb_index_version=kb.index_version,
                      code_version=f"dlgforge {code_version()['dlgforge']}")
    with atomic_folder(export_dir, cfg.output_dir) as tmp:
        for item in data:
            _write_jsonl(tmp / item.path, item.rows)
            if item.model is not None:
                _write_json(tmp / "schemas" / f"{item.config_name}.schema.json",
                            formats.json_schema(item.config_name))
        plots: list[str] = []
        if hf.generate_stats:
            text = dumps_stats(stats)
            write_text_atomic(tmp / _leaf(hf.stats_file, DEFAULT_STATS_FILE, "stats_file"), text)
            write_text_atomic(stats_path(cfg), text)
            if hf.generate_plots:
                folder = tmp / _leaf(hf.plots_dir, DEFAULT_PLOTS_DIR, "plots_dir")
                plots = [p.relative_to(tmp).as_posix() for p in render_plots(stats, records, folder)]
        if hf.include_run_state:
            _copy_run_state(cfg, tmp / "run_state")
        (tmp / "README.md").write_text(render_card(cfg, stats, data, lineage, plots, redact,
                                                   redacted_secrets=hide_secrets), encoding="utf-8")
        manifest = _manifest(cfg, tmp, records, stats, lineage, gates, redact, hide_secrets)
        _write_json(tmp / MANIFEST, manifest)
    record_history(cfg, manifest)
    return ExportResult(
        export_dir=export_dir, files=list_files(export_dir), manifest=manifest,
        version=manifest["dataset_version"], parent_version=manifest["parent_version"], stats=stats,
        regressions=manifest["regressions"], gate_failures=[g for g in gates if not g.passed],
        gates=gates, stats_diff=manifest["parent_diff"], redacted=redact, redacted_secrets=hide_secrets)


def _manifest(cfg: Any, folder: Path, records: list[dict], stats: dict, lineage: Lineage,
              gates: list[GateOutcome], redacted: bool, redacted_secrets: bool = False) -> dict[str, Any]:
    files = file_hashes(folder)
    version = dataset_version(files)
    parent = find_parent(cfg, version)
    summary = stats_summary(stats)
    diff, regressions = compare((parent or {}).get("stats_summary"), summary)
    return {
        "format": "dlgforge-export/1",
        "dataset_version": version,
        "parent_version": (parent or {}).get("dataset_version"),
        "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": files,
        "records": len(records),
        "languages": sorted({str(r.get("language")) for r in records}),
        "config_hash": lineage.config_hash,
        "kb_fingerprint": lineage.kb_fingerprint,
        "kb_index_version": lineage.kb_index_version,
        "models": lineage.models,
        "code_version": code_version(),
        "stats_summary": summary,
        "parent_diff": diff,
        "regressions": regressions,
        "gates": {g.name: {"passed": g.passed, "description": g.description, "offending": g.offending}
                  for g in gates},
        "redacted_pii": redacted,
        "redacted_secrets": redacted_secrets,
        "pushed": None,
    }


def _source_file(cfg: Any) -> Path:
    """``saving.hf_push.source_file`` (inside the output dir), else the judged ShareGPT file
    when judging ran, else the plain one."""
    output_dir = Path(cfg.output_dir).resolve()
    name = cfg.saving.hf_push.source_file
    if name:
        path = (output_dir / name).resolve()
        if not path.is_relative_to(output_dir) or not path.is_file():
            raise ExportError(f"saving.hf_push.source_file: {name!r} is not a file inside {output_dir}")
        return path
    judged = output_dir / SHAREGPT_JUDGED
    if judged.is_file() and judged.stat().st_size > 0:
        return judged
    plain = output_dir / SHAREGPT
    if not plain.is_file():
        raise ExportError(f"{plain}: missing (run generation first)")
    return plain


def _source_description(name: str) -> str:
    if name == SHAREGPT_JUDGED:
        return "ShareGPT conversations with judge scores"
    if name == SHAREGPT:
        return "ShareGPT conversations"
    return f"rows of `{name}` from the output folder"


def _source_rows(cfg: Any, source: Path, redact: bool) -> list[dict]:
    column = cfg.saving.output_columns.metadata
    # Lines are appended in completion order; the export is in conversation order, so the same
    # conversations always give the same bytes (and the same dataset version).
    rows = sorted(read_jsonl(source), key=lambda row: str((row.get(column) or {}).get("conversation_id", "")))
    if not redact:
        return rows
    return [redact_value(row, (row.get(column) or {}).get("language") or row.get("language")) for row in rows]


def _format_files(cfg: Any, records: list[dict], kb: KBView, redact: bool) -> list[DataFile]:
    wanted = cfg.saving.hf_push.formats
    files = []
    if wanted.sft:
        files.append(DataFile("sft", "sft/train.jsonl", "chat format for supervised fine-tuning",
                              formats.sft_rows(records), formats.SFTRow))
    if wanted.raft:
        rows, _ = formats.raft_rows(records, kb)
        if redact:
            rows = [redact_value(row, row["language"]) for row in rows]
        files.append(DataFile("raft", "raft/train.jsonl", "question, oracle and distractor chunks, answer",
                              rows, formats.RaftRow))
    if wanted.dpo:
        files.append(DataFile("dpo", "dpo/train.jsonl", "preference pairs from judged candidate answers",
                              formats.dpo_rows(records, cfg.run.candidates_per_turn), formats.DPORow))
    return files


def _chunk_pii(files: list[DataFile]) -> list[str]:
    """PII in KB chunk texts shipped by the RAFT export, one line per chunk."""
    lines: dict[str, str] = {}
    for item in files:
        if item.config_name != "raft":
            continue
        for row in item.rows:
            for chunk in row["oracle_chunks"] + row["distractor_chunks"]:
                kinds = sorted({f.kind for f in find_pii(chunk["text"], row["language"])})
                if kinds and chunk["chunk_id"] not in lines:
                    lines[chunk["chunk_id"]] = f"KB chunk {chunk['chunk_id']}: {', '.join(kinds)}"
    return list(lines.values())


def _models(records: list[dict]) -> dict[str, list[str]]:
    models: dict[str, set[str]] = {}
    for record in records:
        for agent, model in (record.get("models") or {}).items():
            if model:
                models.setdefault(agent, set()).add(str(model))
    return {agent: sorted(names) for agent, names in sorted(models.items())}


def _minimal_stats(records: list[dict]) -> dict[str, Any]:
    languages: dict[str, int] = {}
    for record in records:
        languages[str(record.get("language"))] = languages.get(str(record.get("language")), 0) + 1
    return {"records": len(records), "languages": dict(sorted(languages.items()))}


def _leaf(value: str | None, default: str, key: str) -> str:
    """A file/folder name placed at the top of the export (its last path part)."""
    name = PurePosixPath(value or default).name
    if name in ("", ".", "..", MANIFEST, "README.md", "data", "schemas"):
        raise ExportError(f"saving.hf_push.{key}: {value!r} is not a usable name")
    return name


def _copy_run_state(cfg: Any, target: Path) -> None:
    source = Path(cfg.output_dir) / "run_state"
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.json")) if source.is_dir() else []:
        if path.name == GATES_FILE:
            continue  # re-stamped on every export; the manifest carries the gate outcomes
        shutil.copyfile(path, target / path.name)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
