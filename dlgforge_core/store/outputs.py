"""The output folder contract: accepted records, their derived files, and crash recovery.

A conversation is accepted exactly when its line is in ``synthetic_qa.jsonl``. Commit order
is ``conversations/<id>.json`` (atomic), then the ``synthetic_qa.jsonl`` line (the commit
point), then the derived lines (turns, coverage ledger, ShareGPT). ``reconcile()`` makes
the derived files agree with ``synthetic_qa.jsonl`` again after a crash. Every mutation
holds an advisory file lock, so two processes (two language partitions) can share a folder.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dlgforge_core.store.atomic import dumps, write_json_atomic
from dlgforge_core.store.jsonl import append_jsonl, read_jsonl, repair_torn_tail
from dlgforge_core.store.locks import exclusive_lock

SYNTHETIC = "synthetic_qa.jsonl"
TURNS = "turns.jsonl"
LEDGER = "coverage_ledger.jsonl"
SHAREGPT = "conversations_sharegpt.jsonl"
SHAREGPT_JUDGED = "conversations_sharegpt_judged.jsonl"
CONVERSATIONS = "conversations"
LOCK = ".dlgforge.lock"
Admit = Callable[[list[dict[str, Any]], list[dict[str, Any]]], list[dict[str, Any]]]


def turn_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``turns.jsonl`` rows of one accepted conversation record."""
    conv_judge = record.get("conversation_judge") or {}
    rows = []
    for turn in record["turns"]:
        judge = turn.get("qa_judge") or {}
        row = {
            "conversation_id": record["conversation_id"],
            "run_id": record["run_id"],
            "language": record["language"],
            "turn_index": turn["turn_index"],
            "user_message": turn["user_message"],
            "assistant_message": turn["assistant_message"],
            "grounding_chunk_ids": [c["chunk_id"] for c in turn["grounding"]["chunks"]],
            "judge_score": judge.get("score"),
            "judge_reasons": judge.get("reasons"),
            "conversation_judge_score": conv_judge.get("score"),
        }
        if "web_sources" in turn:  # the run had web search on
            row["web_source_urls"] = web_source_urls([turn])
        rows.append(row)
    return rows


def web_source_urls(turns: list[dict[str, Any]]) -> list[str]:
    """The URLs of the web results these turns' answers were given, first seen first."""
    urls = (source.get("url") for turn in turns for source in turn.get("web_sources") or ())
    return list(dict.fromkeys(url for url in urls if url))


def ledger_row(record: dict[str, Any]) -> dict[str, Any]:
    """The ``coverage_ledger.jsonl`` row: which KB sources and chunks each turn drew on."""
    return {
        "conversation_id": record["conversation_id"],
        "run_id": record["run_id"],
        "language": record["language"],
        "conversation_index": record["conversation_index"],
        "topic": record.get("topic"),
        "seeded": record.get("seeded", False),
        "turns": [
            {
                "turn_index": t["turn_index"],
                "mode": t.get("mode"),
                "sources": t.get("question_sources", []),
                "question_chunk_ids": t.get("question_chunk_ids", []),
                "grounding_chunk_ids": [c["chunk_id"] for c in t["grounding"]["chunks"]],
            }
            for t in record["turns"]
        ],
    }


def is_judged(record: dict[str, Any]) -> bool:
    """True when the record carries judge output (per turn or per conversation)."""
    if record.get("conversation_judge"):
        return True
    return any(t.get("qa_judge") for t in record.get("turns", []))


@dataclass
class ReconcileReport:
    """What ``reconcile()`` found and fixed."""

    committed: int = 0
    torn_tails: list[str] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    restored_conversation_files: int = 0
    removed_orphans: int = 0


