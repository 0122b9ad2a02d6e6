"""Benchmark: `kb eval` on the whole retrieval development set, the three modes side by side.

The passages of ``/work/shared/data/retrieval-dev`` (or ``--dev``) are the KB, indexed with
the default settings once into ``benchmarks/.cache/`` (ignored by git; rebuilt only when
the passages or settings change). Every question is searched twice: with the last user
turn alone (``query_turns: 1``: what acceptance measures) and as the responder searches
(the question plus the conversation query of the last three user turns, the default).
Prints Recall@5, MRR@10, nDCG@10 and ms/question per mode, then the per-question paired
difference hybrid − vector and hybrid − full-text (mean, bootstrap 95 % CI, wins/losses
and a two-sided sign test), on all questions and on two fixed halves (split by id hash).
``--baseline`` adds the hybrid search before issue 15 (``BeforeIssue15``: chunk-level RRF of 20
candidates per half, as the responder's k=4 search had, and of 160, as a 40-hit search had).
``--runtimes`` compares the encoder runtimes instead (``retrieval.embeddings.runtime`` and
``precision``, each with its own index built from scratch): metrics with the last user turn,
ms per question, and how close each one's query vectors are to ONNX Runtime's float32 ones.

Run: .venv/bin/python benchmarks/kb_eval.py [--dev DIR] [--baseline | --runtimes]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import random
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    # one BLAS thread: on a shared 2-core box a spinning second thread made each query
    # embedding ~10x slower (0.6 s instead of 0.06 s at load 15); set it to measure otherwise
    os.environ.setdefault(_var, "1")

import yaml  # noqa: E402

from benchmarks._retrieval_dev import DEV, convert  # noqa: E402
from dlgforge_core.config import load_config  # noqa: E402
from dlgforge_core.kb import KnowledgeBase  # noqa: E402
from dlgforge_core.kb.eval_questions import load_questions  # noqa: E402
from dlgforge_core.kb.evaluation import ModeResult, evaluate, table  # noqa: E402

K = 5
MODES = ("hybrid", "vector", "fts")
FORMS = {"last user turn": 1, "with conversation (default)": None}


def knowledge_base(dev: Path, cache: Path, **retrieval) -> KnowledgeBase:
    cache.mkdir(parents=True, exist_ok=True)
    config = cache / "config.yaml"
    config.write_text(yaml.safe_dump({"llm": {"model": "bench"}, "retrieval": {
        "knowledge_dir": str(dev / "passages"), "index_dir": str(cache / "index"), **retrieval}}))
    return KnowledgeBase(load_config(config, require_models=False))


class BeforeIssue15:
    """The hybrid search before issue 15, for comparison: reciprocal rank fusion of chunk
    ids (k = 60) over ``pool`` candidates per half, each id summed over every row it has
    (a chunk text shared by many documents, e.g. site boilerplate, summed its copies)."""

    def __init__(self, kb: KnowledgeBase, pool: int) -> None:
        self.kb, self.pool, self.manifest = kb, pool, kb.manifest

    def clear_query_cache(self) -> None:
        self.kb.clear_query_cache()

    def search(self, query: str, k: int, mode: str, context=(), query_turns=None) -> list:
        index = self.kb._searchable()
        vector_rows = index.vector_search(self.kb._encode_query(query), self.pool)
        fts_rows = index.fts_search(query, self.pool)
        rows = {r["chunk_id"]: r for r in [*fts_rows, *vector_rows]}
        fused: dict[str, float] = {}
        for ranking in (vector_rows, fts_rows):
            for rank, row in enumerate(ranking, start=1):
                fused[row["chunk_id"]] = fused.get(row["chunk_id"], 0.0) + 1.0 / (60 + rank)
        order = sorted(fused, key=lambda cid: (-fused[cid], cid))
        return [SimpleNamespace(chunk_id=cid, source=rows[cid]["source"]) for cid in order][:k]


def bootstrap_ci(diffs: list[float], rounds: int = 5000, seed: int = 0) -> tuple[float, float]:
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(rng.choice(diffs) for _ in range(n)) / n for _ in range(rounds))
    return means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1]


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial p-value of wins vs losses (ties left out)."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(0, min(wins, losses) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def paired(results: dict[str, ModeResult], other: str, metric: str, subset: list[int]) -> str:
    diffs = [results["hybrid"].per_question[i][metric] - results[other].per_question[i][metric]
             for i in subset]
    low, high = bootstrap_ci(diffs)
    wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    return (f"{sum(diffs) / len(diffs):+.3f} [{low:+.3f}, {high:+.3f}] "
            f"{wins}/{losses} p={sign_test(wins, losses):.3f}")


def halves(ids: list[str]) -> dict[str, list[int]]:
    half = [int(hashlib.sha256(i.encode()).hexdigest(), 16) % 2 for i in ids]
    return {"all": list(range(len(ids))),
            "half A": [i for i, h in enumerate(half) if h == 0],
            "half B": [i for i, h in enumerate(half) if h == 1]}


def mean(result: ModeResult, metric: str, subset: list[int]) -> float:
    return sum(result.per_question[i][metric] for i in subset) / len(subset)


RUNTIMES = (("onnx", "auto"), ("openvino", "fp32"), ("openvino", "auto"))


def compare_runtimes(dev: Path, cache: Path) -> None:
    """Each encoder runtime with an index of its own: the three modes with the last user
    turn, and the cosine of its query vectors to ONNX Runtime's (float32) ones."""
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        questions_file = Path(tmp) / "questions.jsonl"
        convert(dev / "questions.jsonl", questions_file)
        questions = load_questions(questions_file)
    texts = [q.question for q in questions]
    reference = None
    for runtime, precision in RUNTIMES:
        kb = knowledge_base(dev, cache / f"runtime-{runtime}-{precision}",
                            embeddings={"runtime": runtime, "precision": precision})
        report = kb.build()
        vectors = kb.embedder.encode(texts)
        reference = vectors if reference is None else reference
        cosine = (vectors * reference).sum(axis=1)
        summary = {mode: result.summary() for mode, result in evaluate(kb, questions, K, MODES, 1).items()}
        model = kb.embedder.model
        print(f"{runtime} ({getattr(model, 'precision', 'float32')}): index {report.seconds:.1f} s; "
              f"query cosine to onnx min {cosine.min():.6f} mean {cosine.mean():.6f}; " + "; ".join(
                  f"{mode} MRR@10 {s['mrr@10']:.3f} R@5 {s['recall@k']:.3f} {s['ms_per_question']:.1f} ms/q"
                  for mode, s in summary.items()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=Path, default=DEV)
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache" / "retrieval-dev")
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--runtimes", action="store_true")
    args = parser.parse_args()
    if args.runtimes:
        compare_runtimes(args.dev, args.cache)
        return

    kb = knowledge_base(args.dev, args.cache)
    report = kb.build()
    print(f"index: {report.documents} documents, {report.chunks_added} chunks added "
          f"({report.seconds:.1f} s; cached in {args.cache})")
    with tempfile.TemporaryDirectory() as tmp:
        questions_file = Path(tmp) / "questions.jsonl"
        convert(args.dev / "questions.jsonl", questions_file)
        questions = load_questions(questions_file)
    import json
    ids = [json.loads(line)["id"] for line in (args.dev / "questions.jsonl").read_text().splitlines()
           if line.strip()]
    subsets = halves(ids)
    runs = {}
    for form, turns in FORMS.items():
        runs[form] = evaluate(kb, questions, K, MODES, turns)
    if args.baseline:  # hybrid only: the halves do not depend on the fusion
        for pool in (20, 160):
            result = evaluate(BeforeIssue15(kb, pool), questions, K, ["hybrid"], 1)
            summary = result["hybrid"].summary()
            print(f"before (chunk-level RRF, {pool} candidates per half, last user turn): "
                  f"hybrid R@5 {summary['recall@k']:.3f} MRR@10 {summary['mrr@10']:.3f} "
                  f"nDCG@10 {summary['ndcg@10']:.3f}")
    for form, results in runs.items():
        print(f"\n## {form}")
        for line in table(results, len(questions), K):
            print(line)
        for name, subset in subsets.items():
            print(f"{name} ({len(subset)}): hybrid MRR@10 / R@5 "
                  f"{mean(results['hybrid'], 'mrr@10', subset):.3f} / "
                  f"{mean(results['hybrid'], 'recall@k', subset):.3f}; best half "
                  f"{max(mean(results[m], 'mrr@10', subset) for m in ('vector', 'fts')):.3f} / "
                  f"{max(mean(results[m], 'recall@k', subset) for m in ('vector', 'fts')):.3f}")
            for other in ("vector", "fts"):
                print(f"  hybrid - {other}: MRR@10 {paired(results, other, 'mrr@10', subset)}; "
                      f"R@5 {paired(results, other, 'recall@k', subset)}")


if __name__ == "__main__":
    main()
