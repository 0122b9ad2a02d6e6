"""Quality checks over accepted conversation records.

Each function returns a `GateOutcome`. They are pure (no I/O): the Dagster asset checks and
`dlgforge push` feed them records from `OutputStore.accepted_records()` and record the
outcomes with `dlgforge_core.store.gates.record_gate`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

MAX_OFFENDING = 100
"""Offending ids kept per outcome: enough to act on, small enough for a gate file."""
# Keys whose string values are free text (messages, answers, judge notes, chunk texts, and the
# training columns: search queries and calls, reasoning texts, seeds): what the PII and
# secrets gates scan and their redactions rewrite.
TEXT_KEYS = frozenset({"content", "user_message", "assistant_message", "answer", "notes", "text",
                       "query", "arguments", "reasoning", "generator_reasoning", "responder_reasoning",
                       "seed_question"})


@dataclass(frozen=True)
class GateOutcome:
    """The result of one quality gate."""

    name: str
    passed: bool
    description: str
    offending: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the outcome."""
        return asdict(self)


class _TurnShape(BaseModel):
    model_config = ConfigDict(extra="allow")

    turn_index: int
    user_message: str
    assistant_message: str

    @field_validator("user_message", "assistant_message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("empty message")
        return value


class _RecordShape(BaseModel):
    """The fields of a conversation record that every export relies on."""

    model_config = ConfigDict(extra="allow")

    conversation_id: str
    run_id: str
    language: str
    n_turns: int
    turns: list[_TurnShape]

    @model_validator(mode="after")
    def _turns_match(self) -> _RecordShape:
        if not self.turns:
            raise ValueError("no turns")
        if self.n_turns != len(self.turns):
            raise ValueError(f"n_turns={self.n_turns} but {len(self.turns)} turns")
        return self


def normalize_question(text: str) -> str:
    """Lowercase and collapse whitespace: the dedup key of a user question."""
    return re.sub(r"\s+", " ", text.strip().lower())


def _record_id(record: Mapping[str, Any], position: int) -> str:
    return str(record.get("conversation_id") or f"<record {position}>")


def _outcome(name: str, offending: list[str], ok: str, bad: str) -> GateOutcome:
    passed = not offending
    return GateOutcome(name, passed, ok if passed else bad, offending[:MAX_OFFENDING])


def schema_valid(records: Iterable[Mapping[str, Any]]) -> GateOutcome:
    """Every record has ids, a language and non-empty turns whose count matches n_turns."""
    offending: list[str] = []
    total = 0
    for position, record in enumerate(records):
        total += 1
        try:
            _RecordShape.model_validate(record)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "record"
            offending.append(f"{_record_id(record, position)}: {where}: {first['msg']}")
    return _outcome(
        "schema_valid", offending,
        f"{total} records are schema-valid",
        f"{len(offending)} of {total} records are not schema-valid",
    )


def unique_questions(records: Iterable[Mapping[str, Any]]) -> GateOutcome:
    """No two user questions are equal after normalization (across all records)."""
    first_seen: dict[str, str] = {}
    offending: list[str] = []
    questions = 0
    for position, record in enumerate(records):
        conversation_id = _record_id(record, position)
        for turn in record.get("turns") or []:
            key = normalize_question(str(turn.get("user_message", "")))
            if not key:
                continue
            questions += 1
            if key in first_seen:
                offending.append(f"{conversation_id} turn {turn.get('turn_index')} repeats {first_seen[key]}")
            else:
                first_seen[key] = conversation_id
    return _outcome(
        "unique_questions", offending,
        f"{questions} questions, all unique",
        f"{len(offending)} duplicate questions among {questions}",
    )


def turn_counts_in_bounds(
    records: Iterable[Mapping[str, Any]], min_turns: int, max_turns: int
) -> GateOutcome:
    """Each record has between min_turns and max_turns turns (inclusive)."""
    offending = []
    for position, record in enumerate(records):
        count = len(record.get("turns") or [])
        if not min_turns <= count <= max_turns:
            offending.append(f"{_record_id(record, position)}: {count} turns")
    return _outcome(
        "turn_counts_in_bounds", offending,
        f"every conversation has {min_turns}..{max_turns} turns",
        f"{len(offending)} conversations outside {min_turns}..{max_turns} turns",
    )


def judge_scores(records: Iterable[Mapping[str, Any]]) -> list[float]:
    """All judge scores of the records: per-turn `qa_judge` and `conversation_judge`."""
    scores: list[float] = []
    for record in records:
        for turn in record.get("turns") or []:
            judged = turn.get("qa_judge") or {}
            if isinstance(judged.get("score"), (int, float)):
                scores.append(float(judged["score"]))
        judged = record.get("conversation_judge") or {}
        if isinstance(judged.get("score"), (int, float)):
            scores.append(float(judged["score"]))
    return scores


def judge_score_threshold(
    records: Iterable[Mapping[str, Any]], min_mean_score: float | None
) -> GateOutcome:
    """The mean judge score is at least `min_mean_score` (passes when no threshold is set)."""
    name = "judge_score_threshold"
    if min_mean_score is None:
        return GateOutcome(name, True, "no judge.min_mean_score configured")
    scores = judge_scores(records)
    if not scores:
        return GateOutcome(name, False, f"no judge scores found; judge.min_mean_score={min_mean_score}",
                           ["<no judged turns>"])
    mean = sum(scores) / len(scores)
    passed = mean >= min_mean_score
    verdict = ">=" if passed else "<"
    return GateOutcome(
        name, passed,
        f"mean judge score {mean:.3f} {verdict} judge.min_mean_score={min_mean_score} ({len(scores)} scores)",
        [] if passed else [f"mean={mean:.3f}"],
    )


def drop_rate(accepted: int, dropped_by_reason: Mapping[str, int], max_drop_rate: float) -> GateOutcome:
    """Dropped conversations / attempted conversations is at most `max_drop_rate`."""
    dropped = sum(dropped_by_reason.values())
    attempted = accepted + dropped
    rate = dropped / attempted if attempted else 0.0
    passed = rate <= max_drop_rate
    reasons = Counter(dict(dropped_by_reason)).most_common()
    verdict = "<=" if passed else ">"
    return GateOutcome(
        "drop_rate", passed,
        f"drop rate {rate:.3f} ({dropped}/{attempted}) {verdict} quality.max_drop_rate={max_drop_rate}",
        [] if passed else [f"{reason}: {count}" for reason, count in reasons],
    )
