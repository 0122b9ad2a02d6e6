"""False-drop rate of the reply guards' default thresholds on real human-written text.

Every question and every human answer of the retrieval dev set (IBM MTRAG-UN: real
multi-turn conversations, answers written by people from labelled passages) is put through
the guards exactly as a generated reply would be: the question against the question
writer's prompt template, the answer against the responder's, with its labelled passages as
the grounding chunks and the conversation's language (English). Human text should pass, so
every rejection is a false drop. Target: <= 1%.

    .venv/bin/python benchmarks/guard_false_drops.py [--data DIR] [--show N]

Prints the rate per message kind and per guard, the ``ungrounded`` flag rate (flagged, not
dropped, by default), and the rejected texts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlgforge_core.config.guards import GuardsConfig  # noqa: E402
from dlgforge_core.generation import prompts  # noqa: E402
from dlgforge_core.generation.guards import ReplyGuards  # noqa: E402

# Bad replies the quickstart accepted before the guards (issue 16), as (kind, language, text):
# the same thresholds must still catch every one of them.
BAD = [
    ("question", "en", "<the user's message>"),
    ("question", "en", "You wrote the next message of a USER talking to a support agent."),
    ("answer", "en", "a"), ("answer", "en", "no"), ("answer", "en", "Yes"), ("answer", "en", "36"),
    ("answer", "en", "not a valid answer"),
    ("answer", "fr", "The day pass costs 8 euros and gives unlimited rides of 45 minutes for a whole day."),
    ("question", "fr", "How much does a day pass cost if I am a student in Larkfield?"),
    ("answer", "en", "the station the station the station the station the station the station the station"),
]

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "shared" / "data" / "retrieval-dev"


def _data_dir(given: str | None) -> Path:
    beside = Path(__file__).resolve().parents[2] / "shared" / "data" / "retrieval-dev"  # shared/ beside the clone
    for candidate in [Path(given)] if given else [DEFAULT_DATA, beside, Path("/work/shared/data/retrieval-dev")]:
        if (candidate / "questions.jsonl").is_file():
            return candidate
    raise SystemExit(f"error: no questions.jsonl under {given or DEFAULT_DATA}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="the retrieval-dev folder")
    parser.add_argument("--show", type=int, default=10, help="rejected texts to print")
    args = parser.parse_args()
    folder = _data_dir(args.data)
    rows = [json.loads(line) for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line]
    guards = ReplyGuards(GuardsConfig(), "en")
    question_template, answer_template = prompts.template("qa_generator"), prompts.template("kb_responder")
    failures: dict[str, Counter] = {"question": Counter(), "answer": Counter()}
    rejected: list[str] = []
    flagged = 0
    for row in rows:
        follow_up = bool(str(row.get("recent_user_turns") or "").strip() != str(row["question"]).strip())
        failure = guards.check_question(row["question"], question_template, follow_up=follow_up)
        if failure is not None:
            failures["question"][failure.guard] += 1
            rejected.append(f"question {row['id']}: {failure.guard} ({failure.detail}): {row['question'][:100]!r}")
        chunks = [(folder / "passages" / name).read_text(encoding="utf-8") for name in row.get("relevant") or []]
        failure = guards.check_answer(row["answer"], answer_template, chunks)
        if failure is not None:
            failures["answer"][failure.guard] += 1
            rejected.append(f"answer {row['id']}: {failure.guard} ({failure.detail}): {row['answer'][:100]!r}")
        flagged += guards.is_ungrounded(row["answer"], chunks)
    total = 2 * len(rows)
    dropped = sum(sum(c.values()) for c in failures.values())
    print(f"guard false drops on {len(rows)} real questions and {len(rows)} human answers ({folder})")
    for kind, counts in failures.items():
        n = sum(counts.values())
        detail = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none"
        print(f"  {kind}s: {n}/{len(rows)} dropped = {n / len(rows):.2%} ({detail})")
    print(f"  answers flagged ungrounded (kept): {flagged}/{len(rows)} = {flagged / len(rows):.2%}")
    print(f"false-drop rate: {dropped}/{total} = {dropped / total:.2%} (target <= 1%)")
    for line in rejected[: args.show]:
        print(f"    {line}")
    caught = 0
    for kind, language, text in BAD:
        bad_guards = ReplyGuards(GuardsConfig(), language)
        failure = (bad_guards.check_question(text, question_template, follow_up=False) if kind == "question"
                   else bad_guards.check_answer(text, answer_template, ["A day pass costs 8 euros."]))
        caught += failure is not None
    print(f"bad replies from the quickstart still caught: {caught}/{len(BAD)}")


if __name__ == "__main__":
    main()
