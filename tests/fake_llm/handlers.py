"""Default per-agent reply handlers of the fake server, and the named scripts.

A handler is ``fn(request: RecordedRequest) -> dict | str | FakeReply``: a dict is sent as
JSON text in the assistant message, a str as is, a ``FakeReply`` with its finish reason. Handlers may raise ``FakeHTTPError`` to answer with an
HTTP error instead.

Conventions shared with the generation engine: chunks shown to a model are marked
``[chunk:<id>]`` in the prompt, and the language of a conversation appears as
``language: <code>`` (any case; ``=`` also accepted); a web search already made is
reported as ``You searched the web for: <query>``.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from tests.fake_llm.records import RecordedRequest
from tests.fake_llm.reply import FakeReply

Handler = Callable[[RecordedRequest], "dict | str | FakeReply"]


WEB_SEARCHED = "You searched the web for:"  # how the engine reports a web search in the prompt
CHUNK_ID = re.compile(r"\[chunk:([^\]\s]+)\]")
LANGUAGE = re.compile(r"\blanguage\s*[:=]\s*\"?([A-Za-z]{2,3}(?:[-_][A-Za-z]{2,4})?)\b",
                      re.IGNORECASE)


def chunk_ids_in(text: str) -> list[str]:
    """Chunk ids marked ``[chunk:<id>]`` in ``text``, first occurrence order, no repeats."""
    return list(dict.fromkeys(CHUNK_ID.findall(text)))


def language_in(text: str) -> str | None:
    """The language code named ``language: xx`` in ``text``, or None."""
    match = LANGUAGE.search(text)
    return match.group(1).lower() if match else None


# What the default replies say, in the conversation's language (so they pass the reply
# guards' language check); other languages get the English text.
_ASK = {
    "en": "what does the guide say about it?",
    "fr": "que dit le guide à ce sujet exactement ?",
    "de": "was sagt der Leitfaden genau dazu?",
    "es": "¿qué dice la guía exactamente sobre esto?",
    "it": "che cosa dice esattamente la guida su questo?",
    "pt": "o que diz exatamente o guia sobre isso?",
}
_TELL = {
    "en": "according to the knowledge base",
    "fr": "selon la base de connaissances, voici ce que dit le guide",
    "de": "laut der Wissensdatenbank steht das so im Leitfaden",
    "es": "según la base de conocimientos, esto es lo que dice la guía",
    "it": "secondo la base di conoscenza, ecco che cosa dice la guida",
    "pt": "segundo a base de conhecimento, isto é o que diz o guia",
}


def generator_reply(req: RecordedRequest) -> dict[str, Any]:
    """A fresh question per call, naming the language if any (and written in it).

    Unique within one server; servers given distinct names stay unique together.
    """
    language = language_in(req.prompt_text)
    where = f" for {req.conversation_id}" if req.conversation_id else ""
    lang = f" ({language})" if language else ""
    number = f"{req.server_name}-{req.seq}" if req.server_name else str(req.seq)
    return {"question": f"Question {number}{where}{lang}: {_ASK.get(language or 'en', _ASK['en'])}"}


def responder_reply(req: RecordedRequest) -> dict[str, Any]:
    """An answer citing every ``[chunk:<id>]`` found in the prompt (in the prompt's language)."""
    ids = chunk_ids_in(req.prompt_text)
    basis = ", ".join(ids) if ids else "no retrieved chunks"
    tell = _TELL.get(language_in(req.prompt_text) or "en", _TELL["en"])
    return {"action": "answer", "query": None,
            "answer": f"Answer {req.seq}: {tell} ({basis}).",
            "cited_chunk_ids": ids}


def search_then_answer_reply(req: RecordedRequest) -> dict[str, Any]:
    """Search first while the prompt holds no chunks, then answer citing them."""
    if not chunk_ids_in(req.prompt_text):
        return {"action": "search", "query": req.last_user_message[:200] or "overview",
                "answer": None, "cited_chunk_ids": []}
    return responder_reply(req)


def search_once_then_answer_reply(req: RecordedRequest) -> dict[str, Any]:
    """Search the knowledge base once per turn (while the schema still offers ``search``),
    then answer citing the chunks shown."""
    offered = _property(req.json_schema or {}, "action").get("enum")
    can_search = "search" in offered if offered else '"action": "search"' in req.prompt_text
    if can_search and "You searched for:" not in req.last_user_message:
        question = req.last_user_message.split("\n\n---", 1)[0].strip()
        return {"action": "search", "query": f"details: {question[:180]}" or "overview",
                "answer": None, "cited_chunk_ids": []}
    return responder_reply(req)


def web_search_then_answer_reply(req: RecordedRequest) -> dict[str, Any]:
    """Search the web once when the request offers the ``web_search`` action, then answer.

    The action is offered by the reply schema's ``action`` enum (or, without a schema, by the
    prompt's tool protocol); a prompt that already reports a web search gets the answer.
    """
    if _offers_web_search(req) and WEB_SEARCHED not in req.prompt_text:
        question = req.last_user_message.split("\n\n---", 1)[0].strip()
        return {"action": "web_search", "query": question[:200] or "overview",
                "answer": None, "cited_chunk_ids": []}
    return responder_reply(req)


def _offers_web_search(req: RecordedRequest) -> bool:
    schema = req.json_schema
    if schema is not None:
        return "web_search" in (_property(schema, "action").get("enum") or [])
    return '"action": "web_search"' in req.prompt_text


def judge_reply(req: RecordedRequest) -> dict[str, Any]:
    """Score 4 (clamped to the schema's range) with the first allowed reason, if any."""
    schema = req.json_schema or {}
    score_schema = _property(schema, "score")
    score = 4
    if "maximum" in score_schema:
        score = min(score, int(score_schema["maximum"]))
    if "minimum" in score_schema:
        score = max(score, int(score_schema["minimum"]))
    enum = _property(schema, "reasons").get("items", {})
    enum = _resolve(schema, enum).get("enum") or []
    return {"score": score, "reasons": enum[:1], "notes": "ok"}


def same_question_reply(req: RecordedRequest) -> dict[str, Any]:
    """Always the same question (drives the dedup_exhausted path)."""
    return {"question": "What is the one question this server ever asks?"}


def broken_json_reply(req: RecordedRequest) -> str:
    """A reply that is never valid JSON."""
    return '{"question": "this reply is cut off'


def empty_reply(req: RecordedRequest) -> str:
    """An empty assistant message."""
    return ""


DEFAULT_HANDLERS: dict[str, Handler] = {
    "qa_generator": generator_reply,
    "kb_responder": responder_reply,
    "qa_judge": judge_reply,
}

SCRIPTS: dict[str, dict[str, Handler]] = {
    "default": {},
    "same_question": {"qa_generator": same_question_reply},
    "search_then_answer": {"kb_responder": search_then_answer_reply},
    "search_once_then_answer": {"kb_responder": search_once_then_answer_reply},
    "web_search_then_answer": {"kb_responder": web_search_then_answer_reply},
    "broken_json": {agent: broken_json_reply for agent in DEFAULT_HANDLERS},
    "empty": {agent: empty_reply for agent in DEFAULT_HANDLERS},
}


def guess_agent(body: dict[str, Any]) -> str | None:
    """The agent whose reply schema the request asks for (when no header names it)."""
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") or {}
    props = set((schema.get("properties") or {}).keys())
    text = "\n".join(str(m.get("content") or "") for m in body.get("messages") or [])
    for agent, key in (("qa_judge", "score"), ("kb_responder", "action"),
                       ("qa_generator", "question")):
        if key in props or f'"{key}"' in text:
            return agent
    return None


def _property(schema: dict[str, Any], name: str) -> dict[str, Any]:
    prop = (schema.get("properties") or {}).get(name) or {}
    return _resolve(schema, prop)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (and a single-item ``anyOf``/``allOf``) to its definition."""
    for key in ("anyOf", "allOf"):
        options = [opt for opt in node.get(key) or [] if opt.get("type") != "null"]
        if len(options) == 1:
            node = {**node, **options[0]}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = schema
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node
