"""The labelled questions of ``dlgforge kb eval``: one JSON object a line.

Each line is ``{"question": str, "relevant": [str, ...], "history": [...]}``:

- ``relevant``: document paths relative to the knowledge folder (``docs/guide.md``) or
  chunk ids (as ``dlgforge kb search`` prints them), at least one;
- ``history`` (optional): the earlier turns of the conversation, oldest first, each a
  string (a user turn) or an object ``{"role": "user"|"assistant", "content": str}``.

Blank lines are skipped; any other mistake is a user error naming the file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dlgforge_core.errors import DlgforgeError

_ROLES = ("user", "assistant")


class EvalFileError(DlgforgeError):
    """The questions file of ``kb eval`` cannot be read: the message names file and line."""


@dataclass(frozen=True)
class Turn:
    """One earlier turn of the conversation a question comes from."""

    role: str
    content: str


@dataclass(frozen=True)
class EvalQuestion:
    """One labelled question: its text, what answers it, and the conversation before it."""

    question: str
    relevant: tuple[str, ...]
    history: tuple[Turn, ...] = field(default=())
    line: int = 0


def _turn(value: object, where: str) -> Turn:
    if isinstance(value, str):
        return Turn("user", value)
    if isinstance(value, dict):
        role, content = value.get("role", "user"), value.get("content")
        if role in _ROLES and isinstance(content, str):
            return Turn(role, content)
    raise EvalFileError(f"{where}: history entries must be strings or "
                        '{"role": "user"|"assistant", "content": str}')


def parse_question(data: object, where: str, line: int = 0) -> EvalQuestion:
    """One parsed JSON line as an ``EvalQuestion`` (``where`` prefixes the error)."""
    if not isinstance(data, dict):
        raise EvalFileError(f"{where}: expected a JSON object")
    question = data.get("question")
    if not isinstance(question, str) or not question.strip():
        raise EvalFileError(f"{where}: 'question' must be a non-empty string")
    relevant = data.get("relevant")
    if (not isinstance(relevant, list) or not relevant
            or not all(isinstance(r, str) and r.strip() for r in relevant)):
        raise EvalFileError(f"{where}: 'relevant' must be a non-empty list of document "
                            "paths or chunk ids")
    history = data.get("history", [])
    if history is None:
        history = []
    if not isinstance(history, list):
        raise EvalFileError(f"{where}: 'history' must be a list of earlier turns")
    return EvalQuestion(question=question.strip(),
                        relevant=tuple(dict.fromkeys(r.strip() for r in relevant)),
                        history=tuple(_turn(t, where) for t in history), line=line)


def load_questions(path: Path) -> list[EvalQuestion]:
    """Every question of a JSONL file; a bad file raises ``EvalFileError`` (file:line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvalFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise EvalFileError(f"{path}: cannot read ({type(err).__name__})") from None
    questions: list[EvalQuestion] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as err:
            raise EvalFileError(f"{where}: not valid JSON ({err.msg})") from None
        questions.append(parse_question(data, where, number))
    if not questions:
        raise EvalFileError(f"{path}: no questions")
    return questions
