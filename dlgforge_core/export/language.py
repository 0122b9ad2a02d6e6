"""Language gate: each message is in its conversation's target language (offline detector).

The detector is the ``wrong_language`` guard's (py3langid: deterministic, offline, good on
short text), so export and generation agree. Messages shorter than ``MIN_CHARS`` letters,
and languages the detector does not know, are skipped (counted in the outcome's
description). A message fails when the detector is at least ``MIN_CONFIDENCE`` sure it is
in another language (the guard's default threshold).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dlgforge_core.export.checks import MAX_OFFENDING, GateOutcome
from dlgforge_core.generation.guards_language import known, language_code, wrong_language

MIN_CHARS = 20
MIN_CONFIDENCE = 0.9


def target_language(records: Iterable[Mapping[str, Any]]) -> GateOutcome:
    """The ``target_language`` gate over every user and assistant message."""
    offending: list[str] = []
    checked = skipped = 0
    for record in records:
        target = language_code(str(record.get("language") or ""))  # "english" -> "en" too
        for turn in record.get("turns") or []:
            for role in ("user", "assistant"):
                text = str(turn.get(f"{role}_message") or "")
                if sum(ch.isalpha() for ch in text) < MIN_CHARS or not known(target):
                    skipped += 1
                    continue
                checked += 1
                found = wrong_language(text, target, MIN_CONFIDENCE)
                if found is not None:
                    offending.append(f"{record.get('conversation_id')} turn {turn.get('turn_index')} "
                                     f"{role}: detected {found}, expected {target}")
    summary = f"{checked} messages checked, {skipped} too short to check"
    if not offending:
        return GateOutcome("target_language", True, f"every message in its target language ({summary})")
    return GateOutcome("target_language", False,
                       f"{len(offending)} messages not in their target language ({summary})",
                       offending[:MAX_OFFENDING])

