"""``dlgforge kb eval``: score what the KB retrieves for labelled questions, per search mode.

Each question is searched as the responder searches it: the question, and beside it the
last ``retrieval.fusion.query_turns`` user turns of its ``history`` (``turns`` overrides
it; 1: the question alone). The hits are scored at document level (see ``eval_metrics``). Enough chunks are fetched to
fill ``max(k, 10)`` distinct documents where the KB has them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dlgforge_core.kb.eval_metrics import CUTOFF, question_scores, ranked_items
from dlgforge_core.kb.eval_questions import EvalQuestion
from dlgforge_core.kb.search import MODES

METRICS = ("recall@k", "mrr@10", "ndcg@10")
_DEPTH_FACTOR = 4  # chunks fetched per document needed


@dataclass
class ModeResult:
    """The scores of one mode: per question and their means, and search time."""

    mode: str
    per_question: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0

    def mean(self, metric: str) -> float:
        values = [q[metric] for q in self.per_question]
        return sum(values) / len(values) if values else 0.0

    def summary(self) -> dict[str, float]:
        out = {m: round(self.mean(m), 4) for m in METRICS}
        count = len(self.per_question)
        out["ms_per_question"] = round(1000.0 * self.seconds / count, 2) if count else 0.0
        return out


def evaluate_mode(kb: Any, questions: Sequence[EvalQuestion], k: int, mode: str,
                  turns: int | None = None) -> ModeResult:
    """Search every question with ``mode`` and score the hits (timed, cold query cache).

    One untimed search first: loading the encoder and the in-memory index is not a
    question's cost, and would otherwise fall on whichever mode runs first.
    """
    depth = max(k, CUTOFF) * _DEPTH_FACTOR
    if questions:
        kb.search(questions[0].question, k=depth, mode=mode)
    kb.clear_query_cache()
    result = ModeResult(mode)
    for item in questions:
        context = [t.content for t in item.history if t.role == "user"]
        start = time.perf_counter()
        hits = kb.search(item.question, k=depth, mode=mode, context=context, query_turns=turns)
        result.seconds += time.perf_counter() - start
        items = ranked_items(((h.chunk_id, h.source) for h in hits), item.relevant)
        result.per_question.append(question_scores(items, item.relevant, k))
    return result


def evaluate(kb: Any, questions: Sequence[EvalQuestion], k: int, modes: Sequence[str],
             turns: int | None = None) -> dict[str, ModeResult]:
    """``evaluate_mode`` for each of ``modes`` (``turns`` default: the config's)."""
    kb.manifest  # raises when there is no index yet
    return {mode: evaluate_mode(kb, questions, k, mode, turns) for mode in modes}


def unknown_labels(kb: Any, questions: Sequence[EvalQuestion]) -> list[str]:
    """Relevant entries that are neither an indexed document nor a chunk id."""
    sources = set(kb.sources())
    by_id = kb.catalog.by_id
    return sorted({r for q in questions for r in q.relevant if r not in sources and r not in by_id})


def report(results: dict[str, ModeResult], questions: int, k: int) -> dict[str, Any]:
    """The ``--json`` object."""
    return {"questions": questions, "k": k,
            "modes": {mode: res.summary() for mode, res in results.items()}}


def table(results: dict[str, ModeResult], questions: int, k: int) -> list[str]:
    """The human-readable table, one line a mode."""
    lines = [f"questions: {questions}, k: {k}",
             f"{'mode':<8} {'recall@' + str(k):>9} {'mrr@10':>8} {'ndcg@10':>8} {'ms/question':>12}"]
    for mode in (m for m in MODES if m in results):
        s = results[mode].summary()
        lines.append(f"{mode:<8} {s['recall@k']:>9.4f} {s['mrr@10']:>8.4f} {s['ndcg@10']:>8.4f} "
                     f"{s['ms_per_question']:>12.2f}")
    return lines
