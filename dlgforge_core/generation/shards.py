"""Shards of one language: conversation indices split by residue, ``index % count == index_of_shard``.

A language run with ``run.distributed.shards_per_language: S`` is S engine processes; shard
``s`` owns the conversation indices ``s, s+S, s+2S, ...`` and an equal share of the target,
the slots (``run.batch_size``), the per-endpoint cap (``llm.max_inflight``) and the token
budget. Plans come from the conversation index alone, so a sharded run asks for exactly
what a single process would.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dlgforge_core.errors import ConfigError


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``Shard(0, 1)``: the whole language)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} of {self.count}: out of range")

    @property
    def whole(self) -> bool:
        return self.count == 1

    def owns(self, conversation_index: int) -> bool:
        """True when this shard generates conversation ``conversation_index``."""
        return conversation_index % self.count == self.index

    def indices(self, skip: set[int]) -> Iterator[int]:
        """This shard's conversation indices in order, without those in ``skip`` (endless)."""
        index = self.index
        while True:
            if index not in skip:
                yield index
            index += self.count

    def share(self, total: int) -> int:
        """This shard's part of ``total`` (the parts of all shards add up to ``total``)."""
        return total // self.count + (1 if self.index < total % self.count else 0)

    @property
    def suffix(self) -> str:
        """File-name suffix of this shard's checkpoint ('' for the whole language)."""
        return "" if self.whole else f".shard-{self.index}-of-{self.count}"

    @property
    def label(self) -> str:
        """How log lines name it: '' for the whole language, else ' shard 1/4'."""
        return "" if self.whole else f" shard {self.index + 1}/{self.count}"


def all_shards(count: int) -> list[Shard]:
    """Every shard of a language split ``count`` ways."""
    return [Shard(i, count) for i in range(count)]


def check_layout(run_id: str, language: str, recorded: Iterable[int], shard: Shard) -> None:
    """A language keeps the shard count it was first checkpointed with (``recorded``): the
    shards' indices and targets depend on it. Raises ``ConfigError`` naming the setting."""
    other = next((count for count in recorded if count != shard.count), None)
    if other is not None:
        raise ConfigError(
            f"run.distributed.shards_per_language: run '{run_id}' language {language} was "
            f"checkpointed with {other} shard(s), not {shard.count}; resume it with the same "
            "setting (1 when run.distributed is off) or start a new run.run_id"
        )
