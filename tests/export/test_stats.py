"""Issue 6, test 1: stats recomputed independently from the JSONL match dataset_stats.json."""

from __future__ import annotations

import itertools
import json
import re
import statistics
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dlgforge_core.export import compute_stats, prepare_export
from tests.export.conftest import default_records, write_outputs


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _distinct(questions: list[str], n: int) -> float:
    grams = [tuple(w[i:i + n]) for q in questions
             for w in [re.findall(r"\w+", q.lower())] for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams)


def test_stats_match_an_independent_recount_of_the_jsonl(project):
    cfg = project(generate_plots=False)
    write_outputs(cfg.output_dir, default_records(), dropped={"en": ["llm_error", "dedup_exhausted"],
                                                              "de": ["llm_error"]})
    result = prepare_export(cfg)
    stats = json.loads((result.export_dir / "dataset_stats.json").read_text(encoding="utf-8"))
    assert stats == result.stats
    assert json.loads((cfg.output_dir / "dataset_stats.json").read_text(encoding="utf-8")) == stats

    records = _read(cfg.output_dir / "synthetic_qa.jsonl")
    turns = [t for r in records for t in r["turns"]]
    users = [t["user_message"] for t in turns]
    answers = [t["assistant_message"] for t in turns]
    assert stats["records"] == len(records) == 7
    assert stats["turns"] == len(turns)
    assert stats["languages"] == dict(Counter(r["language"] for r in records))
    assert stats["turn_count_distribution"] == {str(k): v for k, v in Counter(len(r["turns"]) for r in records).items()}

    user_words = [len(m.split()) for m in users]
    lengths = stats["lengths"]
    assert lengths["user_message"]["words"]["total"] == sum(user_words)
    assert lengths["user_message"]["words"]["mean"] == pytest.approx(statistics.mean(user_words), abs=1e-4)
    assert lengths["user_message"]["words"]["median"] == statistics.median(user_words)
    assert lengths["assistant_message"]["words"]["max"] == max(len(m.split()) for m in answers)
    assert stats["tokenizer"]["kind"] == "estimate"
    assert lengths["message"]["tokens"]["total"] == sum(round(len(m.split()) * 1.3) for m in users + answers)
    conv_words = [sum(len(t["user_message"].split()) + len(t["assistant_message"].split()) for t in r["turns"])
                  for r in records]
    assert lengths["conversation"]["words"]["mean"] == pytest.approx(statistics.mean(conv_words), abs=1e-4)

    scores = [t["qa_judge"]["score"] for t in turns]
    judge = stats["judge"]
    assert judge["per_turn"]["distribution"] == {str(k): v for k, v in Counter(scores).items()}
    assert judge["per_turn"]["mean"] == pytest.approx(statistics.mean(scores), abs=1e-4)
    assert judge["mean_score"] == pytest.approx(statistics.mean(scores), abs=1e-4)
    assert judge["reasons"] == dict(Counter(r for t in turns for r in t["qa_judge"]["reasons"]))

    assert stats["drops"] == {"by_reason": {"dedup_exhausted": 1, "llm_error": 2}, "dropped": 3,
                              "attempted": 10, "drop_rate": 0.3}
    assert stats["per_language"]["en"]["dropped"] == 2
    assert stats["per_language"]["de"]["records"] == 2
    assert stats["personas"]["user"] == dict(Counter(r["user_persona"]["id"] for r in records))
    assert stats["topics"] == dict(Counter(r["topic"] for r in records))

    used = {c["source"] for t in turns for c in t["grounding"]["chunks"]}
    documents = sorted(p.name for p in cfg.knowledge_dir.iterdir())
    assert stats["kb_coverage"]["documents_total"] == len(documents) == 3
    assert stats["kb_coverage"]["documents_used"] == len(used)
    assert stats["kb_coverage"]["chunks_used"] == len({c["chunk_id"] for t in turns for c in t["grounding"]["chunks"]})

    diversity = stats["diversity"]
    assert diversity["distinct_1"] == pytest.approx(_distinct(users, 1), abs=1e-6)
    assert diversity["distinct_2"] == pytest.approx(_distinct(users, 2), abs=1e-6)
    from dlgforge_core.kb.embeddings import make_embedder

    vectors = make_embedder(cfg.retrieval.embeddings, cfg.base_dir).encode(users)
    pairs = [float(np.dot(a, b)) for a, b in itertools.combinations(vectors, 2)]
    assert diversity["sample_size"] == len(users)
    assert diversity["model"] == "sentence_transformers:all-MiniLM-L6-v2"
    assert diversity["mean_pairwise_cosine"] == pytest.approx(statistics.mean(pairs), abs=1e-3)


def test_minilm_tokenizer_is_used_when_configured(project, monkeypatch):
    monkeypatch.setenv("DLGFORGE_STATS_TOKENIZER", "minilm")
    cfg = project()
    records = default_records()[:2]
    write_outputs(cfg.output_dir, records)
    stats = compute_stats(cfg)
    from tokenizers import Tokenizer

    from dlgforge_core.kb.embeddings import default_model_path

    tokenizer = Tokenizer.from_file(str(default_model_path() / "tokenizer.json"))
    texts = [t[key] for r in records for t in r["turns"] for key in ("user_message", "assistant_message")]
    assert stats["tokenizer"]["kind"] == "tokenizer"
    assert stats["lengths"]["message"]["tokens"]["total"] == sum(
        len(tokenizer.encode(t, add_special_tokens=False).ids) for t in texts)
    assert json.loads((cfg.output_dir / "dataset_stats.json").read_text(encoding="utf-8")) == stats
