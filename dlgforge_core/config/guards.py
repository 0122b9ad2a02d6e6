"""``quality.guards``: the checks every generated question and answer passes before acceptance.

Each guard has its own switch and drop reason (``guard_<name>``); the thresholds' defaults
were measured not to drop real human-written text (``benchmarks/guard_false_drops.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dlgforge_core.config.base import Section


class TruncatedGuard(Section):
    """A reply cut off by the token limit (``finish_reason: length``): retried once with a
    larger limit, then dropped."""

    enabled: bool = True
    retry_factor: float = Field(default=2.0, gt=1.0, le=8.0)


class TemplateEchoGuard(Section):
    """A reply that repeats a placeholder, an instruction line or a field name of its prompt."""

    enabled: bool = True
    min_shared_words: int = Field(default=6, ge=3, le=20)


class DegenerateGuard(Section):
    """A reply that loops: the share of repeated word n-grams over ``max_repeated_share``."""

    enabled: bool = True
    ngram: int = Field(default=3, ge=1, le=8)
    max_repeated_share: float = Field(default=0.5, gt=0.0, le=1.0)
    min_ngrams: int = Field(default=8, ge=1)


class LanguageMinWords(Section):
    """Minimum words per message kind for one language (CJK characters count as half a word)."""

    question: int | None = Field(default=None, ge=0)
    follow_up: int | None = Field(default=None, ge=0)
    answer: int | None = Field(default=None, ge=0)


class TooShortGuard(Section):
    """A question or an answer under a minimum number of words."""

    enabled: bool = True
    question_min_words: int = Field(default=2, ge=0)
    follow_up_min_words: int = Field(default=1, ge=0)
    answer_min_words: int = Field(default=5, ge=0)
    per_language: dict[str, LanguageMinWords] = Field(default_factory=dict)


class WrongLanguageGuard(Section):
    """A message whose detected language is not the conversation's."""

    enabled: bool = True
    min_letters: int = Field(default=20, ge=1)
    min_confidence: float = Field(default=0.9, gt=0.0, le=1.0)
    names: dict[str, str] = Field(default_factory=dict)


class UngroundedGuard(Section):
    """An answer that shares no content word with the chunks it was grounded on."""

    enabled: bool = True
    action: Literal["flag", "drop"] = "flag"
    min_overlap: float = Field(default=0.0, ge=0.0, le=1.0)


class GuardsConfig(Section):
    """``quality.guards``: reply guards applied before a turn is accepted."""

    enabled: bool = True
    max_attempts: int = Field(default=3, ge=1, le=10)
    truncated: TruncatedGuard = Field(default_factory=TruncatedGuard)
    template_echo: TemplateEchoGuard = Field(default_factory=TemplateEchoGuard)
    degenerate: DegenerateGuard = Field(default_factory=DegenerateGuard)
    too_short: TooShortGuard = Field(default_factory=TooShortGuard)
    wrong_language: WrongLanguageGuard = Field(default_factory=WrongLanguageGuard)
    ungrounded: UngroundedGuard = Field(default_factory=UngroundedGuard)
