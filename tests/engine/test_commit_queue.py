"""The engine's writer queue: after a failed commit, putting more never waits forever."""

from __future__ import annotations

import asyncio

import pytest

from dlgforge_core.generation.commit_queue import CommitQueue


def test_puts_after_a_failed_commit_return_and_the_writer_raises() -> None:
    failed: list[bool] = []

    def commit(records: list[dict]) -> list[dict]:
        raise OSError("disk gone")

    async def on_failed() -> None:
        failed.append(True)

    async def noop(*_args) -> None:
        return None

    async def main() -> None:
        queue = CommitQueue(commit, on_committed=noop, on_failed=on_failed, tick=noop, limit=1, every_s=0.05)
        writer = asyncio.create_task(queue.run())
        await queue.put({"conversation_id": "a"}, None, 0)
        with pytest.raises(OSError, match="disk gone"):
            await writer
        # the writer is gone: over the limit, a put must not wait for a commit that never comes
        await asyncio.wait_for(asyncio.gather(*(queue.put({"conversation_id": str(i)}, None, i)
                                                for i in range(5))), timeout=30)
        assert isinstance(queue.error, OSError) and failed == [True]

    asyncio.run(main())
