"""Language identification for the ``wrong_language`` guard (py3langid, offline).

Why py3langid: it is maintained (a modernized fork of langid.py), ships its model inside the
package (no download at run time), is deterministic, needs only numpy, classifies a short
message in well under a millisecond, and covers 97 languages. ``langdetect`` is random
unless seeded and weak on short text; ``lingua`` is more
accurate on very short text but its wheels and memory use are an order of magnitude larger;
fastText's LID models are fast but the packaged variants either download the model at run
time or pin old numpy builds. ``benchmarks/guard_false_drops.py`` measures the false drops.
The export's ``target_language`` gate uses the same detector, so a message the guard let
through is not refused at export for its language.

Conversation languages may be codes (``en``, ``pt-BR``) or names (``english``, ``msa``); they
map to the detector's ISO 639-1 codes, with ``quality.guards.wrong_language.names`` for
anything else. A language the detector does not know is not checked.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping

from dlgforge_core.config.language_names import iso_code

# Languages the detector confuses with each other on short text: any of them passes for the other.
_SAME = [{"ms", "id"}, {"no", "nb", "nn", "da"}, {"hr", "sr", "bs"}, {"en", "pcm", "sco"}, {"fr", "wa", "oc"}]
_SAMPLE = 600
_lock = threading.Lock()
_identifier = None
_loading = False


def language_code(language: str, names: Mapping[str, str] | None = None) -> str:
    """The ISO 639-1 code of a conversation language (code, region-tagged code or name);
    ``names`` (``quality.guards.wrong_language.names``) first."""
    key = language.strip().lower()
    custom = {k.lower(): v.lower() for k, v in (names or {}).items()}
    return custom.get(key) or iso_code(key)


def _model():
    global _identifier
    with _lock:
        if _identifier is None:
            from dlgforge_core.generation.langid_model import load_identifier

            _identifier = load_identifier()
        return _identifier


def preload() -> None:
    """Load the detector on a background thread now (a no-op once loaded or loading)."""
    global _loading
    with _lock:
        if _identifier is not None or _loading:
            return
        _loading = True
    threading.Thread(target=_model, name="dlgforge-langid-load", daemon=True).start()


def known(code: str) -> bool:
    """True when the detector can recognise ``code``."""
    return code in _languages()


@functools.lru_cache(maxsize=1)
def _languages() -> frozenset[str]:
    return frozenset(_model().nb_classes)


def language_scores(text: str) -> dict[str, float]:
    """Probability of each language for ``text`` (normalized over the detector's languages)."""
    model = _model()
    with _lock:
        ranked = model.rank(text)
    return {lang: float(prob) for lang, prob in ranked}


def wrong_language(text: str, code: str, min_confidence: float) -> str | None:
    """The language ``text`` is confidently in when that is not ``code``, else None.

    A long text is judged on its first and last ``_SAMPLE // 2`` characters: the detector's
    cost grows with the text, and a few hundred characters decide the language as well as
    the whole (``benchmarks/guard_false_drops.py``)."""
    if len(text) > _SAMPLE:
        text = f"{text[:_SAMPLE // 2]} {text[-_SAMPLE // 2:]}"
    scores = language_scores(text)
    if not scores:
        return None
    top = max(scores, key=scores.get)
    group = next((g for g in _SAME if code in g), {code})
    if top in group:
        return None
    target = sum(scores.get(lang, 0.0) for lang in group)
    if scores[top] >= min_confidence and target < 1.0 - min_confidence:
        return top
    return None
