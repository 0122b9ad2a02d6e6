"""Token counts for the stats: the MiniLM tokenizer when asked for, else an estimate.

Set ``DLGFORGE_STATS_TOKENIZER=minilm`` (in the environment or the ``.env`` next to the
config) to count with the WordPiece tokenizer of the packaged all-MiniLM-L6-v2 model;
otherwise tokens are estimated as ``round(words * 1.3)``. The stats record which was used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dlgforge_core.errors import ConfigError

TOKENIZER_ENV = "DLGFORGE_STATS_TOKENIZER"
WORDS_TO_TOKENS = 1.3


def estimate_tokens(text: str) -> int:
    """The estimate used without a tokenizer: whitespace words times 1.3, rounded."""
    return int(round(len(text.split()) * WORDS_TO_TOKENS))


def token_counter(cfg: Any) -> tuple[Callable[[str], int], dict[str, str]]:
    """``(count_tokens, description)`` as configured by ``DLGFORGE_STATS_TOKENIZER``."""
    choice = (cfg.env(TOKENIZER_ENV) or "estimate").strip().lower()
    if choice == "estimate":
        return estimate_tokens, {"kind": "estimate", "name": f"round(words * {WORDS_TO_TOKENS})"}
    if choice != "minilm":
        raise ConfigError(f"{TOKENIZER_ENV}: {choice!r} is not one of estimate, minilm")
    from tokenizers import Tokenizer

    from dlgforge_core.kb.embeddings import default_model_path

    tokenizer = Tokenizer.from_file(str(default_model_path() / "tokenizer.json"))
    tokenizer.no_truncation()

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count, {"kind": "tokenizer", "name": "all-MiniLM-L6-v2 (WordPiece)"}
