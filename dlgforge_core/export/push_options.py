"""What ``dlgforge push`` flags change: config overrides, and the existing export folder
(``--no-export``) read back as an ``ExportResult``.

The flags mirror dlgforge's: ``--repo-id``, ``--repo-type``, ``--commit-message`` and
``--include-run-state`` replace their ``saving.hf_push`` keys for this push only;
``--source-dir`` replaces ``saving.output_dir`` (the folder holding the run's outputs) and
``--export-dir`` replaces ``saving.hf_push.export_dir`` (still inside the output folder).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dlgforge_core.errors import ExportError
from dlgforge_core.export.checks import GateOutcome
from dlgforge_core.export.folder import list_files, resolve_export_dir
from dlgforge_core.export.manifest import MANIFEST
from dlgforge_core.export.prepare import ExportResult


@dataclass
class PushOverrides:
    """The push flags that change the config (None: keep the config's value)."""

    repo_id: str | None = None
    repo_type: str | None = None
    source_dir: Path | None = None
    export_dir: str | None = None
    include_run_state: bool = False
    commit_message: str | None = None


def apply_overrides(cfg: Any, flags: PushOverrides) -> None:
    """Set the flags' values on ``cfg`` (validated like the config keys; a bad value is an
    ExportError naming the flag). ``--source-dir`` is relative to the working directory."""
    hf = cfg.saving.hf_push
    for flag, key, value in (("--repo-id", "repo_id", flags.repo_id), ("--repo-type", "repo_type", flags.repo_type),
                             ("--commit-message", "commit_message", flags.commit_message),
                             ("--export-dir", "export_dir", flags.export_dir)):
        if value is not None:
            _assign(hf, key, value, flag)
    if flags.include_run_state:
        hf.include_run_state = True
    if flags.source_dir is not None:
        source = Path(flags.source_dir).expanduser().resolve()
        if not source.is_dir():
            raise ExportError(f"--source-dir: {flags.source_dir} is not a folder")
        cfg.saving.output_dir = source
    if flags.export_dir is not None:
        try:
            resolve_export_dir(cfg)
        except ExportError as err:
            raise ExportError(f"--export-dir: {err}") from None


def existing_export(cfg: Any) -> ExportResult:
    """The export folder as it is (``--no-export``): its files, and its version and gate
    outcomes from its ``manifest.json``. A missing folder or manifest is an ExportError."""
    export_dir = resolve_export_dir(cfg)
    manifest_path = export_dir / MANIFEST
    if not manifest_path.is_file():
        raise ExportError(f"--no-export: {manifest_path} not found (build the export first: "
                          "dlgforge push CONFIG --no-push)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        gates = [GateOutcome(name, bool(g["passed"]), str(g.get("description") or ""), list(g.get("offending") or []))
                 for name, g in (manifest.get("gates") or {}).items()]
        version = str(manifest["dataset_version"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ExportError(f"--no-export: {manifest_path} is not a dlgforge export manifest") from None
    return ExportResult(
        export_dir=export_dir, files=list_files(export_dir), manifest=manifest, version=version,
        parent_version=manifest.get("parent_version"), stats={}, regressions=list(manifest.get("regressions") or []),
        gate_failures=[g for g in gates if not g.passed], gates=gates, stats_diff={},
        redacted=bool(manifest.get("redacted_pii")))


def _assign(section: Any, key: str, value: Any, flag: str) -> None:
    try:
        setattr(section, key, value)
    except ValidationError as err:
        raise ExportError(f"{flag}: {value!r} is not valid ({err.errors()[0]['msg']})") from None
