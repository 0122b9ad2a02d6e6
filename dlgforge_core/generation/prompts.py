"""Prompts of the question generator and the KB responder.

Only chunk ids and chunk text reach the models (``[chunk:<id>] text``): never file names
or local paths. The language is stated as ``language: <code>`` so every backend (and the
test server) can read it. With web search enabled, the responder is also told about the
``web_search`` action and shown web results as ``[web:<n>] title <url>: snippet``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from dlgforge_core.generation.guards import PromptTemplate
from dlgforge_core.llm import local_prompts

QuestionMode = str  # "fresh" | "follow_up" | "adjacent" | "seeded"

_MODE_INSTRUCTIONS = {
    "fresh": "Ask a new question about the passages below, unrelated to earlier turns.",
    "follow_up": "Ask a follow-up question that builds on the assistant's last answer, using the passages below.",
    "adjacent": "Ask about a neighbouring aspect of the same subject, covered by the passages below.",
    "seeded": "Ask the seed question below in your own words, as this user would.",
}

_GENERATOR_SYSTEM = """You write the next message of a USER talking to a support assistant.
language: {language}
Write only in that language. Stay in character:
{persona}
Ask one natural, self-contained question that the passages can answer. Do not mention
passages, snippets, documents or ids. Do not repeat an earlier question.
Reply with one JSON object and nothing else: {{"question": "<the user's message>",
"intent": "fact|how_to|troubleshoot|compare|explain|other", "difficulty": "easy|medium|hard"}}"""

_RESPONDER_SYSTEM = """You are a helpful assistant answering from a knowledge base.
language: {language}
Answer in that language. Your persona:
{persona}
{sources_rule}
Tool protocol, one JSON object per reply and nothing else:
- to search the knowledge base again:
  {{"action": "search", "query": "<search text>", "answer": null, "cited_chunk_ids": []}}
{web_tool}- to answer the user:
  {{"action": "answer", "query": null, "answer": "<your reply>", "cited_chunk_ids": ["<ids of snippets used>"]}}
You may search at most {searches_left} more time(s); after that you must answer."""


_KB_ONLY_RULE = "Use only the knowledge base snippets provided; if they do not contain the answer, say so."
_WEB_RULE = (
    "Use only the knowledge base snippets and web results provided; if they do not contain the\n"
    "answer, say so. Prefer the knowledge base; search the web only for what it lacks."
)
_WEB_TOOL = """- to search the web:
  {"action": "web_search", "query": "<search text>", "answer": null, "cited_chunk_ids": []}
