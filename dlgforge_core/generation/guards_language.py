"""Language identification for the ``wrong_language`` guard (py3langid, offline).

Why py3langid: it is maintained (a modernized fork of langid.py), ships its model inside the
package (no download at run time), is deterministic, needs only numpy, classifies a short
message in well under a millisecond, and covers 97 languages. ``langdetect`` (used by the
export's language gate) is random unless seeded and weak on short text; ``lingua`` is more
accurate on very short text but its wheels and memory use are an order of magnitude larger;
fastText's LID models are fast but the packaged variants either download the model at run
time or pin old numpy builds. ``benchmarks/guard_false_drops.py`` measures the false drops.

Conversation languages may be codes (``en``, ``pt-BR``) or names (``english``, ``msa``); they
map to the detector's ISO 639-1 codes, with ``quality.guards.wrong_language.names`` for
anything else. A language the detector does not know is not checked.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

_NAMES = {
    "english": "en", "french": "fr", "francais": "fr", "français": "fr", "german": "de",
    "deutsch": "de", "spanish": "es", "espanol": "es", "español": "es", "italian": "it",
    "portuguese": "pt", "dutch": "nl", "russian": "ru", "chinese": "zh", "mandarin": "zh",
    "japanese": "ja", "korean": "ko", "arabic": "ar", "msa": "ar", "morocco": "ar",
    "moroccan": "ar", "darija": "ar", "gulf": "ar", "levantine": "ar", "egyptian": "ar",
    "hindi": "hi", "turkish": "tr", "polish": "pl", "swedish": "sv", "danish": "da",
    "norwegian": "no", "finnish": "fi", "greek": "el", "hebrew": "he", "indonesian": "id",
    "malay": "ms", "vietnamese": "vi", "thai": "th", "ukrainian": "uk", "czech": "cs",
    "romanian": "ro", "hungarian": "hu", "persian": "fa", "farsi": "fa", "urdu": "ur",
    "bengali": "bn", "swahili": "sw", "catalan": "ca",
    # ISO 639-2/3 codes people write instead of 639-1
    "eng": "en", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "spa": "es", "ita": "it",
    "por": "pt", "nld": "nl", "rus": "ru", "zho": "zh", "chi": "zh", "jpn": "ja", "kor": "ko",
    "ara": "ar", "arb": "ar", "ary": "ar", "arz": "ar", "apc": "ar", "afb": "ar", "hin": "hi",
    "tur": "tr", "pol": "pl",
}
# Languages the detector confuses with each other on short text: any of them passes for the other.
_SAME = [{"ms", "id"}, {"no", "nb", "nn", "da"}, {"hr", "sr", "bs"}, {"en", "pcm", "sco"}, {"fr", "wa", "oc"}]
_lock = threading.Lock()
_identifier = None


def language_code(language: str, names: Mapping[str, str] | None = None) -> str:
    """The ISO 639-1 code of a conversation language (code, region-tagged code or name)."""
    key = language.strip().lower()
    if names and key in {k.lower(): v for k, v in names.items()}:
        return {k.lower(): v for k, v in names.items()}[key].lower()
    if key in _NAMES:
        return _NAMES[key]
    return key.replace("_", "-").split("-")[0]


def _model():
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def known(code: str) -> bool:
    """True when the detector can recognise ``code``."""
    return code in set(_model().nb_classes)


def language_scores(text: str) -> dict[str, float]:
    """Probability of each language for ``text`` (normalized over the detector's languages)."""
    model = _model()
    with _lock:
        ranked = model.rank(text)
    return {lang: float(prob) for lang, prob in ranked}


def wrong_language(text: str, code: str, min_confidence: float) -> str | None:
    """The language ``text`` is confidently in when that is not ``code``, else None."""
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
