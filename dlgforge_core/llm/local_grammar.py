"""JSON-schema grammars for the embedded backend, and a fast way to apply them.

llama.cpp's grammar sampler checks every vocabulary entry at every step; with Gemma 3's
262k-token vocabulary that costs more than the model itself on a CPU. ``GrammarMask`` gets
the same result for far less: it checks only the best-scoring candidates and falls back to
the full vocabulary when none of them fits, which is what llama.cpp's own tools do.
"""

from __future__ import annotations

import ctypes
import json
import re
from typing import Any

import numpy as np

_MAX_INT_ENUM = 100  # integer ranges up to this wide are enforced as an enum
_MAX_LIST_ITEMS = 2  # lists of free strings (cited ids) hold at most this many items
_MAX_ITEM_CHARS = 32  # ... each at most this long (a chunk id has 24 characters)
_TOP_CANDIDATES = 64  # candidates checked before falling back to the whole vocabulary
_LOOSE_CHAR_RULE = 'char ::= [^"\\\\] |'
_STRICT_CHAR_RULE = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |'
_TOKEN_DATA = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)


def json_gbnf(schema: dict) -> str:
    """GBNF of ``schema``, with strings that strict JSON parsers accept.

    The converter's string character rule lets raw control characters (a newline) into
    strings, which ``json.loads`` rejects; the rule is narrowed to printable characters and
    escapes, as in llama.cpp's own converter.
    """
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return json_schema_to_gbnf(json.dumps(schema)).replace(_LOOSE_CHAR_RULE, _STRICT_CHAR_RULE)


def json_grammar(schema: dict) -> Any:
    """``llama_cpp.LlamaGrammar`` of ``schema`` (for plain ``create_completion`` calls)."""
    import llama_cpp

    return llama_cpp.LlamaGrammar.from_string(json_gbnf(schema), verbose=False)


def max_string_chars(max_tokens: int, schema: dict) -> int:
    """A per-string length cap that lets the whole JSON object close within ``max_tokens``."""
    strings = max(1, _count_strings(schema))
    return max(32, (max_tokens * 2) // (strings + 1))


def cut_by_grammar(text: str, schema: dict, max_chars: int) -> bool:
    """True when a free-text field of the reply reached the grammar's length cap: the JSON
    closed because the cap forced it, so the text was cut off (a ``length`` finish)."""
    return trim_cut_text(text, schema, max_chars)[1]


_OPEN_ENDS = (",", ";", ":")  # a field closed right after one of these stopped mid-sentence
_SENTENCE_END = re.compile(r"[.!?。！？](?=[\s\"')\]]|$)")


def trim_cut_text(text: str, schema: dict, max_chars: int) -> tuple[str, bool]:
    """The reply with each free-text field that the length cap cut off trimmed back to its
    last complete sentence, and whether a field was cut with no complete sentence to keep.

    A base model seldom ends a field by itself: it writes on until the grammar's cap closes
    the string mid-word (or closes it right after a comma). What it wrote up to the end of its last sentence is a complete
    reply; a field cut inside its first sentence is truncated (the caller reports a
    ``length`` finish). The reply is returned unchanged when nothing was cut.
    """
    try:
        value = json.loads(text)
    except ValueError:
        return text, False
    if not isinstance(value, dict):
        return text, False
    changed = truncated = False
    for name, prop in (schema.get("properties") or {}).items():
        field = value.get(name)
        if not (isinstance(field, str) and _could_be_free_text(prop, schema)):
            continue
        if len(field) < max_chars and field.rstrip()[-1:] not in _OPEN_ENDS:
            continue
        ends = [m.end() for m in _SENTENCE_END.finditer(field)]
        if ends and ends[-1] >= len(field) // 3:
            value[name] = field[: ends[-1]].strip()
            changed = True
        else:
            truncated = True
    return (json.dumps(value, ensure_ascii=False) if changed else text), truncated


def _could_be_free_text(prop: dict, schema: dict) -> bool:
    if "$ref" in prop:
        return False
    options = prop.get("anyOf") if isinstance(prop.get("anyOf"), list) else [prop]
    return any(isinstance(o, dict) and _is_free_text(o) for o in options)


def constrain_schema(schema: Any, max_chars: int) -> Any:
    """Copy of ``schema`` tightened to what the grammar converter can enforce.

    Free-text strings get ``maxLength`` so the JSON closes before ``max_tokens`` (and at
    least one character, since an empty free-text field is never a useful reply), lists of
    free strings (such as cited chunk ids) get a few short items, a nullable free-text
    field must be filled (a small model too often picks null where text is needed), and small
    integer ranges (``minimum``..``maximum``, which the converter ignores) become an ``enum``.
    """
    if isinstance(schema, list):
        return [constrain_schema(item, max_chars) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: constrain_schema(value, max_chars) for key, value in schema.items()}
    options = out.get("anyOf")
    if isinstance(options, list) and any(_is_free_text(o) for o in options if isinstance(o, dict)):
        out["anyOf"] = [o for o in options if o.get("type") != "null"]  # fill, never null
    kind = out.get("type")
    if kind == "array" and isinstance(out.get("items"), dict) and _is_free_text(out["items"]):
        out["maxItems"] = min(out.get("maxItems", _MAX_LIST_ITEMS), _MAX_LIST_ITEMS)
        out["items"]["maxLength"] = min(out["items"]["maxLength"], _MAX_ITEM_CHARS)
    if kind == "array" and isinstance(out.get("items"), dict) and isinstance(out["items"].get("enum"), list):
        # a list of labels never needs one twice: without a bound a small model lists them
        # until max_tokens and the JSON never closes
        out["maxItems"] = min(out.get("maxItems", len(out["items"]["enum"])), len(out["items"]["enum"]))
    if kind == "string" and not {"enum", "const", "pattern", "format"} & out.keys():
        out["maxLength"] = min(out.get("maxLength", max_chars), max_chars)
        out["minLength"] = max(out.get("minLength", 1), 1)
    low, high = out.get("minimum"), out.get("maximum")
    if kind == "integer" and "enum" not in out and isinstance(low, int) and isinstance(high, int) \
            and 0 <= high - low <= _MAX_INT_ENUM:
        out["enum"] = list(range(low, high + 1))
    return out


def _is_free_text(schema: dict) -> bool:
    return schema.get("type") == "string" and not {"enum", "const", "pattern", "format"} & schema.keys()


def _count_strings(schema: Any) -> int:
    """Free-text strings of a schema; a list of short strings (ids, labels) is not counted."""
    if isinstance(schema, list):
        return sum(_count_strings(item) for item in schema)
    if not isinstance(schema, dict):
        return 0
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict) and _is_free_text(schema["items"]):
        return 0
    own = 1 if _is_free_text(schema) else 0
    return own + sum(_count_strings(value) for value in schema.values())