"""


def format_snippets(chunks: Sequence[Mapping[str, Any]]) -> str:
    """Snippets as ``[chunk:<id>] text`` lines (the only way chunks are shown to a model)."""
    if not chunks:
        return "(no snippets)"
    return "\n\n".join(f"[chunk:{c['chunk_id']}] {str(c.get('text') or '').strip()}" for c in chunks)


def format_web_results(results: Sequence[Mapping[str, Any]]) -> str:
    """Web results as ``[web:<n>] title <url>: snippet`` lines (numbered from 1)."""
    if not results:
        return "(no web results)"
    return "\n\n".join(
        f"[web:{n}] {str(r.get('title') or '').strip()} <{r['url']}>: {str(r.get('snippet') or '').strip()}"
        for n, r in enumerate(results, start=1)
    )


def _persona_text(persona: Mapping[str, Any] | None) -> str:
    if not persona:
        return "(no particular persona)"
    text = f"{persona.get('name', '')}: {persona.get('description', '')}".strip(": ")
    if persona.get("style"):
        text += f" Style: {persona['style']}"
    return text


def _history(turns: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for turn in turns:
        lines.append(f"User: {turn['user_message']}")
        lines.append(f"Assistant: {turn['assistant_message']}")
    return "\n".join(lines) if lines else "(this is the first message of the conversation)"


def generator_messages(
    *,
    language: str,
    persona: Mapping[str, Any] | None,
    mode: QuestionMode,
    snippets: Sequence[Mapping[str, Any]],
    previous_turns: Sequence[Mapping[str, Any]],
    seed_question: str | None = None,
    attempt: int = 0,
    rejected: str | None = None,
    style: str = "chat",
) -> list[dict[str, str]]:
    """Messages asking ``qa_generator`` for the user's next question.

    ``rejected`` says why the previous attempt was not taken (``duplicate`` or a guard's
    name); ``style="completion"`` gives the few-shot prompt of a base model instead.
    """
    if style == "completion":
        previous = (previous_turns[-1]["user_message"], previous_turns[-1]["assistant_message"]) if previous_turns else None
        passages = [{"text": seed_question}] if seed_question else snippets
        return local_prompts.question_prompt(language=language, passages=passages, previous=previous)
    system = _GENERATOR_SYSTEM.format(language=language, persona=_persona_text(persona))
    parts = [
        f"Conversation so far:\n{_history(previous_turns)}",
        f"Question mode: {mode}. {_MODE_INSTRUCTIONS[mode]}",
    ]
    if seed_question:
        parts.append(f"Seed question: {seed_question}")
    parts.append(f"Knowledge base passages:\n{format_snippets(snippets)}")
    if attempt:
        parts.append(_retry_line(attempt, rejected))
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def responder_messages(
    *,
    language: str,
    persona: Mapping[str, Any] | None,
    previous_turns: Sequence[Mapping[str, Any]],
    question: str,
    snippets: Sequence[Mapping[str, Any]],
    searches: Sequence[str],
    searches_left: int,
    web_search: bool = False,
    web_results: Sequence[Mapping[str, Any]] = (),
    web_searches: Sequence[str] = (),
    rejected: str | None = None,
    style: str = "chat",
) -> list[dict[str, str]]:
    """Messages for one round of ``kb_responder``'s tool loop.

    ``web_search`` describes the web tool (off: the prompt is exactly the KB-only one);
    ``web_searches`` are the lines describing the web searches made so far (queries and
    failure notes) and ``web_results`` what they found. ``rejected`` names the guard the
    previous answer failed; ``style="completion"`` gives a base model's few-shot prompt.
    """
    if style == "completion":
        return local_prompts.answer_prompt(language=language, question=question, passages=snippets)
    system = _RESPONDER_SYSTEM.format(
        language=language,
        persona=_persona_text(persona),
        searches_left=searches_left,
        sources_rule=_WEB_RULE if web_search else _KB_ONLY_RULE,
        web_tool=_WEB_TOOL if web_search else "",
    )
    messages = [{"role": "system", "content": system}]
    for turn in previous_turns:
        messages.append({"role": "user", "content": turn["user_message"]})
        messages.append({"role": "assistant", "content": turn["assistant_message"]})
    searched = "".join(f"\nYou searched for: {q}" for q in searches)
    context = f"Knowledge base snippets:{searched}\n{format_snippets(snippets)}"
    if web_searches:
        made = "".join(f"\n{line}" for line in web_searches)
        context += f"\n\nWeb search results:{made}\n{format_web_results(web_results)}"
    if rejected:
        context += f"\n\n{_REJECTED_ANSWER.format(why=_WHY.get(rejected, rejected))}"
    messages.append({"role": "user", "content": f"{question}\n\n---\n{context}"})
    return messages


_WHY = {
    "duplicate": "that question was already asked",
    "template_echo": "it repeated the instructions instead of writing a message",
    "too_short": "it was too short",
    "degenerate": "it repeated itself",
    "wrong_language": "it was not written in the conversation's language",
    "ungrounded": "it used nothing from the snippets",
}
_REJECTED_ANSWER = "Your previous answer was rejected ({why}); write a better one."


def _retry_line(attempt: int, rejected: str | None) -> str:
    """The generator's note on a regenerated question (the dedup wording is unchanged)."""
    if rejected in (None, "duplicate", "dedup_exhausted", "near_duplicate"):
        return f"Attempt {attempt + 1}: that question was already asked; ask a different one."
    return f"Attempt {attempt + 1}: the last question was rejected ({_WHY.get(rejected, rejected)}); write a different one."


def prompt_style(cfg: Any) -> str:
    """``chat`` (instructions, every backend) or ``completion`` (few-shot, for a base model
    on the embedded backend: ``llm.local.prompt_style``)."""
    return local_prompts.resolve_prompt_style(cfg)


def template(agent: str) -> PromptTemplate:
    """What the agent's replies must not echo: its prompt's fixed lines and placeholders
    (both prompt styles) and its reply schema's field names."""
    return _template(agent)


@functools.lru_cache(maxsize=None)
def _template(agent: str) -> PromptTemplate:
    if agent == "qa_generator":
        texts = [_GENERATOR_SYSTEM, *_MODE_INSTRUCTIONS.values(), _GENERATOR_PARTS]
        fields = ["question"]
    else:
        texts = [_RESPONDER_SYSTEM, _KB_ONLY_RULE, _WEB_RULE, _WEB_TOOL, _REJECTED_ANSWER]
        fields = ["action", "query", "answer", "cited_chunk_ids"]
    lines = [_unformat(line) for text in texts for line in text.splitlines()]
    return PromptTemplate.of(lines + local_prompts.template_lines(agent), fields)


def _unformat(line: str) -> str:
    """A template line without its ``{fields}`` (and with ``{{``/``}}`` unescaped)."""
    return re.sub(r"(?<!\{)\{[a-z_]+\}(?!\})", " ", line).replace("{{", "{").replace("}}", "}")


_GENERATOR_PARTS = """Conversation so far:
(this is the first message of the conversation)
Knowledge base passages:"""
