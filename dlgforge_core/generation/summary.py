"""The per-language result of generation and its human-readable summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dlgforge_core.generation.guards import format_tally


@dataclass
class LanguageSummary:
    """What one language of one run produced (returned by ``generate_language``)."""

    language: str
    run_id: str
    target: int
    accepted_total: int = 0
    accepted_new: int = 0
    dropped_by_reason: dict[str, int] = field(default_factory=dict)
    usage_by_agent: dict[str, dict[str, int]] = field(default_factory=dict)
    llm_calls: int = 0
    cached_calls: int = 0
    mean_judge_score: float | None = None
    budget_exhausted: bool = False
    complete: bool = False
    preview_conversation_id: str | None = None
    status: str = "running"
    budget_reason: str | None = None
    guards: dict[str, Any] = field(default_factory=dict)  # GuardTally.as_dict()
    held_back: str | None = None  # an in-flight cap that made slots wait (see llm.limiter)

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form (for Dagster metadata and JSON)."""
        return asdict(self)


def format_summary(summaries: list[LanguageSummary], cfg: Any) -> str:
    """The final summary printed after a run: per language counts, drops, tokens, paths."""
    lines = ["", "dlgforge run summary"]
    for s in summaries:
        state = "complete" if s.complete else s.status.replace("_", " ")
        lines.append(
            f"  [{s.language}] run {s.run_id}: {s.accepted_total}/{s.target} accepted "
            f"({s.accepted_new} new), {state}"
        )
        if s.dropped_by_reason:
            drops = ", ".join(f"{reason}={n}" for reason, n in sorted(s.dropped_by_reason.items()))
            lines.append(f"      dropped: {drops}")
        if s.guards:
            lines.append(f"      {format_tally(s.guards)}")
        if s.budget_exhausted:
            cap = s.budget_reason or "run.budget"
            lines.append(f"      budget exhausted ({cap}): no new conversations were started")
        tokens = ", ".join(
            f"{agent} {u.get('prompt_tokens', 0)}+{u.get('completion_tokens', 0)}"
            for agent, u in sorted(s.usage_by_agent.items())
        )
        lines.append(
            f"      llm calls: {s.llm_calls} sent, {s.cached_calls} from cache; "
            f"tokens (prompt+completion): {tokens or 'none'}"
        )
        if s.held_back:
            lines.append(f"      concurrency: {s.held_back}")
        if s.mean_judge_score is not None:
            lines.append(f"      mean judge score: {s.mean_judge_score:.2f}")
    lines += _self_check_lines(cfg)
    out = cfg.output_dir
    lines.append(f"  outputs: {out / 'synthetic_qa.jsonl'}")
    lines.append(f"           {out / 'conversations_sharegpt.jsonl'}")
    if (out / "conversations_sharegpt_judged.jsonl").exists():
        lines.append(f"           {out / 'conversations_sharegpt_judged.jsonl'}")
    lines.append(f"           {out / 'turns.jsonl'}, {out / 'run_state'}")
    lines.append(f"  logs:    {cfg.logs_dir}")
    return "\n".join(lines)


def _self_check_lines(cfg: Any) -> list[str]:
    """The judge self-check figure (see ``dlgforge_core.judge.self_check``), when one ran."""
    judge = getattr(cfg, "judge", None)
    if judge is None or not judge.enabled or not judge.self_check.enabled:
        return []
    from dlgforge_core.judge.self_check import load_result

    result = load_result(cfg)
    return [f"  {result.describe()}"] if result is not None else []


def judge_mean_and_preview(store: Any, run_id: str, language: str) -> tuple[float | None, str | None]:
    """Mean judge score (turn scores, else conversation scores) and the first accepted id."""
    scores: list[float] = []
    preview = None
    for record in store.accepted_records(run_id=run_id, language=language):
        preview = preview or record["conversation_id"]
        turn_scores = [t["qa_judge"]["score"] for t in record["turns"] if t.get("qa_judge")]
        if turn_scores:
            scores.extend(turn_scores)
        elif record.get("conversation_judge"):
            scores.append(record["conversation_judge"]["score"])
    return (round(sum(scores) / len(scores), 4) if scores else None), preview
