"""``push_export``: upload a prepared export folder to the Hugging Face Hub in one commit.

The token comes from ``HF_TOKEN`` (environment or the ``.env`` next to the config), or from
``dlgforge push --token``; it is never printed, logged or written. ``HF_ENDPOINT`` points
the client at another Hub.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import huggingface_hub  # imported early: the Hub's offline flag is read at import time
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError

from dlgforge_core.errors import ExportError, GateError
from dlgforge_core.export.gating import gate_message
from dlgforge_core.export.manifest import history, mark_pushed
from dlgforge_core.export.secrets import scrub


@dataclass
class PushResult:
    """Where the export went."""

    url: str
    commit: str | None
    repo_id: str = ""
    commit_url: str | None = None
    files: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def push_export(cfg: Any, result: Any, *, token: str | None = None, clean_remote: bool = False) -> PushResult:
    """Create the repo if missing (private by default) and commit every export file at once.

    Files the last push to this repo uploaded and the export no longer has are deleted in
    the same commit; with ``clean_remote``, every remote file the export does not have is.
    ``token`` replaces ``HF_TOKEN``. Raises GateError while a quality gate fails,
    ExportError for missing settings or a failed upload (one line, never the token).
    """
    if result.gate_failures:
        raise GateError(gate_message(result.gate_failures)
                        + " (use --redact-pii for PII, --redact-secrets for secrets, or fix the data)")
    token = check_push_settings(cfg, token)
    if huggingface_hub.constants.is_offline_mode():
        raise ExportError("HF_HUB_OFFLINE: the Hub client is in offline mode (HF_HUB_OFFLINE or "
                          "TRANSFORMERS_OFFLINE was set when it loaded); unset it to push")
    hf = cfg.saving.hf_push
    export_dir = Path(result.export_dir)
    files = list(result.files)
    deleted = _stale_files(cfg, hf.repo_id, set(files))
    api = HfApi(endpoint=cfg.env("HF_ENDPOINT") or None, token=token)
    try:
        repo_url = api.create_repo(hf.repo_id, repo_type=hf.repo_type, private=hf.private, exist_ok=True,
                                   space_sdk="static" if hf.repo_type == "space" else None)
        if clean_remote:
            remote = set(api.list_repo_files(hf.repo_id, repo_type=hf.repo_type))
            deleted = sorted((remote - set(files)) - _KEPT_REMOTE)
        operations = [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(export_dir / rel)) for rel in files]
        operations += [CommitOperationDelete(path_in_repo=rel) for rel in deleted]
        info = api.create_commit(hf.repo_id, operations=operations, repo_type=hf.repo_type,
                                 commit_message=hf.commit_message,
                                 commit_description=f"dataset version {result.version}")
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else "?"
        raise ExportError(f"saving.hf_push.repo_id: push to {hf.repo_id!r} failed "
                          f"(HTTP {status}: {_detail(err, token)})") from None
    except OSError as err:
        raise ExportError(f"saving.hf_push.repo_id: push to {hf.repo_id!r} failed ({type(err).__name__})") from None
    pushed = PushResult(url=str(repo_url), commit=info.oid, repo_id=hf.repo_id, commit_url=info.commit_url,
                        files=files, deleted=deleted)
    mark_pushed(cfg, result.version, {"repo_id": hf.repo_id, "url": pushed.url, "commit": pushed.commit})
    return pushed


def check_push_settings(cfg: Any, token: str | None = None) -> str:
    """Fail fast (before building an export) when a push cannot work; returns the token
    (``token`` when given, else ``HF_TOKEN``)."""
    if not cfg.saving.hf_push.repo_id:
        raise ExportError("saving.hf_push.repo_id: not set (needed to push; or pass --repo-id)")
    token = token or cfg.env("HF_TOKEN")
    if not token:
        raise ExportError("HF_TOKEN: not set in the environment or .env (needed to push)")
    return token


# Files a Hub repo keeps whatever the export holds (--clean-remote never deletes them).
_KEPT_REMOTE = {".gitattributes"}


def _stale_files(cfg: Any, repo_id: str, current: set[str]) -> list[str]:
    """Files the last push to ``repo_id`` uploaded that this export no longer has."""
    for entry in reversed(history(cfg)):
        pushed = entry.get("pushed") or {}
        if pushed.get("repo_id") == repo_id:
            previous = set(entry.get("files") or {}) | {"manifest.json"}
            return sorted(previous - current)
    return []


def _detail(err: HfHubHTTPError, token: str) -> str:
    """The Hub's own message when it sent one (else the error's first line), with the token
    scrubbed: a server may echo the credentials it rejected."""
    message = (getattr(err, "server_message", None) or "").strip().splitlines()
    return scrub(message[0][:200] if message else _first_line(err), [token])


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