class OutputStore:
    """Reads and writes the files under ``saving.output_dir`` (see docs/architecture.md)."""

    def __init__(self, cfg: Any) -> None:
        self._seen_bytes: int | None = None
        self.root = Path(cfg.output_dir)
        self.columns = cfg.saving.output_columns
        self.conversations_dir = self.root / CONVERSATIONS
        self.run_state_dir = self.root / "run_state"
        self.logs_dir = Path(getattr(cfg, "logs_dir", self.root / "logs"))

    def path(self, name: str) -> Path:
        """Absolute path of one output file, e.g. ``store.path(TURNS)``."""
        return self.root / name

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's exclusive advisory lock (blocks; call off the event loop)."""
        with exclusive_lock(self.root / LOCK):
            yield

    def accepted_records(self, run_id: str | None = None, language: str | None = None) -> Iterator[dict]:
        """Stream accepted records, optionally only one run id and/or language."""
        for record in read_jsonl(self.path(SYNTHETIC)):
            if run_id is not None and record.get("run_id") != run_id:
                continue
            if language is not None and record.get("language") != language:
                continue
            yield record

    def memory_records(self, run_id: str | None = None) -> Iterator[dict]:
        """Every accepted record of the folder (the dedup scope: all runs), after ``mark_seen``."""
        self.mark_seen()
        return self.accepted_records()

    def commit(self, record: dict[str, Any]) -> None:
        """Accept one conversation (see :meth:`commit_many`)."""
        self.commit_many([record])

    def mark_seen(self) -> None:
        """Remember how much of ``synthetic_qa.jsonl`` this process has read (call before reading it)."""
        path = self.path(SYNTHETIC)
        self._seen_bytes = path.stat().st_size if path.exists() else 0

    def commit_many(self, records: list[dict[str, Any]], admit: Admit | None = None) -> list[dict[str, Any]]:
        """Accept a batch of conversations with one fsync per file (group commit).

        With ``admit`` (after :meth:`mark_seen`), the records other processes committed since
        this one last read or wrote the file are passed to ``admit(foreign, records)`` under
        the folder lock, and only the records it returns are committed (cross-process dedup).
        The per-conversation JSON files are renamed into place without an fsync of their
        own: the ``synthetic_qa.jsonl`` line is the durable commit point, and
        ``reconcile()`` rewrites any conversation file a crash lost. Returns what was committed.
        """
        if not records and admit is None:
            return []
        with self.lock():
            if admit is not None and self._seen_bytes is not None:
                records = admit(list(self._read_from(self._seen_bytes)), records)
            for record in records:
                self._write_conversation_file(record)
            append_jsonl(self.path(SYNTHETIC), records)
            self._append_derived(records)
            if self._seen_bytes is not None:
                self.mark_seen()
        return records

    def _read_from(self, offset: int) -> Iterator[dict[str, Any]]:
        path = self.path(SYNTHETIC)
        if not path.exists():
            return
        if path.stat().st_size < offset:
            return  # rewritten meanwhile (reconcile, offline judge): nothing new to absorb
        with path.open("rb") as handle:
            handle.seek(offset)
            for raw in handle:
                if raw.endswith(b"\n") and raw.strip():
                    try:
                        yield json.loads(raw)
                    except json.JSONDecodeError:
                        continue

    def replace_records(self, records: Iterable[dict[str, Any]]) -> int:
        """Atomically rewrite ``synthetic_qa.jsonl``, the conversation files and every derived file."""
        with self.lock():
            writers = _RewriteSet(self.root, [SYNTHETIC, TURNS, LEDGER, SHAREGPT, SHAREGPT_JUDGED])
            count = 0
            judged_any = False
            try:
                for record in records:
                    self._write_conversation_file(record)
                    writers.write(SYNTHETIC, [record])
                    writers.write(TURNS, turn_rows(record))
                    writers.write(LEDGER, [ledger_row(record)])
                    writers.write(SHAREGPT, [self._sharegpt(record, judged=False)])
                    if is_judged(record):
                        judged_any = True
                        writers.write(SHAREGPT_JUDGED, [self._sharegpt(record, judged=True)])
                    count += 1
            except BaseException:
                writers.abort()
                raise
            writers.commit(skip_empty={SHAREGPT_JUDGED} if not judged_any else set())
            return count

    def reconcile(self) -> ReconcileReport:
        """Repair torn tails and make every derived file agree with ``synthetic_qa.jsonl``."""
        report = ReconcileReport()
        if not self.root.exists():
            return report
        with self.lock():
            for name in (SYNTHETIC, TURNS, LEDGER, SHAREGPT, SHAREGPT_JUDGED):
                if repair_torn_tail(self.path(name)):
                    report.torn_tails.append(name)
            expected = self._scan_committed()
            report.committed = len(expected.order)
            if expected.duplicates:
                self._rewrite(SYNTHETIC, self._unique_records(), report)
            for name in (TURNS, LEDGER, SHAREGPT, SHAREGPT_JUDGED):
                if not self._derived_consistent(name, expected):
                    self._rewrite(name, self._derived_rows(name), report)
            self._reconcile_conversation_files(expected, report)
        return report

    # -- internals -------------------------------------------------------------------

    def _write_conversation_file(self, record: dict[str, Any]) -> None:
        target = self.conversations_dir / f"{record['conversation_id']}.json"
        write_json_atomic(target, record, fsync=False)

    def _sharegpt(self, record: dict[str, Any], judged: bool) -> dict[str, Any]:
        from dlgforge_core.export.sharegpt import to_sharegpt

        return to_sharegpt(record, self.columns, judged=judged)

    def _append_derived(self, records: list[dict[str, Any]]) -> None:
        append_jsonl(self.path(TURNS), [row for r in records for row in turn_rows(r)])
        append_jsonl(self.path(LEDGER), [ledger_row(r) for r in records])
        append_jsonl(self.path(SHAREGPT), [self._sharegpt(r, judged=False) for r in records])
        judged = [self._sharegpt(r, judged=True) for r in records if is_judged(r)]
        append_jsonl(self.path(SHAREGPT_JUDGED), judged)

    def _scan_committed(self) -> _Committed:
        committed = _Committed()
        for record in read_jsonl(self.path(SYNTHETIC)):
            cid = record.get("conversation_id")
            if cid in committed.turns:
                committed.duplicates = True
                continue
            committed.order.append(cid)
            committed.turns[cid] = len(record.get("turns", []))
            if is_judged(record):
                committed.judged.add(cid)
        return committed

    def _unique_records(self) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        for record in read_jsonl(self.path(SYNTHETIC)):
            if record["conversation_id"] not in seen:
                seen.add(record["conversation_id"])
                yield record

    def _row_id(self, name: str, row: dict[str, Any]) -> str | None:
        if name in (SHAREGPT, SHAREGPT_JUDGED):
            meta = row.get(self.columns.metadata)
            return meta.get("conversation_id") if isinstance(meta, dict) else None
        return row.get("conversation_id")

    def _derived_consistent(self, name: str, expected: _Committed) -> bool:
        path = self.path(name)
        if name == SHAREGPT_JUDGED:
            wanted = Counter({cid: 1 for cid in expected.judged})
        elif name == TURNS:
            wanted = Counter({cid: n for cid, n in expected.turns.items() if n})
        else:
            wanted = Counter({cid: 1 for cid in expected.order})
        if not path.exists():
            return not wanted
        found = Counter(self._row_id(name, row) for row in read_jsonl(path))
        return found == wanted

    def _derived_rows(self, name: str) -> Iterator[dict[str, Any]]:
        for record in self._unique_records():
            if name == TURNS:
                yield from turn_rows(record)
            elif name == LEDGER:
                yield ledger_row(record)
            elif name == SHAREGPT:
                yield self._sharegpt(record, judged=False)
            elif is_judged(record):
                yield self._sharegpt(record, judged=True)

    def _rewrite(self, name: str, rows: Iterator[dict[str, Any]], report: ReconcileReport) -> None:
        writers = _RewriteSet(self.root, [name])
        try:
            for row in rows:
                writers.write(name, [row])
        except BaseException:
            writers.abort()
            raise
        writers.commit(skip_empty=set())
        report.rewritten.append(name)

    def _reconcile_conversation_files(self, expected: _Committed, report: ReconcileReport) -> None:
        committed = set(expected.order)
        if self.conversations_dir.exists():
            for entry in os.scandir(self.conversations_dir):
                stem = entry.name[: -len(".json")] if entry.name.endswith(".json") else None
                if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    os.unlink(entry.path)  # a temp file left by a crash mid-write
                elif stem is not None and stem not in committed:
                    os.unlink(entry.path)
                    report.removed_orphans += 1
        missing = {cid for cid in committed if not (self.conversations_dir / f"{cid}.json").exists()}
        if missing:
            for record in self._unique_records():
                if record["conversation_id"] in missing:
                    self._write_conversation_file(record)
                    report.restored_conversation_files += 1


@dataclass
class _Committed:
    order: list[str] = field(default_factory=list)
    turns: dict[str, int] = field(default_factory=dict)
    judged: set[str] = field(default_factory=set)
    duplicates: bool = False


class _RewriteSet:
    """Temp files for several outputs, renamed into place together after an fsync."""

    def __init__(self, root: Path, names: list[str]) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.handles = {n: open(root / f".{n}.rewrite.tmp", "wb") for n in names}
        self.counts = Counter({n: 0 for n in names})

    def write(self, name: str, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.handles[name].write((dumps(row) + "\n").encode("utf-8"))
            self.counts[name] += 1

    def commit(self, skip_empty: set[str]) -> None:
        for name, handle in self.handles.items():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            tmp = self.root / f".{name}.rewrite.tmp"
            if name in skip_empty and self.counts[name] == 0:
                tmp.unlink()
                (self.root / name).unlink(missing_ok=True)
            else:
                os.replace(tmp, self.root / name)

    def abort(self) -> None:
        for name, handle in self.handles.items():
            handle.close()
            (self.root / f".{name}.rewrite.tmp").unlink(missing_ok=True)