class GrammarMask:
    """A ``logits_processor`` that keeps only the tokens the grammar allows next.

    It owns a llama.cpp grammar sampler and feeds it the tokens generated since its last
    call, so it must be used for exactly one generation and then ``close()``d. At each step
    the top candidates are checked first; only if none fits is the whole vocabulary checked.
    Greedy decoding picks exactly the token the full grammar sampler would; sampling differs
    only in candidates far below the top-k cut-off.
    """

    def __init__(self, llama: Any, gbnf: str, eos_token: int):
        import llama_cpp

        self._lib = llama_cpp
        self._sampler = llama_cpp.llama_sampler_init_grammar(
            llama._model.vocab, gbnf.encode("utf-8"), b"root")
        if not self._sampler:
            raise ValueError("llama.cpp rejected the grammar built from the JSON schema")
        self._eos = eos_token
        self._prompt_len: int | None = None
        self._accepted = 0

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self._prompt_len is None:
            self._prompt_len = len(input_ids)
        for token in input_ids[self._prompt_len + self._accepted:]:
            self._lib.llama_sampler_accept(self._sampler, int(token))
            self._accepted += 1
        top = np.argpartition(scores, -_TOP_CANDIDATES)[-_TOP_CANDIDATES:]
        allowed = self._allowed(top, scores)
        if allowed.size == 0:
            allowed = self._allowed(np.arange(scores.shape[0]), scores)
        masked = np.full_like(scores, -np.inf)
        if allowed.size == 0:  # the grammar has no way on: end the reply instead of breaking it
            masked[self._eos] = 0.0
        else:
            masked[allowed] = scores[allowed]
        return masked

    def close(self) -> None:
        """Free the grammar sampler."""
        if self._sampler:
            self._lib.llama_sampler_free(self._sampler)
            self._sampler = None

    def _allowed(self, ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        data = np.zeros(ids.shape[0], dtype=_TOKEN_DATA)
        data["id"] = ids
        data["logit"] = scores[ids]
        array = self._lib.llama_token_data_array(
            data=data.ctypes.data_as(self._lib.llama_token_data_p), size=ids.shape[0],
            selected=-1, sorted=False)
        self._lib.llama_sampler_apply(self._sampler, ctypes.byref(array))
        return data["id"][np.isfinite(data["logit"])]
