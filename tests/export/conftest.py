"""Fixtures for the export tests: a project folder with a KB, a config and realistic outputs.

The outputs are written in the documented output-folder format (docs/architecture.md,
"Outputs"): ``synthetic_qa.jsonl``, the ShareGPT files, ``conversations/*.json`` and a
run-state checkpoint with dropped conversations.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dlgforge_core.config import load_config
from dlgforge_core.export.sharegpt import to_sharegpt

KB_DOCS = {
    "billing.md": "# Billing\n\nInvoices are issued on the first day of each month. "
                  "You can download every invoice from the billing portal as a PDF.\n\n"
                  "## Refunds\n\nRefunds are processed within five business days.\n",
    "account.md": "# Account\n\nTo reset your password, open the settings page and choose "
                  "'Reset password'. A confirmation link is sent to your address.\n",
    "shipping.md": "# Shipping\n\nOrders ship within two days. Express delivery costs extra.\n",
}

EN_QA = [
    ("How are invoices issued for my subscription each month?",
     "Invoices are issued on the first day of each month and you can download them as PDF files."),
    ("Where can I download older invoices for my accounting team?",
     "Every invoice stays available in the billing portal, where you can download it as a PDF."),
    ("How long does it take to receive a refund after a cancellation?",
     "Refunds are processed within five business days after the cancellation is confirmed."),
    ("What should I do when I have forgotten the password of my account?",
     "Open the settings page, choose Reset password and follow the confirmation link you receive."),
    ("Is there a faster delivery option for urgent orders from your store?",
     "Yes, express delivery is available for an extra cost; standard orders ship within two days."),
    ("Can I change the address of an order that has already been shipped?",
     "Once an order has shipped the address cannot be changed, but the carrier can reroute it."),
]
DE_QA = [
    ("Wann werden die Rechnungen für mein Abonnement jeden Monat ausgestellt?",
     "Die Rechnungen werden am ersten Tag jedes Monats ausgestellt und können als PDF geladen werden."),
    ("Wie lange dauert es, bis ich nach einer Kündigung eine Rückerstattung erhalte?",
     "Rückerstattungen werden innerhalb von fünf Werktagen nach der Bestätigung bearbeitet."),
    ("Wie kann ich das Passwort meines Kontos zurücksetzen, wenn ich es vergessen habe?",
     "Öffnen Sie die Einstellungen, wählen Sie Passwort zurücksetzen und folgen Sie dem Link."),
]


def make_record(cid: str, language: str, qa: list[tuple[str, str]], *, index: int = 0,
                scores: list[int] | None = None, candidates: list[list[tuple[str, int]]] | None = None,
                topic: str = "billing", source: str = "billing.md", run_id: str = "main") -> dict:
    """One conversation record in the documented format (judged when ``scores`` is given)."""
    turns = []
    for i, (question, answer) in enumerate(qa):
        chunk_id = f"{source}#{i}"
        turn: dict[str, Any] = {
            "turn_index": i, "mode": "fresh" if i == 0 else "follow_up",
            "user_message": question, "assistant_message": answer,
            "question_chunk_ids": [chunk_id],
            "grounding": {"index_version": "idx-1", "chunks": [
                {"chunk_id": chunk_id, "source": source, "score": 0.8}]},
            "cited_chunk_ids": [chunk_id], "tool_rounds": 1, "candidates": [],
            "qa_judge": None,
        }
        if scores is not None:
            turn["qa_judge"] = {"score": scores[i], "reasons": ["grounded"] if scores[i] >= 4 else ["vague"],
                                "notes": "checked", "model": "judge-model", "settings_hash": "s1"}
        if candidates is not None:
            turn["candidates"] = [{"answer": text, "qa_judge": {"score": score, "reasons": [], "notes": ""}}
                                  for text, score in candidates[i]]
        turns.append(turn)
    return {
        "conversation_id": cid, "run_id": run_id, "language": language, "conversation_index": index,
        "created_at": "2026-11-22T10:00:00Z", "n_turns": len(turns),
        "user_persona": {"id": f"u0{index % 3}", "name": "Student", "description": "curious"},
        "assistant_persona": {"id": "a01", "name": "Support", "description": "helpful"},
        "topic": topic, "seeded": False, "turns": turns, "conversation_judge": None,
        "models": {"qa_generator": "gen-model", "kb_responder": "resp-model",
                   **({"qa_judge": "judge-model"} if scores is not None else {})},
        "usage": {"qa_generator": {"prompt_tokens": 10, "completion_tokens": 5}},
        "config_hash": "cfg", "kb_index_version": "idx-1",
    }


def default_records() -> list[dict]:
    """Five English conversations (one with 2 turns) and two German ones, all judged."""
    sources = ["billing.md", "billing.md", "billing.md", "account.md", "shipping.md"]
    records = []
    en = [[EN_QA[0], EN_QA[1]], [EN_QA[2]], [EN_QA[3]], [EN_QA[4]], [EN_QA[5]]]
    for i, qa in enumerate(en):
        records.append(make_record(f"main-en-{i:06d}", "en", qa, index=i, scores=[5 - i % 3] * len(qa),
                                   topic=["billing", "refunds"][i % 2], source=sources[i]))
    for i, qa in enumerate([[DE_QA[0]], [DE_QA[1], DE_QA[2]]]):
        records.append(make_record(f"main-de-{i:06d}", "de", qa, index=i, scores=[4] * len(qa),
                                   source="account.md"))
    return records


def write_outputs(output_dir: Path, records: list[dict], dropped: dict[str, list[str]] | None = None,
                  judged: bool = True) -> None:
    """Write ``records`` (and dropped conversations per language) as a run would."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "conversations").mkdir(exist_ok=True)
    lines = {"synthetic_qa.jsonl": records,
             "conversations_sharegpt.jsonl": [to_sharegpt(r) for r in records]}
    if judged:
        lines["conversations_sharegpt_judged.jsonl"] = [to_sharegpt(r, judged=True) for r in records]
    for name, rows in lines.items():
        (output_dir / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                       encoding="utf-8")
    for record in records:
        (output_dir / "conversations" / f"{record['conversation_id']}.json").write_text(
            json.dumps(record), encoding="utf-8")
    run_state = output_dir / "run_state"
    run_state.mkdir(exist_ok=True)
    for language in sorted({r["language"] for r in records} | set(dropped or {})):
        reasons = (dropped or {}).get(language, [])
        accepted = sum(1 for r in records if r["language"] == language)
        state = {"run_id": "main", "language": language, "target": accepted, "accepted": accepted,
                 "next_index": accepted + len(reasons), "status": "complete",
                 "dropped": [{"conversation_id": f"main-{language}-9{i:05d}", "conversation_index": 900 + i,
                              "reason": reason} for i, reason in enumerate(reasons)]}
        (run_state / f"main-{language}.json").write_text(json.dumps(state), encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Any]:
    """Build a project (KB folder, config) and return a loader of its config.

    Call ``project(**hf_push)`` to write ``config.yaml`` with those ``saving.hf_push`` keys
    (plus ``extra`` top-level sections) and get the loaded config.
    """
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    for name, text in KB_DOCS.items():
        (knowledge / name).write_text(text, encoding="utf-8")

    def load(extra: dict | None = None, **hf_push: Any):
        data = {"run": {"target_languages": ["en", "de"], "min_turns": 1, "max_turns": 3},
                "llm": {"model": "fake-model", "base_url": "http://127.0.0.1:9/v1"},
                "saving": {"output_dir": "output", "hf_push": hf_push}}
        for key, value in (extra or {}).items():
            data.setdefault(key, {}).update(value)
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
        return load_config(tmp_path / "config.yaml")

    return load
