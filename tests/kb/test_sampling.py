"""The sampling calls the generator uses per turn, and the async search path."""

import asyncio
import random

EXPECTED_SOURCES = ["billing.md", "faq.txt", "guide.md", "handbook.pdf", "security.html",
                    "server/health.go", "tools/ratelimit.py", "web/client.ts"]


def test_sources_are_relative_paths(built_kb):
    assert built_kb.sources() == EXPECTED_SOURCES


def test_chunks_for_source_are_in_document_order(built_kb):
    chunks = built_kb.chunks_for_source("guide.md")
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert chunks[0].heading == "Orbitra User Guide"
    assert any(c.heading == "Orbitra User Guide > Error codes > E7730" for c in chunks)
    assert built_kb.chunks_for_source("missing.md") == []


def test_get_chunks_keeps_order_and_drops_unknown_ids(built_kb):
    chunks = built_kb.chunks_for_source("billing.md")
    ids = [chunks[2].chunk_id, "no-such-id", chunks[0].chunk_id]
    assert [c.chunk_id for c in built_kb.get_chunks(ids)] == [ids[0], ids[2]]


def test_random_chunks_repeat_with_the_same_seed(built_kb):
    first = built_kb.random_chunks(5, random.Random("seed:en:3"))
    again = built_kb.random_chunks(5, random.Random("seed:en:3"))
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert len({c.chunk_id for c in first}) == 5
    only = built_kb.random_chunks(50, random.Random(1), sources=["faq.txt"])
    assert {c.source for c in only} == {"faq.txt"}
    assert len(only) == len(built_kb.chunks_for_source("faq.txt"))


def test_pick_sources_favours_least_used(built_kb):
    usage = {s: 1000 for s in EXPECTED_SOURCES if s != "faq.txt"}
    rng = random.Random(7)
    firsts = [built_kb.pick_sources(1, rng, usage)[0] for _ in range(50)]
    assert firsts.count("faq.txt") > 40
    picked = built_kb.pick_sources(20, random.Random(1))
    assert sorted(picked) == EXPECTED_SOURCES


def test_asearch_matches_search(built_kb):
    async def run():
        return await asyncio.gather(built_kb.asearch("refund monthly plan", k=2),
                                    built_kb.asearch("share link expiry", k=2))

    refunds, shares = asyncio.run(run())
    assert refunds == built_kb.search("refund monthly plan", k=2)
    assert shares[0].source == "web/client.ts"
