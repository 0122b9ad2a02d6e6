"""Language names (dlgforge writes ``english``, ``msa``, ``morocco``, ...) to ISO 639-1 codes.

``run.target_languages`` may hold codes (``en``, ``pt-BR``) or the names dlgforge configs use;
the language gate and anything that compares languages asks ``iso_code`` for the base code.
"""

from __future__ import annotations

NAMES: dict[str, str] = {
    "english": "en", "french": "fr", "france": "fr", "francais": "fr", "français": "fr",
    "german": "de", "deutsch": "de", "spanish": "es", "espanol": "es", "español": "es",
    "italian": "it", "portuguese": "pt", "dutch": "nl", "russian": "ru", "chinese": "zh",
    "mandarin": "zh", "japanese": "ja", "korean": "ko", "turkish": "tr", "persian": "fa",
    "farsi": "fa", "hindi": "hi", "urdu": "ur", "indonesian": "id", "malay": "ms",
    "swahili": "sw", "hebrew": "he", "polish": "pl", "swedish": "sv", "danish": "da",
    "norwegian": "no", "finnish": "fi", "greek": "el", "vietnamese": "vi", "thai": "th",
    "ukrainian": "uk", "czech": "cs", "romanian": "ro", "hungarian": "hu", "bengali": "bn",
    "catalan": "ca",
    # Arabic and the dialect names of dlgforge's seed variants
    "arabic": "ar", "msa": "ar", "morocco": "ar", "moroccan": "ar", "darija": "ar", "egypt": "ar",
    "egyptian": "ar", "gulf": "ar", "levantine": "ar", "saudi": "ar", "tunisian": "ar",
    "algerian": "ar", "iraqi": "ar",
    # ISO 639-2/3 codes people write instead of 639-1
    "eng": "en", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "spa": "es", "ita": "it",
    "por": "pt", "nld": "nl", "rus": "ru", "zho": "zh", "chi": "zh", "jpn": "ja", "kor": "ko",
    "ara": "ar", "arb": "ar", "ary": "ar", "arz": "ar", "apc": "ar", "afb": "ar", "hin": "hi",
    "tur": "tr", "pol": "pl",
}


def iso_code(language: str) -> str:
    """``zh-cn`` -> ``zh``, ``pt_BR`` -> ``pt``, ``english`` -> ``en``, ``morocco`` -> ``ar``."""
    base = language.strip().replace("_", "-").split("-")[0].lower()
    return NAMES.get(base, base)
