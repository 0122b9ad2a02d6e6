"""Training-ready exports: SFT chat JSONL, RAFT records and DPO preference pairs.

Each row type is a pydantic model; its JSON schema is written next to the data
(``schemas/<format>.schema.json``) and documented in docs/export.md.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dlgforge_core.errors import ExportError
from dlgforge_core.export.kb_view import KBView

RAFT_DISTRACTORS = 3


class ChatMessage(BaseModel):
    """One chat message."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"] = Field(description="Who speaks.")
    content: str = Field(description="The message text.")


class SFTRow(BaseModel):
    """One conversation in the OpenAI / TRL chat format (``sft/train.jsonl``)."""

    model_config = ConfigDict(extra="forbid")
    messages: list[ChatMessage] = Field(
        min_length=2, description="Alternating user and assistant messages, user first.")


class RaftChunk(BaseModel):
    """A KB chunk given as context."""

    model_config = ConfigDict(extra="forbid")
    chunk_id: str = Field(description="Id of the chunk in the KB index.")
    source: str = Field(description="KB document the chunk comes from (relative path).")
    text: str = Field(description="The chunk text.")


class RaftRow(BaseModel):
    """One question with its oracle and distractor chunks (``raft/train.jsonl``)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="<conversation_id>-t<turn_index>.")
    conversation_id: str = Field(description="Conversation the turn belongs to.")
    turn_index: int = Field(ge=0, description="Turn position in the conversation, from 0.")
    language: str = Field(description="Language code of the conversation.")
    question: str = Field(description="The user question.")
    oracle_chunks: list[RaftChunk] = Field(
        min_length=1, description="The chunks the answer was grounded on.")
    distractor_chunks: list[RaftChunk] = Field(
        description="Other KB chunks sampled at random (seeded per turn), none of them oracle.")
    answer: str = Field(description="The assistant answer.")
    cited_chunk_ids: list[str] = Field(description="Chunk ids the answer cites.")


class DPORow(BaseModel):
    """One preference pair in TRL's conversational format (``dpo/train.jsonl``)."""

    model_config = ConfigDict(extra="forbid")
    prompt: list[ChatMessage] = Field(
        min_length=1, description="The conversation so far, ending with the user question.")
    chosen: list[ChatMessage] = Field(
        min_length=1, max_length=1, description="The best-scored candidate answer (one assistant message).")
    rejected: list[ChatMessage] = Field(
        min_length=1, max_length=1, description="The worst-scored candidate answer (one assistant message).")
    chosen_score: float = Field(description="Judge score of the chosen answer.")
    rejected_score: float = Field(description="Judge score of the rejected answer (lower than chosen).")
    conversation_id: str = Field(description="Conversation the turn belongs to.")
    turn_index: int = Field(ge=0, description="Turn position in the conversation, from 0.")
    language: str = Field(description="Language code of the conversation.")


FORMAT_MODELS: dict[str, type[BaseModel]] = {"sft": SFTRow, "raft": RaftRow, "dpo": DPORow}


def sft_rows(records: list[Mapping[str, Any]]) -> list[dict]:
    """One SFT row per conversation."""
    rows = []
    for record in records:
        messages = []
        for turn in record.get("turns") or []:
            messages += [{"role": "user", "content": turn["user_message"]},
                         {"role": "assistant", "content": turn["assistant_message"]}]
        rows.append(SFTRow.model_validate({"messages": messages}).model_dump())
    return rows


def raft_rows(records: list[Mapping[str, Any]], kb: KBView) -> tuple[list[dict], int]:
    """One RAFT row per turn whose grounding chunks are still in the index; and the
    number of turns skipped because none of their chunks could be found."""
    pool = kb.chunks
    if pool is None:
        raise ExportError("saving.hf_push.formats.raft: needs the KB index at "
                          f"{kb.cfg.index_dir} (run generation or `dlgforge kb` first)")
    rows, skipped = [], 0
    for record in records:
        cid = str(record["conversation_id"])
        for turn in record.get("turns") or []:
            ids = [str(c["chunk_id"]) for c in (turn.get("grounding") or {}).get("chunks") or []]
            found = kb.get_chunks(ids)
            oracle = [found[i] for i in ids if i in found]
            if not oracle:
                skipped += 1
                continue
            oracle_ids = {c.chunk_id for c in oracle}
            others = [c for c in pool if c.chunk_id not in oracle_ids]
            rng = random.Random(f"raft:{cid}:{turn['turn_index']}")
            distractors = rng.sample(others, min(RAFT_DISTRACTORS, len(others)))
            row = {
                "id": f"{cid}-t{turn['turn_index']}", "conversation_id": cid,
                "turn_index": turn["turn_index"], "language": record["language"],
                "question": turn["user_message"],
                "oracle_chunks": [_chunk(c) for c in oracle],
                "distractor_chunks": [_chunk(c) for c in distractors],
                "answer": turn["assistant_message"],
                "cited_chunk_ids": [str(i) for i in turn.get("cited_chunk_ids") or []],
            }
            rows.append(RaftRow.model_validate(row).model_dump())
    return rows, skipped


def dpo_rows(records: list[Mapping[str, Any]], candidates_per_turn: int) -> list[dict]:
    """One pair per turn whose judged candidates differ in score: best vs worst."""
    if candidates_per_turn <= 1:
        raise ExportError("saving.hf_push.formats.dpo: needs run.candidates_per_turn > 1 "
                          f"(is {candidates_per_turn}) and the judge enabled")
    rows = []
    for record in records:
        history: list[dict] = []
        for turn in record.get("turns") or []:
            prompt = history + [{"role": "user", "content": turn["user_message"]}]
            scored = [(float(c["qa_judge"]["score"]), n, c["answer"])
                      for n, c in enumerate(turn.get("candidates") or [])
                      if isinstance((c.get("qa_judge") or {}).get("score"), (int, float)) and c.get("answer")]
            if len(scored) >= 2:
                best = max(scored, key=lambda s: (s[0], -s[1]))
                worst = min(scored, key=lambda s: (s[0], s[1]))
                if best[0] > worst[0]:
                    rows.append(DPORow.model_validate({
                        "prompt": prompt,
                        "chosen": [{"role": "assistant", "content": best[2]}],
                        "rejected": [{"role": "assistant", "content": worst[2]}],
                        "chosen_score": best[0], "rejected_score": worst[0],
                        "conversation_id": record["conversation_id"], "turn_index": turn["turn_index"],
                        "language": record["language"],
                    }).model_dump())
            history = prompt + [{"role": "assistant", "content": turn["assistant_message"]}]
    return rows


def json_schema(name: str) -> dict[str, Any]:
    """The documented JSON schema of one format's rows."""
    return FORMAT_MODELS[name].model_json_schema()


def _chunk(chunk: Any) -> dict[str, str]:
    return {"chunk_id": chunk.chunk_id, "source": chunk.source, "text": chunk.text}
