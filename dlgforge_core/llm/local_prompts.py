"""Completion-style, few-shot prompts for a *base* model on the embedded backend.

A base model (the packaged Gemma 3 270M is one) was never trained to follow chat
instructions: given "You write the next message of a USER ..." it continues the text, and
echoes the instruction, a placeholder or the schema back. It does follow a pattern. So with
``llm.local.prompt_style: completion`` (the default for the packaged model) the question
writer and the responder send a document of worked examples ending where the model should
write: examples in a domain unrelated to any KB, each followed by its reply as the JSON line
the grammar enforces anyway. The reply then only has to continue the pattern.

Such a prompt is one message named ``COMPLETION_NAME``; the local backend renders it as raw
text instead of through the chat template. Every line of the examples is part of the
template the ``template_echo`` guard checks, so a reply that copies an example is rejected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

COMPLETION_NAME = "dlgforge_completion"
MAX_PASSAGE_CHARS = 420  # per passage: prompts stay short on a CPU (prompt evaluation dominates)

_LANGUAGE_NAMES = {
    "en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch", "ar": "Arabic", "zh": "Chinese", "ja": "Japanese",
    "ko": "Korean", "ru": "Russian", "tr": "Turkish", "pl": "Polish", "hi": "Hindi",
}

_QUESTION_HEADER = "Questions that customers asked a help desk, each written from a passage of its help pages."
_QUESTION_EXAMPLES = [
    ("The museum opens at 9 am and closes at 6 pm every day except Monday, when it is closed.",
     None, "English", "What time does the museum close?"),
    ("Parcels under 2 kg are delivered within 48 hours for 4.90 euros; heavier parcels cost 7.50 euros.",
     None, "French", "Combien coûte la livraison d'un colis de moins de 2 kg ?"),
    ("Members can borrow up to eight books at a time for three weeks; a renewal adds two weeks.",
     ("How many books can I borrow at once?", "You can borrow up to eight books at a time."),
     "English", "And how long can I keep the books before I return them?"),
    ("A lost library card is replaced at the front desk for a fee of 3 euros.",
     ("Que faire si je perds ma carte ?", "Elle est remplacée à l'accueil."),
     "French", "Est-ce que le remplacement de la carte est payant ?"),
]

_ANSWER_HEADER = ("Answers of a help desk. Each answer is one or two complete sentences in the customer's "
                  "language, says only what the passages say, and cites the passage it used.")
_ANSWER_EXAMPLES = [
    ("m1", "The museum opens at 9 am and closes at 6 pm every day except Monday, when it is closed.",
     "Is the museum open on Monday?", "English", "museum Monday",
     "No, the museum is closed on Mondays; on other days it is open from 9 am to 6 pm."),
    ("p7", "Parcels under 2 kg are delivered within 48 hours for 4.90 euros; heavier parcels cost 7.50 euros.",
     "Combien coûte la livraison d'un colis de 5 kg ?", "French", "colis 5 kg",
     "Un colis de plus de 2 kg coûte 7,50 euros à livrer."),
]


def resolve_prompt_style(cfg: Any) -> str:
    """``completion`` or ``chat``: completion only on the local backend, where ``auto`` means
    completion for the packaged base model and chat for a model file the user names."""
    if cfg.llm.backend != "local":
        return "chat"
    style = getattr(cfg.llm.local, "prompt_style", "auto")
    if style == "auto":
        return "completion" if cfg.llm.local.model_path is None else "chat"
    return style


def language_name(language: str) -> str:
    """``fr`` -> ``French`` (names the model has seen); other values as given."""
    from dlgforge_core.generation.guards_language import language_code

    return _LANGUAGE_NAMES.get(language_code(language), language)


def is_completion(messages: Sequence[Mapping[str, Any]]) -> bool:
    """True for a completion-style prompt (one message named ``COMPLETION_NAME``)."""
    return len(messages) == 1 and messages[0].get("name") == COMPLETION_NAME


def completion_message(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "name": COMPLETION_NAME, "content": text}]


def question_prompt(*, language: str, passages: Sequence[Mapping[str, Any]],
                    previous: tuple[str, str] | None) -> list[dict[str, str]]:
    """The question writer's few-shot prompt: examples, then the passage and the language."""
    blocks = [_QUESTION_HEADER]
    for passage, prev, lang, question in _QUESTION_EXAMPLES:
        blocks.append(_question_block(passage, prev, lang) + "\n" + json.dumps({"question": question}, ensure_ascii=False))
    text = " ".join(_clip(str(p.get("text") or "")) for p in passages[:1]) or "(no passage)"
    blocks.append(_question_block(text, previous, language_name(language)))
    return completion_message("\n\n".join(blocks) + "\n")


def answer_prompt(*, language: str, question: str, passages: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The responder's few-shot prompt: examples, then the passages, question and language."""
    blocks = [_ANSWER_HEADER]
    for chunk_id, passage, q, lang, query, answer in _ANSWER_EXAMPLES:
        reply = {"action": "answer", "query": query, "answer": answer, "cited_chunk_ids": [chunk_id]}
        blocks.append(_answer_block([(chunk_id, passage)], q, lang) + "\n" + json.dumps(reply, ensure_ascii=False))
    shown = [(str(p["chunk_id"]), _clip(str(p.get("text") or ""))) for p in passages[:3]]
    blocks.append(_answer_block(shown, question, language_name(language)))
    return completion_message("\n\n".join(blocks) + "\n")


def template_lines(agent: str) -> list[str]:
    """Every fixed line of the agent's few-shot prompt (what a reply must not echo)."""
    if agent == "qa_generator":
        lines = [_QUESTION_HEADER]
        for passage, prev, _, question in _QUESTION_EXAMPLES:
            lines += [passage, question, *(prev or ())]
        return lines
    lines = [_ANSWER_HEADER]
    for _, passage, question, _, _, answer in _ANSWER_EXAMPLES:
        lines += [passage, question, answer]
    return lines


def _question_block(passage: str, previous: tuple[str, str] | None, language: str) -> str:
    lines = [f"Passage: {passage}"]
    if previous:
        lines += [f"Earlier question: {previous[0]}", f"Earlier answer: {previous[1]}"]
    lines.append(f"Language: {language}")
    return "\n".join(lines)


def _answer_block(passages: Sequence[tuple[str, str]], question: str, language: str) -> str:
    lines = [f"Passage [{chunk_id}]: {text}" for chunk_id, text in passages]
    lines += [f"Question: {question}", f"Language: {language}"]
    return "\n".join(lines)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= MAX_PASSAGE_CHARS:
        return text
    cut = text[:MAX_PASSAGE_CHARS]
    return cut[: cut.rfind(" ")] if " " in cut else cut
