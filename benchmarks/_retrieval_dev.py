"""The retrieval development set as `dlgforge kb eval` input (used by kb_eval.py).

The set (``/work/shared/data/retrieval-dev`` or ``$DLGFORGE_RETRIEVAL_DEV``; Apache-2.0,
from IBM MTRAG-UN) has ``passages/`` (the documents) and ``questions.jsonl`` with ``question``
(the last user turn), ``recent_user_turns`` (the last three user turns joined) and
``relevant`` (passage file names). A question becomes ``{question, relevant, history}``,
its history being the earlier user turns (``recent_user_turns`` without the question).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

DEV = Path(os.environ.get("DLGFORGE_RETRIEVAL_DEV", "/work/shared/data/retrieval-dev"))


def eval_record(row: dict) -> dict:
    """One dev-set line as a `kb eval` question."""
    question = row["question"].strip()
    recent = " ".join(row.get("recent_user_turns", "").split())
    tail = " ".join(question.split())
    earlier = recent[: -len(tail)].strip() if tail and recent.endswith(tail) else ""
    record = {"id": row["id"], "question": question, "relevant": list(row["relevant"])}
    if earlier:
        record["history"] = [earlier]
    return record


def convert(source: Path, dest: Path) -> int:
    """Write the eval JSONL of ``source`` (questions.jsonl) to ``dest``; returns the count."""
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    dest.write_text("".join(json.dumps(eval_record(r)) + "\n" for r in rows), encoding="utf-8")
    return len(rows)
