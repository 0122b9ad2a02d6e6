"""`dlgforge kb eval CONFIG --questions FILE`: exact metrics on a hand-checkable KB, bad files.

The KB has two documents with disjoint vocabularies: ``volcano.md`` (two chunks, both about
volcanoes) and ``banking.md`` (one chunk). Full-text search finds only documents sharing a
term with the question; vector search ranks both, the matching one first. With K = 1:

| question | relevant | vector and hybrid: items | fts: items |
|---|---|---|---|
| magma | volcano | [volcano, banking]: RR 1, R@1 1, nDCG 1 | [volcano]: 1, 1, 1 |
| savings | volcano | [banking, volcano]: RR 1/2, R@1 0, nDCG 1/log2(3) | [banking]: 0, 0, 0 |
| savings | both | [banking, volcano]: RR 1, R@1 1/2, nDCG 1 | [banking]: 1, 1/2, 1/(1 + 1/log2 3) |

(volcano.md's two chunks count once.)
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlgforge_assets.cli import main

from tests.kb.conftest import write_config

VOLCANO = """# Volcanoes

## Eruptions

Volcanoes erupt when molten magma rises from the magma chamber through a vent and reaches
the surface as lava. Explosive eruptions throw ash and pumice high into the sky.

## Volcano types

A shield volcano has gentle slopes built by fluid lava flows; a stratovolcano is a steep cone
of hardened lava, ash and cinders from many eruptions.
"""
BANKING = """# Savings accounts

