"""Judge self-check: before a run is judged, test the judge on contrastive probes from the KB.

A probe is built from one sampled KB chunk: a question about it (from its heading, else
its first words: no LLM call), (a) an answer taken from that chunk and (b) an answer taken
from an unrelated chunk (another document, least word overlap among a few candidates).
The judge scores (a) and (b) with its normal per-turn prompt, grounded on the probe's
chunk. Accuracy = share of probes where a > b, ties counting half. A judge that gives
every probe answer the same score is a "constant judge": its scores carry no information.

Probes are deterministic per ``run.seed`` and KB index, their calls go through the request
cache (keys ``self-check/...``), and the result is kept in
``<output_dir>/run_state/judge_self_check.json``: a resume, or the next language partition,
reuses it without a call while the judge settings, the KB index and the seed are unchanged.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dlgforge_core.config.language_names import iso_code

RESULT_FILE = "judge_self_check.json"
CONVERSATION_ID = "self-check"
CONSTANT = "constant judge"
_ANSWER_CHARS = 360
_MIN_WORDS = 8
_CANDIDATES = 8
_WORD = re.compile(r"\w{3,}", re.UNICODE)
_QUESTION = {
    "en": "What does the documentation say about {topic}?",
    "fr": "Que dit la documentation à propos de {topic} ?",
    "es": "¿Qué dice la documentación sobre {topic}?",
    "de": "Was sagt die Dokumentation über {topic}?",
    "it": "Cosa dice la documentazione su {topic}?",
    "pt": "O que diz a documentação sobre {topic}?",
}


@dataclass(frozen=True)
class Probe:
    """One contrastive probe: a question, the chunk's answer and an unrelated one."""

    index: int
    chunk_id: str
    chunk_text: str
    other_chunk_id: str
    question: str
    good: str
    bad: str


class SelfCheckResult(BaseModel):
    """The outcome of one self-check (JSON in ``run_state/judge_self_check.json``)."""

    judge_settings_hash: str
    kb_index_version: str
    seed: int
    probes_requested: int
    language: str
    run_id: str = ""
    probes: int = 0            # probes both of whose answers were scored
    wins: int = 0
    ties: int = 0
    losses: int = 0
    failed: int = 0            # probes with a failed judge call
    accuracy: float | None = None
    constant: bool = False
    constant_score: int | None = None
    min_accuracy: float = 0.0
    blocking: bool = False
    passed: bool = True
    verdict: str = ""
    checked_at: str = ""

    def key(self) -> tuple:
        return (self.judge_settings_hash, self.kb_index_version, self.seed, self.probes_requested)

    def evaluate(self, settings: Any) -> "SelfCheckResult":
        """Judge this result by ``judge.self_check`` settings (``min_accuracy``, ``blocking``):
        sets ``passed`` and ``verdict``; returns itself."""
        self.min_accuracy, self.blocking = settings.min_accuracy, settings.blocking
        self.passed = self.accuracy is not None and not self.constant and self.accuracy >= self.min_accuracy
        self.verdict = ("no probes scored" if self.accuracy is None else CONSTANT if self.constant
                        else "ok" if self.passed else "below min_accuracy")
        return self

    def describe(self) -> str:
        """One line for the run summary, logs and the gate."""
        if self.accuracy is None:
            return f"judge self-check: no probe could be scored ({self.failed} failed calls)"
        line = (f"judge self-check: accuracy {self.accuracy:.2f} on {self.probes} probes "
                f"({self.wins} right, {self.ties} ties, {self.losses} wrong; "
                f"min_accuracy {self.min_accuracy:.2f})")
        if self.constant:
            line += f"; {CONSTANT}: every probe answer scored {self.constant_score}"
        elif not self.passed or self.accuracy < self.min_accuracy:
            line += "; below min_accuracy"
        return line


def build_probes(chunks: Sequence[Any], count: int, seed: int, language: str = "en") -> list[Probe]:
    """``count`` probes from ``chunks`` (KB ``Chunk`` objects), the same for the same seed."""
    usable = sorted((c for c in chunks if len(_WORD.findall(c.text)) >= _MIN_WORDS),
                    key=lambda c: c.chunk_id)
    if len(usable) < 2:
        return []
    rng = random.Random(f"judge-self-check:{seed}")
    picked = rng.sample(usable, min(count, len(usable)))
    probes = []
    for chunk in picked:
        other = _unrelated(chunk, usable, rng)
        if other is None:  # every other usable chunk repeats this one's text
            continue
        probes.append(Probe(index=len(probes), chunk_id=chunk.chunk_id, chunk_text=chunk.text,
                            other_chunk_id=other.chunk_id, question=_question(chunk, language),
                            good=_answer(chunk.text), bad=_answer(other.text)))
    return probes


