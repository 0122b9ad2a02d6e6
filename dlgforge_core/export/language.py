"""Language gate: each message is in its conversation's target language (offline detector).

Uses ``langdetect`` with a fixed seed, so the same text always gets the same verdict.
Messages shorter than ``MIN_CHARS`` letters are skipped (detection on a few words is
noise) and counted in the outcome's description. A message passes when the target
language is among the detector's candidates with probability >= ``MIN_PROBABILITY``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from langdetect import DetectorFactory, LangDetectException, detect_langs

from dlgforge_core.config.language_names import iso_code
from dlgforge_core.export.checks import MAX_OFFENDING, GateOutcome

MIN_CHARS = 20
MIN_PROBABILITY = 0.2
_SEED_LOCK = threading.Lock()


def detect_languages(text: str) -> dict[str, float]:
    """Candidate languages of ``text`` (ISO 639-1 base codes) with their probabilities."""
    with _SEED_LOCK:
        DetectorFactory.seed = 0
        try:
            found = detect_langs(text)
        except LangDetectException:
            return {}
    result: dict[str, float] = {}
    for item in found:
        code = _base(item.lang)
        result[code] = result.get(code, 0.0) + item.prob
    return result


def target_language(records: Iterable[Mapping[str, Any]]) -> GateOutcome:
    """The ``target_language`` gate over every user and assistant message."""
    offending: list[str] = []
    checked = skipped = 0
    for record in records:
        target = iso_code(str(record.get("language") or ""))  # "english" -> "en" too
        for turn in record.get("turns") or []:
            for role in ("user", "assistant"):
                text = str(turn.get(f"{role}_message") or "")
                if sum(ch.isalpha() for ch in text) < MIN_CHARS:
                    skipped += 1
                    continue
                checked += 1
                candidates = detect_languages(text)
                if candidates.get(target, 0.0) < MIN_PROBABILITY:
                    found = max(candidates, key=candidates.get) if candidates else "unknown"
                    offending.append(f"{record.get('conversation_id')} turn {turn.get('turn_index')} "
                                     f"{role}: detected {found}, expected {target}")
    summary = f"{checked} messages checked, {skipped} too short to check"
    if not offending:
        return GateOutcome("target_language", True, f"every message in its target language ({summary})")
    return GateOutcome("target_language", False,
                       f"{len(offending)} messages not in their target language ({summary})",
                       offending[:MAX_OFFENDING])


def _base(code: str) -> str:
    """``zh-cn`` -> ``zh``, ``pt_BR`` -> ``pt``: compare base languages only."""
    return code.replace("_", "-").split("-")[0].lower()
