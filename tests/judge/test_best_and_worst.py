"""Choosing the DPO pair among judged answer candidates."""

from __future__ import annotations

from dlgforge_core.judge.judge import best_and_worst


def cand(answer: str, score: int | None) -> dict:
    return {"answer": answer, "qa_judge": None if score is None else {"score": score}}


def test_picks_highest_and_lowest_score():
    pair = best_and_worst([cand("a", 3), cand("b", 5), cand("c", 1), cand("d", 4)])
    assert pair is not None
    best, worst = pair
    assert (best["answer"], worst["answer"]) == ("b", "c")


def test_ties_take_first_best_and_last_worst():
    best, worst = best_and_worst([cand("a", 5), cand("b", 2), cand("c", 5), cand("d", 2)])
    assert (best["answer"], worst["answer"]) == ("a", "d")


def test_unjudged_candidates_are_ignored():
    best, worst = best_and_worst([cand("a", None), cand("b", 2), cand("c", 4)])
    assert (best["answer"], worst["answer"]) == ("c", "b")


def test_no_pair_without_two_scores_or_with_equal_scores():
    assert best_and_worst([]) is None
    assert best_and_worst([cand("a", 4), cand("b", None)]) is None
    assert best_and_worst([cand("a", 3), cand("b", 3)]) is None
