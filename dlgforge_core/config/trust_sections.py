"""Config sections of what may enter and leave a dataset: KB ingestion rules
(``retrieval.ingest``) and the judge self-check (``judge.self_check``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dlgforge_core.config.base import Section


class IngestConfig(Section):
    """``retrieval.ingest``: which files of the KB folder are read, and secrets in them.

    Every file left out is reported with its reason by ``dlgforge kb build``.
    """

    # A symbolic link (file or folder) whose target lies outside the KB folder is skipped
    # unless this is true: a link to /etc/passwd must not end up retrievable.
    follow_external_links: bool = False
    # .env*, *.pem, *.key, id_rsa*, credentials.json, .netrc, ... (see docs/config.md)
    skip_secret_files: bool = True
    # Extra .gitignore-style patterns, applied after the KB folder's .dlgforgeignore.
    ignore: list[str] = Field(default_factory=list)
    # Documents are scanned for secrets at build time (path, line and kind are reported);
    # "skip" also leaves a document holding secrets out of the index.
    scan_secrets: bool = True
    documents_with_secrets: Literal["report", "skip"] = "report"


class JudgeSelfCheckConfig(Section):
    """``judge.self_check``: before judging, test the judge on contrastive probes from the KB.

    Each probe is a question built from one KB chunk with (a) an answer taken from that chunk
    and (b) an answer taken from an unrelated chunk; the judge scores both with its normal
    prompt. Accuracy = share of probes where a > b (ties count half).
    """

    enabled: bool = True
    probes: int = Field(default=8, ge=1, le=500)
    min_accuracy: float = Field(default=0.75, ge=0.0, le=1.0)
    # false: a low accuracy is a warning (asset check severity WARN, the push still goes);
    # true: it blocks the export and the push like the other blocking gates.
    blocking: bool = False
