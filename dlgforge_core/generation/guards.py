"""Reply guards: what a question or an answer must pass before its turn is accepted.

Each guard has a switch under ``quality.guards`` and a drop reason of its own name:
``truncated`` (the reply hit the token limit), ``template_echo`` (it repeats a placeholder,
an instruction line or a field name of its prompt), ``degenerate`` (a repeated-n-gram share
over the threshold), ``too_short`` (under the language's minimum of words),
``wrong_language`` (confidently detected as another language than the conversation's) and
``ungrounded`` (an answer with no content word in common with its grounding chunks; only
flagged in the turn unless ``ungrounded.action: drop``). The conversation regenerates a reply
that fails (see ``generation/conversation.py``) and drops the conversation with the guard's
name when the attempts run out. ``GuardTally`` counts what the guards did, per language.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dlgforge_core.generation import guards_language, guards_text

GUARD_NAMES = ("truncated", "template_echo", "degenerate", "too_short", "wrong_language", "ungrounded")


@dataclass(frozen=True)
class GuardFailure:
    """A reply that failed ``guard`` (also its drop reason), and why, in a few words."""

    guard: str
    detail: str = ""

    @property
    def reason(self) -> str:
        return self.guard


@dataclass(frozen=True)
class PromptTemplate:
    """What a reply must not echo: the placeholders and instruction lines of its prompt
    template, and the field names of its reply schema."""

    lines: tuple[str, ...] = ()
    placeholders: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()

    @classmethod
    def of(cls, lines: Iterable[str], fields: Iterable[str]) -> "PromptTemplate":
        lines = tuple(line for line in lines if line.strip())
        placeholders = tuple(guards_text.placeholders_in("\n".join(lines)))
        cleaned = tuple(guards_text._PLACEHOLDER.sub(" ", line) for line in lines)
        return cls(cleaned, placeholders, tuple(fields))


class ReplyGuards:
    """The guards of one language, built from ``quality.guards``."""

    def __init__(self, settings: Any, language: str) -> None:
        self.settings = settings
        self.language = language
        self.code = guards_language.language_code(language, settings.wrong_language.names)
        # None: on, and whether the detector knows the language is asked at the first check
        # (its model loads on a background thread meanwhile, off the run's start-up)
        self._check_language: bool | None = False
        if settings.enabled and settings.wrong_language.enabled:
            self._check_language = None
            guards_language.preload()

    @property
    def enabled(self) -> bool:
        return bool(self.settings.enabled)

    def truncated(self, finish_reason: str | None) -> bool:
        """True when the reply stopped at its token limit and the guard is on."""
        return self.enabled and self.settings.truncated.enabled and finish_reason == "length"

    def check_question(self, text: str, template: PromptTemplate, follow_up: bool) -> GuardFailure | None:
        """The first guard a user question fails, or None."""
        if not self.enabled:
            return None
        minimum = self._min_words("follow_up" if follow_up else "question")
        return self._check(text, template, minimum)

    def check_answer(self, text: str, template: PromptTemplate, chunks: Sequence[str],
                     question: str | None = None) -> GuardFailure | None:
        """The first guard an answer fails (``ungrounded`` only when set to drop), or None.
        An answer that repeats its ``question`` word for word is a ``template_echo``."""
        if not self.enabled:
            return None
        if (question and self.settings.template_echo.enabled
                and guards_text.words(text) == guards_text.words(question)):
            return GuardFailure("template_echo", "repeats the question")
        failure = self._check(text, template, self._min_words("answer"))
        if failure is not None:
            return failure
        ungrounded = self.settings.ungrounded
        if ungrounded.enabled and ungrounded.action == "drop" and self.is_ungrounded(text, chunks):
            return GuardFailure("ungrounded", "no content word in common with the grounding chunks")
        return None

    def is_ungrounded(self, text: str, chunks: Sequence[str]) -> bool:
        """True when the answer's content-word overlap with its chunks is at most the minimum."""
        if not chunks:
            return False  # nothing retrieved: the answer could not be grounded, not an error of it
        return guards_text.grounding_overlap(text, chunks) <= self.settings.ungrounded.min_overlap

    def _check(self, text: str, template: PromptTemplate, minimum: int) -> GuardFailure | None:
        s = self.settings
        if s.template_echo.enabled:
            failure = _template_echo(text, template, s.template_echo.min_shared_words)
            if failure is not None:
                return failure
        if s.too_short.enabled and guards_text.word_count(text) < minimum:
            return GuardFailure("too_short", f"{guards_text.word_count(text):g} words, minimum {minimum}")
        if s.degenerate.enabled:
            share, grams = guards_text.repeated_ngram_share(text, s.degenerate.ngram)
            if grams >= s.degenerate.min_ngrams and share > s.degenerate.max_repeated_share:
                return GuardFailure("degenerate", f"{share:.0%} of {s.degenerate.ngram}-grams repeated")
        if self._check_language is None:
            self._check_language = guards_language.known(self.code)
        if self._check_language:
            cleaned = guards_text.language_text(text)
            if guards_text.letters(cleaned) >= s.wrong_language.min_letters:
                found = guards_language.wrong_language(cleaned, self.code, s.wrong_language.min_confidence)
                if found is not None:
                    return GuardFailure("wrong_language", f"detected {found}, expected {self.code}")
        return None

    def _min_words(self, kind: str) -> int:
        too_short = self.settings.too_short
        override = too_short.per_language.get(self.language) or too_short.per_language.get(self.code)
        value = getattr(override, kind, None) if override is not None else None
        if value is not None:
            return value
        return {"question": too_short.question_min_words, "follow_up": too_short.follow_up_min_words,
                "answer": too_short.answer_min_words}[kind]