def accuracy_of(pairs: Sequence[tuple[int, int]]) -> tuple[float | None, int, int, int]:
    """(accuracy, wins, ties, losses) of ``(score_a, score_b)`` pairs; ties count half."""
    wins = sum(1 for a, b in pairs if a > b)
    ties = sum(1 for a, b in pairs if a == b)
    losses = len(pairs) - wins - ties
    accuracy = (wins + 0.5 * ties) / len(pairs) if pairs else None
    return accuracy, wins, ties, losses


async def run_self_check(cfg: Any, judge: Any, chunks: Sequence[Any], index_version: str,
                         language: str) -> SelfCheckResult:
    """Score every probe's two answers with ``judge`` (a ``Judge`` with its client set)."""
    from dlgforge_core.llm.errors import LLMCallError

    settings = cfg.judge.self_check
    seed = int(cfg.run.seed)
    probes = build_probes(chunks, settings.probes, seed, language)
    limiter = asyncio.Semaphore(max(1, int(cfg.run.batch_size)))

    async def score(probe: Probe, which: str, answer: str) -> int | None:
        chunks = [{"chunk_id": probe.chunk_id, "text": probe.chunk_text}]
        key = f"self-check/{seed}/{index_version}/{probe.index}/{which}"
        async with limiter:
            try:
                if judge.granularity == "conversation":  # its normal prompt: a one-turn conversation
                    record = {"conversation_id": CONVERSATION_ID, "language": language, "turns": [
                        {"turn_index": 0, "user_message": probe.question, "assistant_message": answer}]}
                    judgement = await judge.judge_conversation(record, [chunks], key)
                else:
                    judgement = await judge.judge_turn(CONVERSATION_ID, language, probe.question, answer,
                                                       chunks, key, turn_index=probe.index)
            except LLMCallError:
                return None
            return int(judgement["score"])

    scores = await asyncio.gather(*(score(p, w, a) for p in probes
                                    for w, a in (("a", p.good), ("b", p.bad))))
    pairs = [(scores[2 * i], scores[2 * i + 1]) for i in range(len(probes))]
    scored = [(a, b) for a, b in pairs if a is not None and b is not None]
    accuracy, wins, ties, losses = accuracy_of(scored)
    values = {s for pair in scored for s in pair}
    constant = len(scored) >= 2 and len(values) == 1
    result = SelfCheckResult(
        judge_settings_hash=judge.settings_hash, kb_index_version=index_version, seed=seed,
        probes_requested=settings.probes, language=language, run_id=cfg.run.effective_run_id,
        probes=len(scored), wins=wins, ties=ties, losses=losses, failed=len(pairs) - len(scored),
        accuracy=None if accuracy is None else round(accuracy, 4), constant=constant,
        constant_score=next(iter(values)) if constant else None,
        checked_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return result.evaluate(settings)


def ensure_self_check(cfg: Any, make_client: Callable[[], Any] | None = None, kb: Any = None,
                      echo: Callable[[str], Any] = print) -> SelfCheckResult | None:
    """The self-check of this config's judge and KB: the stored one when it still applies,
    else a fresh one (recorded). None when the judge or the self-check is off, or the KB has
    fewer than two usable chunks."""
    if not (cfg.judge.enabled and cfg.judge.self_check.enabled):
        return None
    from dlgforge_core.judge.judge import Judge

    from dlgforge_core.errors import KBError

    if kb is None:
        from dlgforge_core.kb import KnowledgeBase

        kb = KnowledgeBase(cfg)
    judge = Judge(cfg, llm=None, mode="self-check")
    try:
        index_version = kb.index_version
    except KBError:
        echo("judge self-check: skipped (no KB index to build probes from)")
        return None
    language = cfg.run.target_languages[0] if cfg.run.target_languages else "en"
    stored = load_result(cfg)
    wanted = (judge.settings_hash, index_version, int(cfg.run.seed), cfg.judge.self_check.probes)
    if stored is not None and stored.key() == wanted:
        return stored.evaluate(cfg.judge.self_check)
    if not build_probes(kb.catalog.chunks, 2, int(cfg.run.seed), language):
        echo("judge self-check: skipped (the KB has fewer than two chunks to build probes from)")
        return None

    async def probe() -> SelfCheckResult:
        from dlgforge_core.llm.client import LLMClient

        judge.llm = make_client() if make_client else LLMClient(cfg, log_dir=cfg.logs_dir)
        try:
            return await run_self_check(cfg, judge, kb.catalog.chunks, index_version, language)
        finally:
            await judge.llm.aclose()

    echo(f"judge self-check: scoring {cfg.judge.self_check.probes} contrastive probes from the KB")
    result = asyncio.run(probe())
    if result.accuracy is not None:  # a self-check whose every call failed is tried again
        save_result(cfg, result)
    judge.log("[judge-self-check] %s", result.describe())
    echo(result.describe())
    return result


def result_path(cfg: Any) -> Path:
    return Path(cfg.output_dir) / "run_state" / RESULT_FILE


def load_result(cfg: Any) -> SelfCheckResult | None:
    """The recorded self-check of this output folder, if any (None when unreadable)."""
    try:
        return SelfCheckResult.model_validate_json(result_path(cfg).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def save_result(cfg: Any, result: SelfCheckResult) -> None:
    from dlgforge_core.store.atomic import write_json_atomic

    write_json_atomic(result_path(cfg), result.model_dump())


def self_check_gate(cfg: Any) -> list[Any]:
    """The ``judge_self_check`` gate from the recorded result (none when there is none).

    It fails only when ``judge.self_check.blocking`` is set; otherwise a low accuracy or a
    constant judge passes with a warning in its description.
    """
    from dlgforge_core.export.checks import GateOutcome

    result = load_result(cfg)
    if result is None:
        return []
    settings = cfg.judge.self_check
    text = result.evaluate(settings).describe()
    if result.passed:
        return [GateOutcome("judge_self_check", True, text)]
    if not settings.blocking:
        return [GateOutcome("judge_self_check", True, f"warning: {text} (judge.self_check.blocking is false)")]
    return [GateOutcome("judge_self_check", False, text, [result.verdict or "below min_accuracy"])]


def self_check_stats(cfg: Any) -> dict[str, Any] | None:
    """The figures the dataset card and stats show (None when no self-check ran)."""
    result = load_result(cfg)
    if result is None or not (cfg.judge.enabled and cfg.judge.self_check.enabled):
        return None
    result.evaluate(cfg.judge.self_check)
    return {"accuracy": result.accuracy, "probes": result.probes, "wins": result.wins,
            "ties": result.ties, "losses": result.losses, "constant": result.constant,
            "min_accuracy": cfg.judge.self_check.min_accuracy,
            "passed": result.passed, "verdict": result.verdict}


def _unrelated(chunk: Any, usable: Sequence[Any], rng: random.Random) -> Any | None:
    """A chunk of another document (else another part of the same one) sharing few words;
    None when every other chunk has this one's text."""
    others = [c for c in usable if c.source != chunk.source] or \
        [c for c in usable if c.chunk_id != chunk.chunk_id and c.text != chunk.text]
    if not others:
        return None
    candidates = rng.sample(others, min(_CANDIDATES, len(others)))
    words = set(w.lower() for w in _WORD.findall(chunk.text))
    return min(candidates, key=lambda c: (len(words & {w.lower() for w in _WORD.findall(c.text)}),
                                          c.chunk_id))


def _question(chunk: Any, language: str) -> str:
    heading = (getattr(chunk, "heading", "") or "").split(">")[-1].strip(" #")
    topic = heading or " ".join(_clean(chunk.text).split()[:8]).rstrip(".,:;")
    template = _QUESTION.get(iso_code(language), _QUESTION["en"])
    return template.format(topic=f'"{topic}"')


def _answer(text: str) -> str:
    """The first sentences of a chunk, up to about ``_ANSWER_CHARS`` characters."""
    flat = " ".join(_clean(text).split())
    if len(flat) <= _ANSWER_CHARS:
        return flat
    cut = flat[:_ANSWER_CHARS]
    end = max(cut.rfind(". "), cut.rfind("? "), cut.rfind("! "))
    return cut[: end + 1] if end > _ANSWER_CHARS // 3 else cut.rsplit(" ", 1)[0] + " ..."


def _clean(text: str) -> str:
    """Chunk text without Markdown heading marks and code fences."""
    lines = [line.lstrip("#").strip() for line in text.splitlines() if not line.strip().startswith("```")]
    return "\n".join(line for line in lines if line)
