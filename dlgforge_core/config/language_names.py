"""Language names (dlgforge writes ``english``, ``msa``, ``morocco``, ...) to ISO 639-1 codes.

``run.target_languages`` may hold codes (``en``, ``pt-BR``) or the names dlgforge configs use;
the language gate and anything that compares languages asks ``iso_code`` for the base code.
"""

from __future__ import annotations

NAMES: dict[str, str] = {
    "english": "en", "french": "fr", "france": "fr", "german": "de", "spanish": "es",
    "italian": "it", "portuguese": "pt", "dutch": "nl", "russian": "ru", "chinese": "zh",
    "japanese": "ja", "korean": "ko", "turkish": "tr", "persian": "fa", "farsi": "fa",
    "hindi": "hi", "urdu": "ur", "indonesian": "id", "swahili": "sw", "hebrew": "he",
    # Arabic and the dialect names of dlgforge's seed variants
    "arabic": "ar", "msa": "ar", "morocco": "ar", "moroccan": "ar", "darija": "ar", "egypt": "ar",
    "egyptian": "ar", "gulf": "ar", "levantine": "ar", "saudi": "ar", "tunisian": "ar",
    "algerian": "ar", "iraqi": "ar",
}


def iso_code(language: str) -> str:
    """``zh-cn`` -> ``zh``, ``pt_BR`` -> ``pt``, ``english`` -> ``en``, ``morocco`` -> ``ar``."""
    base = language.strip().replace("_", "-").split("-")[0].lower()
    return NAMES.get(base, base)