def _template_echo(text: str, template: PromptTemplate, min_shared: int) -> GuardFailure | None:
    placeholder = guards_text.echoed_placeholder(text, template.placeholders)
    if placeholder is not None:
        return GuardFailure("template_echo", f"placeholder {placeholder}")
    field_name = guards_text.echoed_field(text, template.fields)
    if field_name is not None:
        return GuardFailure("template_echo", f"field name {field_name}")
    line = guards_text.echoed_line(text, template.lines, min_shared)
    if line is not None:
        return GuardFailure("template_echo", f"instruction line {line.strip()[:60]!r}")
    return None


@dataclass
class GuardTally:
    """What the guards did in one language: replies rejected per guard, regenerations,
    larger-limit retries, answers flagged, and generation attempts per accepted message."""

    rejected: dict[str, int] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)
    truncated_retries: int = 0
    question_attempts: int = 0
    answer_attempts: int = 0
    questions: int = 0
    answers: int = 0

    def reject(self, failure: GuardFailure) -> None:
        self.rejected[failure.guard] = self.rejected.get(failure.guard, 0) + 1

    def flag(self, guard: str) -> None:
        self.flagged[guard] = self.flagged.get(guard, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "rejected": dict(sorted(self.rejected.items())),
            "flagged": dict(sorted(self.flagged.items())),
            "truncated_retries": self.truncated_retries,
            "question_attempts": self.question_attempts,
            "answer_attempts": self.answer_attempts,
            "questions": self.questions,
            "answers": self.answers,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "GuardTally":
        data = data or {}
        return cls(
            rejected=dict(data.get("rejected") or {}),
            flagged=dict(data.get("flagged") or {}),
            truncated_retries=int(data.get("truncated_retries") or 0),
            question_attempts=int(data.get("question_attempts") or 0),
            answer_attempts=int(data.get("answer_attempts") or 0),
            questions=int(data.get("questions") or 0),
            answers=int(data.get("answers") or 0),
        )


def merge_tallies(tallies: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The sum of several ``GuardTally.as_dict()`` (shards of a language, languages of a run)."""
    total = GuardTally()
    for data in tallies:
        part = GuardTally.from_dict(data)
        for name, count in part.rejected.items():
            total.rejected[name] = total.rejected.get(name, 0) + count
        for name, count in part.flagged.items():
            total.flagged[name] = total.flagged.get(name, 0) + count
        total.truncated_retries += part.truncated_retries
        total.question_attempts += part.question_attempts
        total.answer_attempts += part.answer_attempts
        total.questions += part.questions
        total.answers += part.answers
    return total.as_dict()


def format_tally(data: dict[str, Any]) -> str:
    """One summary line: ``guards: rejected template_echo=3, ...; 14 attempts for 12 questions ...``."""
    tally = GuardTally.from_dict(data)
    rejected = ", ".join(f"{k}={v}" for k, v in sorted(tally.rejected.items())) or "none"
    text = (f"guards: rejected {rejected}; {tally.question_attempts} attempts for "
            f"{tally.questions} questions, {tally.answer_attempts} for {tally.answers} answers")
    if tally.truncated_retries:
        text += f"; {tally.truncated_retries} retried with a larger token limit"
    if tally.flagged:
        text += "; flagged " + ", ".join(f"{k}={v}" for k, v in sorted(tally.flagged.items()))
    return text
