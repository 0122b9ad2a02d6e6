"""Audit an output folder with the reply guards: accepted messages that would break one.

Measures a run's accepted data after the fact (the quickstart before and after the guards
and the base-model prompts): every user and assistant message of ``synthetic_qa.jsonl`` is
checked with the config's ``quality.guards`` (with every guard on, whatever the run used),
the answers against the KB chunks they were grounded on. ``truncated`` needs the reply's
finish reason, which the record does not keep, so it is not audited here; the run itself
drops such replies.

    .venv/bin/python benchmarks/guard_audit.py examples/quickstart/config.yaml [--show 30]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlgforge_core.config import load_config  # noqa: E402
from dlgforge_core.export.kb_view import KBView  # noqa: E402
from dlgforge_core.generation import prompts  # noqa: E402
from dlgforge_core.generation.guards import ReplyGuards  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--show", type=int, default=30)
    args = parser.parse_args()
    cfg = load_config(args.config)
    settings = cfg.quality.guards.model_copy(update={"enabled": True})
    path = Path(cfg.output_dir) / "synthetic_qa.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kb = KBView(cfg)
    broken: Counter = Counter()
    flagged = messages = 0
    lines = []
    for record in records:
        guards = ReplyGuards(settings, record["language"])
        for turn in record["turns"]:
            messages += 2
            question, answer = turn["user_message"], turn["assistant_message"]
            failure = guards.check_question(question, prompts.template("qa_generator"), follow_up=turn["turn_index"] > 0)
            if failure is not None:
                broken[failure.guard] += 1
                lines.append(f"{record['conversation_id']} t{turn['turn_index']} user {failure.guard}: {question[:90]!r}")
            ids = [c["chunk_id"] for c in (turn.get("grounding") or {}).get("chunks") or []]
            chunks = [c.text for c in kb.get_chunks(ids).values()] if ids else []
            failure = guards.check_answer(answer, prompts.template("kb_responder"), chunks, question)
            if failure is not None:
                broken[failure.guard] += 1
                lines.append(f"{record['conversation_id']} t{turn['turn_index']} assistant {failure.guard}: {answer[:90]!r}")
            flagged += guards.is_ungrounded(answer, chunks)
    total = sum(broken.values())
    detail = ", ".join(f"{k}={v}" for k, v in sorted(broken.items())) or "none"
    print(f"{len(records)} accepted conversations, {messages} messages ({path})")
    print(f"accepted messages that break a guard: {total}/{messages} ({detail})")
    print(f"answers flagged ungrounded: {flagged}")
    for line in lines[: args.show]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
