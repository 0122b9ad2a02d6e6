"""``run_generation`` (KB build, every language, summary) and ``format_summary``."""

from __future__ import annotations

from dlgforge_core.generation.pipeline import run_generation
from dlgforge_core.generation.summary import LanguageSummary, format_summary
from tests.engine.helpers import records
from tests.fake_llm.server import FakeLLMServer


def test_run_generation_covers_every_language_and_prints_a_summary(make_config, built_kb) -> None:
    lines: list[str] = []
    with FakeLLMServer() as srv:
        cfg = make_config(srv.base_url, {"run": {"total_samples": 2, "n_turns": 1, "target_languages": ["en", "de"]},
                                         "llm": {"cache": {"enabled": False}}})
        summaries = run_generation(cfg, echo=lines.append)
    assert [(s.language, s.accepted_total, s.complete) for s in summaries] == [("en", 2, True), ("de", 2, True)]
    assert sorted(r["language"] for r in records(cfg)) == ["de", "de", "en", "en"]
    text = "\n".join(lines)
    assert "[en] 2/2 accepted" in text and "[de] run main: 2/2 accepted (2 new), complete" in text
    assert str(cfg.output_dir / "synthetic_qa.jsonl") in text


def test_format_summary_names_drops_budget_and_scores(make_config) -> None:
    cfg = make_config()
    summary = LanguageSummary(
        language="en", run_id="r1", target=10, accepted_total=4, accepted_new=4,
        dropped_by_reason={"dedup_exhausted": 2, "llm_error": 1},
        usage_by_agent={"qa_generator": {"prompt_tokens": 120, "completion_tokens": 30}},
        llm_calls=9, cached_calls=3, mean_judge_score=3.5, budget_exhausted=True,
        status="budget_exhausted", budget_reason="run.budget.max_tokens=150")
    text = format_summary([summary], cfg)
    assert "[en] run r1: 4/10 accepted (4 new), budget exhausted" in text
    assert "dropped: dedup_exhausted=2, llm_error=1" in text
    assert "run.budget.max_tokens=150" in text and "qa_generator 120+30" in text
    assert "9 sent, 3 from cache" in text and "mean judge score: 3.50" in text
