"""The store: atomic writes, whole-line JSONL with torn-tail repair, commit and reconcile."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dlgforge_core.store.atomic import write_json_atomic
from dlgforge_core.store.jsonl import append_jsonl, read_jsonl, repair_torn_tail, write_jsonl_atomic
from dlgforge_core.store.outputs import (
    LEDGER, SHAREGPT, SHAREGPT_JUDGED, SYNTHETIC, TURNS, OutputStore,
)
from dlgforge_core.store.run_state import DroppedConversation, LanguageState, RunStateStore
from tests.engine.records import make_record


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_write_json_atomic_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "state.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"a": 2, "text": "é"})
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": 2, "text": "é"}
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_append_and_read_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    assert append_jsonl(path, [{"i": 1}, {"i": 2}]) == 2
    assert append_jsonl(path, []) == 0
    append_jsonl(path, [{"i": 3}])
    assert [r["i"] for r in read_jsonl(path)] == [1, 2, 3]
    assert path.read_bytes().endswith(b"\n")


def test_torn_tail_is_skipped_by_readers_and_cut_by_repair(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    append_jsonl(path, [{"i": 1}, {"i": 2}])
    with path.open("ab") as handle:
        handle.write(b'{"i": 3, "half')
    assert [r["i"] for r in read_jsonl(path)] == [1, 2]
    assert repair_torn_tail(path) is True
    assert path.read_bytes() == b'{"i":1}\n{"i":2}\n'
    assert repair_torn_tail(path) is False
    append_jsonl(path, [{"i": 4}])
    assert [r["i"] for r in read_jsonl(path)] == [1, 2, 4]


def test_repair_cuts_a_complete_but_corrupt_last_line_and_handles_big_files(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    append_jsonl(path, [{"i": i, "pad": "y" * 500} for i in range(300)])  # > one 64 KiB block
    with path.open("ab") as handle:
        handle.write(b'{"i": 300, "pad\n')
    assert repair_torn_tail(path) is True
    assert [r["i"] for r in read_jsonl(path)] == list(range(300))
    only_torn = tmp_path / "y.jsonl"
    only_torn.write_bytes(b'{"no newline"')
    assert repair_torn_tail(only_torn) is True
    assert only_torn.read_bytes() == b""


def test_write_jsonl_atomic_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    append_jsonl(path, [{"i": 1}])
    assert write_jsonl_atomic(path, iter([{"i": 5}, {"i": 6}])) == 2
    assert [r["i"] for r in read_jsonl(path)] == [5, 6]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.jsonl"]


def test_commit_writes_record_then_derived_files(make_config) -> None:
    cfg = make_config()
    store = OutputStore(cfg)
    records = [make_record(0, questions=["q a?", "q b?"], judged=True), make_record(1)]
    store.commit_many(records)
    out = cfg.output_dir
    assert [r["conversation_id"] for r in lines(out / SYNTHETIC)] == ["main-en-000000", "main-en-000001"]
    assert json.loads((out / "conversations" / "main-en-000000.json").read_text())["turns"][1]["user_message"] == "q b?"
    turns = lines(out / TURNS)
    assert [(t["conversation_id"], t["turn_index"]) for t in turns] == [
        ("main-en-000000", 0), ("main-en-000000", 1), ("main-en-000001", 0)]
    assert turns[0]["judge_score"] == 4 and turns[2]["judge_score"] is None
    assert len(lines(out / LEDGER)) == 2
    sharegpt = lines(out / SHAREGPT)
    assert [m["role"] for m in sharegpt[0]["messages"]] == ["user", "assistant", "user", "assistant"]
    judged = lines(out / SHAREGPT_JUDGED)
    assert [row["metadata"]["conversation_id"] for row in judged] == ["main-en-000000"]
    assert judged[0]["judge"]["avg_score"] == 4


def test_reconcile_after_crash_between_file_and_commit_point(make_config) -> None:
    """conversations/<id>.json written but no synthetic_qa line: not accepted, file removed."""
    cfg = make_config()
    store = OutputStore(cfg)
    store.commit(make_record(0))
    write_json_atomic(store.conversations_dir / "main-en-000001.json", make_record(1))
    (store.conversations_dir / ".main-en-000002.json.abc.tmp").write_text("{")
    report = store.reconcile()
    assert report.removed_orphans == 1
    assert sorted(p.name for p in store.conversations_dir.iterdir()) == ["main-en-000000.json"]
    assert [r["conversation_id"] for r in store.accepted_records()] == ["main-en-000000"]


def test_reconcile_rederives_lines_missing_after_the_commit_point(make_config) -> None:
    cfg = make_config()
    store = OutputStore(cfg)
    store.commit(make_record(0, questions=["a?", "b?"]))
    append_jsonl(store.path(SYNTHETIC), [make_record(1, questions=["c?", "d?"])])  # crash before derived
    os.unlink(store.conversations_dir / "main-en-000000.json")
    report = store.reconcile()
    assert set(report.rewritten) == {TURNS, LEDGER, SHAREGPT}
    assert report.restored_conversation_files == 2  # both: one deleted, one never written
    assert [(t["conversation_id"], t["turn_index"]) for t in lines(store.path(TURNS))] == [
        ("main-en-000000", 0), ("main-en-000000", 1), ("main-en-000001", 0), ("main-en-000001", 1)]
    assert len(lines(store.path(SHAREGPT))) == 2
    assert not store.path(SHAREGPT_JUDGED).exists()
    assert store.reconcile().rewritten == []  # now consistent: nothing to do


def test_reconcile_cuts_torn_commit_line_and_removes_its_derived_lines(make_config) -> None:
    cfg = make_config()
    store = OutputStore(cfg)
    store.commit(make_record(0))
    torn = make_record(1)
    append_jsonl(store.path(TURNS), [{"conversation_id": torn["conversation_id"], "turn_index": 0}])
    with store.path(SYNTHETIC).open("ab") as handle:
        handle.write(json.dumps(torn).encode()[:50])
    report = store.reconcile()
    assert SYNTHETIC in report.torn_tails
    assert TURNS in report.rewritten
    assert [t["conversation_id"] for t in lines(store.path(TURNS))] == ["main-en-000000"]
    assert len(lines(store.path(SYNTHETIC))) == 1


def test_replace_records_rewrites_every_file(make_config) -> None:
    cfg = make_config()
    store = OutputStore(cfg)
    store.commit_many([make_record(0), make_record(1)])
    judged = [make_record(0, judged=True), make_record(1, judged=True)]
    assert store.replace_records(iter(judged)) == 2
    assert all(t["judge_score"] == 4 for t in lines(store.path(TURNS)))
    assert len(lines(store.path(SHAREGPT_JUDGED))) == 2
    saved = json.loads((store.conversations_dir / "main-en-000001.json").read_text())
    assert saved["turns"][0]["qa_judge"]["score"] == 4
    assert not [p for p in cfg.output_dir.iterdir() if p.name.endswith(".tmp")]


def test_run_state_round_trip_and_run_index(tmp_path: Path) -> None:
    states = RunStateStore(tmp_path)
    assert states.load("main", "en") is None and not states.has_run("main")
    state = LanguageState(run_id="main", language="en", target=5, next_index=3,
                          dropped=[DroppedConversation(conversation_id="main-en-000001", conversation_index=1,
                                                       reason="dedup_exhausted", turn_index=0)])
    states.save(state)
    states.save(LanguageState(run_id="main", language="fr", target=5))
    loaded = states.load("main", "en")
    assert loaded.next_index == 3 and loaded.dropped_by_reason() == {"dedup_exhausted": 1}
    assert loaded.dropped_indices() == {1}
    assert states.has_run("main") and not states.has_run("other")
    index = json.loads((tmp_path / "run_state" / "main.json").read_text())
    assert set(index["languages"]) == {"en", "fr"}


def test_commit_many_passes_records_of_other_processes_to_admit(make_config) -> None:
    cfg = make_config()
    ours, theirs = OutputStore(cfg), OutputStore(cfg)  # two processes on one folder
    ours.commit(make_record(0, "en"))
    ours.mark_seen()
    seen: list[list[str]] = []

    def admit(foreign, records):
        seen.append([r["conversation_id"] for r in foreign])
        return [r for r in records if r["turns"][0]["user_message"] not in
                {t["user_message"] for f in foreign for t in f["turns"]}]

    theirs.commit(make_record(0, "fr", questions=["clash?"]))
    committed = ours.commit_many([make_record(1, "en", questions=["clash?"]), make_record(2, "en")], admit)
    assert seen == [["main-fr-000000"]]
    assert [r["conversation_id"] for r in committed] == ["main-en-000002"]
    ours.commit_many([make_record(3, "en")], admit)
    assert seen[-1] == []  # our own lines are never handed back as foreign
    ids = [r["conversation_id"] for r in ours.accepted_records()]
    assert ids == ["main-en-000000", "main-fr-000000", "main-en-000002", "main-en-000003"]
