"""Text measures behind the reply guards: words (CJK-aware), repetition, echoes, overlap.

Pure functions on strings, no model and no I/O, so each guard is cheap enough to run on
every reply and easy to test on real text.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence

# Scripts written without spaces between words: each character counts as half a word
# (Chinese and Japanese words average about two characters).
_UNSPACED = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f\u0e80-\u0eff"
    r"\u1000-\u109f\u1780-\u17ff\U00020000-\U0002a6df]"
)
_WORD = re.compile(r"\w+", re.UNICODE)
_WITH_DIGIT = re.compile(r"\S*\d\S*")  # ids, numbers, codes: no evidence of a language
_PLACEHOLDER = re.compile(r"<[^<>\n]{2,80}>")
_GENERIC_PLACEHOLDER = re.compile(r"<\s*(?:the|your|a|an|some|ids?|search|insert|user'?s?)\b[^<>\n]{0,60}>", re.I)
_URL = re.compile(r"https?://\S+|www\.\S+|\[(?:chunk|web):[^\]]*\]")
# Content words are compared lowercased; these carry no topic in the languages we see most.
STOPWORDS = frozenset("""
a an the and or but if then than so of to in on at by for from with without into onto over under
is are was were be been being am do does did done have has had having can could will would shall
should may might must it its this that these those there here what which who whom whose when where
why how not no yes you your yours i me my we our us he him his she her they them their as about
also just only very more most some any all each other such own same too up down out off again
le la les un une des du de et ou mais si que qui quoi dont où est sont était être avoir a ai as ont
pour par sur dans avec sans en au aux ce cet cette ces se sa son ses leur leurs il elle ils elles
je tu nous vous on ne pas plus moins très y
der die das ein eine und oder aber ist sind war zu von mit für auf im in den dem des nicht es ich
el la los las un una y o pero es son de en con por para que se no lo al del
""".split())


@functools.lru_cache(maxsize=256)
def words(text: str) -> tuple[str, ...]:
    """Lowercased word tokens; a character of an unspaced script is a token of its own.

    Remembered for the last texts: the guards of one reply tokenize it several times."""
    tokens: list[str] = []
    for match in _WORD.finditer(unicodedata.normalize("NFKC", text).lower()):
        token = match.group(0)
        if _UNSPACED.search(token):
            run = ""
            for ch in token:
                if _UNSPACED.match(ch):
                    if run:
                        tokens.append(run)
                        run = ""
                    tokens.append(ch)
                else:
                    run += ch
            if run:
                tokens.append(run)
        else:
            tokens.append(token)
    return tuple(tokens)


def word_count(text: str) -> float:
    """Words of ``text``: spaced words count 1, unspaced-script characters (CJK, Thai) 0.5."""
    count = 0.0
    for token in words(text):
        count += 0.5 if _UNSPACED.match(token) else 1.0
    return count


def repeated_ngram_share(text: str, n: int) -> tuple[float, int]:
    """Share of word n-grams that repeat an earlier n-gram of the same text, and the n-gram
    count (0.0 when the text has fewer than ``n`` words)."""
    tokens = words(text)
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    if not grams:
        return 0.0, 0
    seen: set[tuple[str, ...]] = set()
    repeats = 0
    for gram in grams:
        if gram in seen:
            repeats += 1
        seen.add(gram)
    return repeats / len(grams), len(grams)


def placeholders_in(template_text: str) -> list[str]:
    """The ``<...>`` placeholders of a prompt template, lowercased."""
    return sorted({p.lower() for p in _PLACEHOLDER.findall(template_text)})


def echoed_placeholder(reply: str, placeholders: Iterable[str]) -> str | None:
    """A placeholder of the template found in ``reply`` (or a generic ``<the ...>`` one)."""
    lowered = reply.lower()
    for placeholder in placeholders:
        if placeholder in lowered:
            return placeholder
    match = _GENERIC_PLACEHOLDER.search(reply)
    return match.group(0) if match else None


def echoed_field(reply: str, fields: Iterable[str]) -> str | None:
    """A field name of the reply's own schema, repeated as the reply or as a JSON key.

    A reply that *is* a field name (``answer``, ``"question"``), carries ``"field":`` or
    names a field that is never a natural word (``cited_chunk_ids``) echoes its schema.
    """
    stripped = re.sub(r"[\W_]+", " ", reply).strip().lower()
    for field in fields:
        lowered = field.lower()
        if stripped == lowered.replace("_", " "):
            return field
        if re.search(r'["\']\s*' + re.escape(lowered) + r'\s*["\']\s*:', reply.lower()):
            return field
        if "_" in field and lowered in reply.lower():
            return field
    return None


def echoed_line(reply: str, lines: Sequence[str], min_shared: int) -> str | None:
    """An instruction line that ``reply`` repeats: ``min_shared`` consecutive words in common,
    or the whole reply (3 words or more) found inside the line."""
    reply_words = words(reply)
    if not reply_words:
        return None
    whole = f" {' '.join(reply_words)} "
    grams = _ngrams(reply_words, min_shared)
    for line, joined, line_grams in _line_index(tuple(lines), min_shared):
        if len(reply_words) >= 3 and whole in joined:
            return line
        if not grams.isdisjoint(line_grams):
            return line
    return None


@functools.lru_cache(maxsize=64)
def _line_index(lines: tuple[str, ...], n: int) -> tuple[tuple[str, str, frozenset], ...]:
    """Each instruction line with its words joined and its word n-grams (a template's lines
    are the same for every reply it checks)."""
    return tuple((line, f" {' '.join(words(line))} ", frozenset(_ngrams(words(line), n)))
                 for line in lines)


def _ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def content_words(text: str) -> set[str]:
    """Words that carry content: not stopwords, and longer than two characters (or digits,
    or unspaced-script characters)."""
    found = set()
    for token in words(_URL.sub(" ", text)):
        if token in STOPWORDS:
            continue
        if token.isdigit() or _UNSPACED.match(token) or len(token) > 2:
            found.add(_stem(token))
    return found


def grounding_overlap(answer: str, chunks: Iterable[str]) -> float:
    """Share of the answer's content words found in the grounding chunks (0.0 to 1.0)."""
    answer_words = content_words(answer)
    if not answer_words:
        return 0.0
    source: set[str] = set()
    for chunk in chunks:
        source |= content_words(chunk)
    return len(answer_words & source) / len(answer_words)


def letters(text: str) -> int:
    """Number of letters in ``text`` (what language identification has to go on)."""
    return sum(ch.isalpha() for ch in text)


def language_text(text: str) -> str:
    """``text`` without URLs, chunk markers and code spans (noise for language ID)."""
    return _WITH_DIGIT.sub(" ", re.sub(r"`[^`]*`", " ", _URL.sub(" ", text)))


def _stem(token: str) -> str:
    """A crude plural/inflection fold so ``fees`` meets ``fee`` (no language model needed)."""
    for suffix in ("ies", "es", "s"):
        if len(token) > len(suffix) + 3 and token.endswith(suffix):
            return token[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return token
