"""Deterministic planning of a conversation: turn count, personas, seed question, snippets.

Everything random about conversation ``i`` comes from ``random.Random(f"{seed}:{language}:{i}")``,
drawn in a fixed order (turn count, seeded?, then a fixed tuple of draws per turn), so the
plan repeats whatever the completion order and whatever the LLM answers.

Coverage: the generator's snippets come from a KB source chosen by a round-robin over a
seeded order of the sources (by conversation index and turn), which spreads questions
evenly over documents, with ``coverage.exploration_probability`` of a random source.
"""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from dlgforge_core.generation.personas import Persona, PersonaSet
from dlgforge_core.generation.seeds import SeedQuestion
from dlgforge_core.generation.turns import sample_turn_count

MODES = ("fresh", "follow_up", "adjacent")


def conversation_rng(seed: int, language: str, index: int) -> random.Random:
    """The one source of randomness of conversation ``index``."""
    return random.Random(f"{seed}:{language}:{index}")


@dataclass(frozen=True)
class TurnDraws:
    """The fixed random draws of one turn (taken even when a mode ignores some)."""

    mode: float
    explore: float
    source: float
    start: float


@dataclass
class ConversationPlan:
    """What is decided about a conversation before any LLM call."""

    index: int
    n_turns: int
    seed_question: SeedQuestion | None
    user_persona: Persona | None
    assistant_persona: Persona | None
    draws: list[TurnDraws] = field(default_factory=list)


class SeedAssigner:
    """Gives each seeded conversation a different seed question, in conversation order.

    Conversation ``i`` is seeded when its draw says so and an unused question is left;
    it gets question number ``k`` (a seeded permutation), where ``k`` counts the seeded
    conversations before ``i``. The prefix counts are computed once, incrementally.
    """

    def __init__(
        self, questions: list[SeedQuestion], probability: float, seed: int, language: str, run_cfg: Any
    ) -> None:
        order = list(range(len(questions)))
        random.Random(f"{seed}:{language}:seed-questions").shuffle(order)
        self._questions = [questions[i] for i in order]
        self._probability = probability
        self._seed, self._language, self._run_cfg = seed, language, run_cfg
        self._prefix = [0]  # _prefix[i] = seeded conversations among 0..i-1

    def wants_seed(self, rng: random.Random) -> bool:
        """The seeded draw (called right after the turn-count draw)."""
        return rng.random() < self._probability

    def question_for(self, index: int, wants: bool) -> SeedQuestion | None:
        """The seed question of conversation ``index``, or None."""
        if not wants or not self._questions:
            return None
        k = self._count_before(index)
        return self._questions[k] if k < len(self._questions) else None

    def _count_before(self, index: int) -> int:
        while len(self._prefix) <= index:
            j = len(self._prefix) - 1
            rng = conversation_rng(self._seed, self._language, j)
            sample_turn_count(self._run_cfg, rng)
            self._prefix.append(self._prefix[-1] + (1 if self.wants_seed(rng) else 0))
        return self._prefix[index]


class Planner:
    """Builds conversation plans and chooses the generator's snippets for each turn."""

    def __init__(
        self,
        cfg: Any,
        language: str,
        kb: Any,
        personas: PersonaSet | None,
        seed_questions: list[SeedQuestion],
    ) -> None:
        self.cfg = cfg
        self.language = language
        self.seed = cfg.run.seed
        self.kb = kb
        self.personas = personas
        cov = cfg.coverage
        self.exploration = cov.exploration_probability
        self.snippets_per_question = cov.snippets_per_question
        weights = cov.question_modes
        self.mode_weights = [weights.fresh, weights.follow_up, weights.adjacent]
        self.seeds = SeedAssigner(seed_questions, cov.seed_question_probability, self.seed, language, cfg.run)
        self.sources = sorted(kb.sources())
        random.Random(f"{self.seed}:{language}:sources").shuffle(self.sources)
        self._chunks: OrderedDict[str, list[Any]] = OrderedDict()

    def plan(self, index: int) -> tuple[ConversationPlan, random.Random]:
        """The plan of conversation ``index`` and its rng (positioned after the plan draws)."""
        rng = conversation_rng(self.seed, self.language, index)
        n_turns = sample_turn_count(self.cfg.run, rng)
        seed_question = self.seeds.question_for(index, self.seeds.wants_seed(rng))
        draws = [TurnDraws(rng.random(), rng.random(), rng.random(), rng.random()) for _ in range(n_turns)]
        user = assistant = None
        if self.personas is not None:
            user = self.personas.pick("user", index, self.seed, self.language)
            assistant = self.personas.pick("assistant", index, self.seed, self.language)
        plan = ConversationPlan(index, n_turns, seed_question, user, assistant, draws)
        return plan, rng

    def mode(self, plan: ConversationPlan, turn: int) -> str:
        """Question mode of ``turn``: seeded/fresh first, then weighted by ``question_modes``."""
        if turn == 0:
            return "seeded" if plan.seed_question else "fresh"
        u = plan.draws[turn].mode * sum(self.mode_weights)
        for mode, weight in zip(MODES, self.mode_weights):
            if u < weight:
                return mode
            u -= weight
        return MODES[0]

    def source_for(self, plan: ConversationPlan, turn: int) -> str | None:
        """Round-robin source of a fresh question, or a random one with the exploration odds."""
        if not self.sources:
            return None
        draws = plan.draws[turn]
        if draws.explore < self.exploration:
            return self.sources[int(draws.source * len(self.sources))]
        return self.sources[(plan.index + turn) % len(self.sources)]

    async def snippets(
        self, plan: ConversationPlan, turn: int, mode: str, previous: dict[str, Any] | None
    ) -> list[Any]:
        """The chunks the generator sees for ``turn`` (KB access runs off the event loop).

        fresh/seeded: a window of the round-robin source; follow_up: a window around the
        previous answer's best grounding chunk; adjacent: the window right after the
        previous question's snippets in the same source. ``previous`` holds the anchors
        ``answer_anchor`` / ``question_anchor`` as ``(source, position)``.
        """
        size = self.snippets_per_question
        draws = plan.draws[turn]
        anchor_key = "answer_anchor" if mode == "follow_up" else "question_anchor"
        if mode in ("follow_up", "adjacent") and previous and previous.get(anchor_key):
            source, position = previous[anchor_key]
            chunks = await self._source_chunks(source)
            if chunks:
                if mode == "follow_up":
                    start = max(0, position - size // 2)
                else:
                    start = position + size if position + size < len(chunks) else max(0, position - size)
                return _window(chunks, start, size)
        source = self.source_for(plan, turn)
        if source is None:
            return []
        chunks = await self._source_chunks(source)
        if not chunks:
            return []
        start = int(draws.start * max(1, len(chunks) - size + 1))
        return _window(chunks, start, size)

    async def _source_chunks(self, source: str) -> list[Any]:
        cached = self._chunks.get(source)
        if cached is not None:
            self._chunks.move_to_end(source)
            return cached
        chunks = await asyncio.to_thread(self.kb.chunks_for_source, source)
        self._chunks[source] = chunks
        if len(self._chunks) > 256:  # bounded: big KBs must not grow memory without limit
            self._chunks.popitem(last=False)
        return chunks


def _window(chunks: list[Any], start: int, size: int) -> list[Any]:
    start = max(0, min(start, len(chunks) - 1))
    return chunks[start : start + size]