A savings account at a bank pays interest on the deposited money every month. The interest
rate is set by the bank, and deposits are insured up to a limit.
"""
MAGMA = "How does magma reach the surface of a volcano?"
SAVINGS = "What interest does a savings account earn?"
G2 = 1 / math.log2(3)  # the gain of rank 2


@pytest.fixture(scope="module")
def two_doc_kb(tmp_path_factory) -> tuple[Path, Path]:
    """(config, folder) of the two-document KB, built once."""
    root = tmp_path_factory.mktemp("evalkb")
    knowledge = root / "knowledge"
    knowledge.mkdir()
    (knowledge / "volcano.md").write_text(VOLCANO, encoding="utf-8")
    (knowledge / "banking.md").write_text(BANKING, encoding="utf-8")
    config = write_config(root, knowledge, chunk_size=200, chunk_overlap=0)
    built = CliRunner().invoke(main, ["kb", "build", str(config)])
    assert built.exit_code == 0, built.output
    return config, root


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _eval(config: Path, questions: Path, *args: str) -> dict:
    result = CliRunner().invoke(main, ["kb", "eval", str(config), "--questions", str(questions),
                                       "-k", "1", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_exact_metrics_for_every_mode(two_doc_kb, tmp_path):
    config, _ = two_doc_kb
    questions = _write(tmp_path / "q.jsonl", [
        {"question": MAGMA, "relevant": ["volcano.md"]},
        {"question": SAVINGS, "relevant": ["volcano.md"]},
        {"question": SAVINGS, "relevant": ["banking.md", "volcano.md"]},
    ])
    report = _eval(config, questions)
    assert report["questions"] == 3 and report["k"] == 1
    assert set(report["modes"]) == {"hybrid", "vector", "fts"}
    expected = {
        "vector": {"recall@k": (1 + 0 + 0.5) / 3, "mrr@10": (1 + 0.5 + 1) / 3,
                   "ndcg@10": (1 + G2 + 1) / 3},
        "fts": {"recall@k": (1 + 0 + 0.5) / 3, "mrr@10": (1 + 0 + 1) / 3,
                "ndcg@10": (1 + 0 + 1 / (1 + G2)) / 3},
    }
    expected["hybrid"] = expected["vector"]
    for mode, metrics in expected.items():
        got = report["modes"][mode]
        for metric, value in metrics.items():
            assert got[metric] == pytest.approx(value, abs=1e-4), (mode, metric, got)
        assert got["ms_per_question"] > 0


def test_chunk_ids_as_labels_and_one_mode(two_doc_kb, tmp_path):
    config, _ = two_doc_kb
    from dlgforge_core.config import load_config
    from dlgforge_core.kb import KnowledgeBase

    kb = KnowledgeBase(load_config(config))
    first, second = kb.chunks_for_source("volcano.md")
    questions = _write(tmp_path / "q.jsonl", [
        # the eruption chunk is the best match: it is item 1; the other volcano chunk is
        # not labelled, so it is the document "volcano.md", not a relevant item
        {"question": "Why do volcanoes erupt molten magma from the magma chamber?",
         "relevant": [first.chunk_id]},
    ])
    report = _eval(config, questions, "--mode", "fts")
    assert list(report["modes"]) == ["fts"]
    assert report["modes"]["fts"]["mrr@10"] == pytest.approx(1.0)
    assert report["modes"]["fts"]["recall@k"] == pytest.approx(1.0)
    assert second.chunk_id != first.chunk_id


def test_history_feeds_the_conversation_query(two_doc_kb, tmp_path):
    config, _ = two_doc_kb
    # "How does it work?" alone shares no term with either document: full-text finds
    # nothing; with the earlier user turn it finds the savings account document
    questions = _write(tmp_path / "q.jsonl", [
        {"question": "How does it work?", "relevant": ["banking.md"],
         "history": ["Tell me about savings accounts.",
                     {"role": "assistant", "content": "Volcanoes erupt magma."}]},
    ])
    alone = _eval(config, questions, "--mode", "fts", "--query-turns", "1")
    assert alone["modes"]["fts"]["mrr@10"] == 0.0
    with_history = _eval(config, questions, "--mode", "fts")
    assert with_history["modes"]["fts"]["mrr@10"] == pytest.approx(1.0)


def test_table_output(two_doc_kb, tmp_path):
    config, _ = two_doc_kb
    questions = _write(tmp_path / "q.jsonl", [{"question": MAGMA, "relevant": ["volcano.md"]},
                                              {"question": MAGMA, "relevant": ["nowhere.md"]}])
    result = CliRunner().invoke(main, ["kb", "eval", str(config), "--questions", str(questions)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "questions: 2, k: 5"
    assert lines[1].split() == ["mode", "recall@5", "mrr@10", "ndcg@10", "ms/question"]
    assert [line.split()[0] for line in lines[2:5]] == ["hybrid", "vector", "fts"]
    assert all(line.split()[2] == "0.5000" for line in lines[2:5])
    assert "warning: 1 relevant entries" in result.stderr and "nowhere.md" in result.stderr


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "not valid JSON"),
    ('{"question": "", "relevant": ["a.md"]}', "'question' must be a non-empty string"),
    ('{"question": "q", "relevant": []}', "'relevant' must be a non-empty list"),
    ('{"question": "q", "relevant": ["a.md"], "history": "x"}', "'history' must be a list"),
    ('["q"]', "expected a JSON object"),
])
def test_bad_questions_file_exits_2_with_the_line(two_doc_kb, tmp_path, line, message):
    config, _ = two_doc_kb
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": MAGMA, "relevant": ["volcano.md"]}) + "\n\n"
                   + line + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["kb", "eval", str(config), "--questions", str(bad)])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {bad}:3: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_bad_file_from_the_command_line_has_no_traceback(two_doc_kb, tmp_path):
    config, _ = two_doc_kb
    proc = subprocess.run([sys.executable, "-m", "dlgforge_assets", "kb", "eval", str(config),
                           "--questions", str(tmp_path / "missing.jsonl")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {tmp_path / 'missing.jsonl'}: no such file"


def test_each_mode_is_timed_from_cold_after_one_untimed_search():
    # the first search of a mode loads the encoder and the in-memory index: not a question's
    # cost; the caches are emptied after it, so every mode embeds its own questions
    from types import SimpleNamespace

    from dlgforge_core.kb.eval_questions import EvalQuestion
    from dlgforge_core.kb.evaluation import evaluate

    calls: list[tuple] = []

    class RecordingKB:
        manifest = object()

        def search(self, question, k, mode, context=(), query_turns=None):
            calls.append(("search", mode, question))
            return [SimpleNamespace(chunk_id="c1", source="a.md")]

        def clear_query_cache(self):
            calls.append(("clear",))

    questions = [EvalQuestion("first?", ("a.md",)), EvalQuestion("second?", ("b.md",))]
    results = evaluate(RecordingKB(), questions, 5, ["hybrid", "fts"])
    assert calls == [("search", "hybrid", "first?"), ("clear",), ("search", "hybrid", "first?"),
                     ("search", "hybrid", "second?"),
                     ("search", "fts", "first?"), ("clear",), ("search", "fts", "first?"),
                     ("search", "fts", "second?")]
    assert [q["recall@k"] for q in results["hybrid"].per_question] == [1.0, 0.0]
