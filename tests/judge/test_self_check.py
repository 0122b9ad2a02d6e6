"""Issue 16: the judge self-check on contrastive probes built from the KB.

The judge is the real `Judge` talking to the loopback fake server; the KB is a real LanceDB
index (MiniLM embeddings). A scripted good judge (scores high the answers that share the
grounding passage's words) reaches >= 0.9, a constant judge is named, a pseudo-random judge
lands near 0.5, and a second call reuses the stored result without a request.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
import yaml

from dlgforge_core.config import load_config
from dlgforge_core.export.gating import evaluate_gates
from dlgforge_core.judge.logs import close_judge_logs
from dlgforge_core.judge.self_check import (CONSTANT, build_probes, ensure_self_check,
                                            load_result, self_check_gate)
from dlgforge_core.kb import KnowledgeBase
from tests.fake_llm.server import FakeLLMServer

DATA = Path(__file__).resolve().parents[1] / "kb" / "data" / "knowledge"
WORD = re.compile(r"\w{4,}")


def _section(prompt: str, start: str, end: str) -> str:
    return prompt.split(start, 1)[1].split(end, 1)[0]


def good_judge(req) -> dict:
    """5 when most of the answer's words are in the grounding passage, else 1."""
    passage = set(WORD.findall(_section(req.prompt_text, "Grounding passages:", "User question:").lower()))
    answer = WORD.findall(_section(req.prompt_text, "Assistant answer:", "Judge this answer.").lower())
    share = sum(1 for w in answer if w in passage) / max(1, len(answer))
    return {"score": 5 if share >= 0.6 else 1, "reasons": [], "notes": "checked"}


def constant_judge(req) -> dict:
    return {"score": 1, "reasons": [], "notes": "same"}


def random_judge(req) -> dict:
    """A score that depends on nothing but a hash of the prompt: uniform over 1..5."""
    digest = hashlib.sha256(req.prompt_text.encode("utf-8")).digest()
    return {"score": 1 + digest[0] % 5, "reasons": [], "notes": "coin"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A KB of the test documents, built once (LanceDB on disk), chunked small: >= 40 chunks."""
    root = tmp_path_factory.mktemp("selfcheck")
    shutil.copytree(DATA, root / "knowledge")
    return root


def make_cfg(root: Path, server: FakeLLMServer, name: str, **self_check):
    folder = root / name
    folder.mkdir()
    config = {
        "llm": {"backend": "openai", "base_url": server.base_url, "api_key": "k", "model": "m",
                "max_retries": 1, "timeout": 10},
        "run": {"seed": 7, "batch_size": 8},
        "retrieval": {"knowledge_dir": str(root / "knowledge"), "index_dir": str(root / "index"),
                      "chunk_size": 200, "chunk_overlap": 20},
        "judge": {"enabled": True, "mode": "offline", "reasons": ["grounded", "unclear"],
                  "self_check": {"probes": 12, **self_check}},
        "saving": {"output_dir": str(folder / "output")},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    cfg = load_config(path)
    return cfg


def check(cfg):
    lines: list[str] = []
    try:
        kb = KnowledgeBase(cfg)
        kb.build()
        return ensure_self_check(cfg, kb=kb, echo=lines.append), lines
    finally:
        close_judge_logs()


def test_good_judge_scores_high_and_a_resume_does_not_re_probe(built):
    with FakeLLMServer() as server:
        server.set_handler("qa_judge", good_judge)
        cfg = make_cfg(built, server, "good")
        result, lines = check(cfg)
        assert result.probes == 12 and result.failed == 0
        assert result.accuracy >= 0.9 and result.passed and not result.constant
        assert len(server.calls("qa_judge")) == 24
        assert all(r.conversation_id == "self-check" for r in server.calls("qa_judge"))
        assert any("accuracy" in line for line in lines)
        stored = load_result(cfg)
        assert stored is not None and stored.accuracy == result.accuracy

        again, _ = check(cfg)  # the stored result applies: no request
        assert len(server.calls("qa_judge")) == 24 and again.accuracy == result.accuracy
        (gate,) = self_check_gate(cfg)
        assert gate.passed and "accuracy" in gate.description
        judge_log = (cfg.logs_dir / "judge.log").read_text()
        assert "[judge-self-check]" in judge_log and "[judge-offline]" not in judge_log


def test_conversation_granularity_uses_the_conversation_prompt(built):
    with FakeLLMServer() as server:
        server.set_handler("qa_judge", lambda req: good_judge_conversation(req))
        cfg = make_cfg(built, server, "conversation", probes=6)
        cfg.judge.granularity = "conversation"
        result, _ = check(cfg)
        assert result.probes == 6 and result.accuracy >= 0.9
        assert all("Judge the conversation as a whole" in r.prompt_text for r in server.calls("qa_judge"))


def good_judge_conversation(req) -> dict:
    prompt = req.prompt_text
    passage = set(WORD.findall(_section(prompt, "Grounding passages:", "User question:").lower()))
    answer = WORD.findall(_section(prompt, "Assistant answer:", "Judge the conversation").lower())
    share = sum(1 for w in answer if w in passage) / max(1, len(answer))
    return {"score": 5 if share >= 0.6 else 1, "reasons": [], "notes": "checked"}


def test_constant_judge_is_named_and_blocks_only_when_configured(built):
    with FakeLLMServer() as server:
        server.set_handler("qa_judge", constant_judge)
        cfg = make_cfg(built, server, "constant")
        result, lines = check(cfg)
        assert result.constant and result.constant_score == 1 and result.accuracy == 0.5
        assert not result.passed and result.verdict == CONSTANT
        assert CONSTANT in result.describe() and any(CONSTANT in line for line in lines)
        (gate,) = self_check_gate(cfg)
        assert gate.passed and gate.description.startswith("warning:") and CONSTANT in gate.description

        blocking = make_cfg(built, server, "constant-blocking", blocking=True)
        check(blocking)
        (gate,) = self_check_gate(blocking)
        assert not gate.passed and CONSTANT in gate.description
        outcomes = evaluate_gates(blocking, [], {}, [])
        assert any(o.name == "judge_self_check" and not o.passed for o in outcomes)


def test_random_judge_is_near_one_half(built):
    with FakeLLMServer() as server:
        server.set_handler("qa_judge", random_judge)
        cfg = make_cfg(built, server, "random", probes=40)
        result, _ = check(cfg)
        assert result.probes == 40 and not result.constant
        assert 0.25 <= result.accuracy <= 0.75
        assert not result.passed and result.verdict == "below min_accuracy"


def test_probes_are_deterministic_per_seed_and_contrast_two_documents(built):
    with FakeLLMServer() as server:
        cfg = make_cfg(built, server, "probes")
        kb = KnowledgeBase(cfg)
        kb.build()
    chunks = kb.catalog.chunks
    first = build_probes(chunks, 10, seed=3)
    assert first == build_probes(chunks, 10, seed=3)
    assert [p.chunk_id for p in first] != [p.chunk_id for p in build_probes(chunks, 10, seed=4)]
    by_id = {c.chunk_id: c for c in chunks}
    for probe in first:
        assert by_id[probe.chunk_id].source != by_id[probe.other_chunk_id].source
        assert probe.good and probe.bad and probe.good != probe.bad
        assert probe.question.startswith("What does the documentation say about")
    assert build_probes(chunks, 3, seed=3, language="fr")[0].question.startswith("Que dit")
