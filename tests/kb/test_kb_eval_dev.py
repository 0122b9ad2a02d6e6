"""Hybrid beats both of its halves on a slice of the retrieval development set (`kb eval`).

The slice (``data/retrieval_dev_slice``, Apache-2.0, see its README) is real multi-turn RAG
data: the ordering of the modes is asserted, not absolute values.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlgforge_assets.cli import main

from tests.kb.conftest import write_config

SLICE = Path(__file__).parent / "data" / "retrieval_dev_slice"
METRICS = ("recall@k", "mrr@10", "ndcg@10")


@pytest.fixture(scope="module")
def dev_config(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("devslice")
    config = write_config(root, SLICE / "passages", chunk_size=800, chunk_overlap=100)
    built = CliRunner().invoke(main, ["kb", "build", str(config)])
    assert built.exit_code == 0, built.output
    assert "documents: 80" in built.output
    return config


def _modes(config: Path, *args: str) -> dict:
    result = CliRunner().invoke(main, ["kb", "eval", str(config), "--questions",
                                       str(SLICE / "questions.jsonl"), "--json", *args])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["questions"] == 12 and report["k"] == 5
    return report["modes"]


def test_hybrid_beats_vector_and_fulltext_on_the_last_user_turn(dev_config):
    modes = _modes(dev_config, "--query-turns", "1")
    for metric in METRICS:
        hybrid = modes["hybrid"][metric]
        assert hybrid > modes["vector"][metric], (metric, modes)
        assert hybrid > modes["fts"][metric], (metric, modes)


def test_with_the_conversation_hybrid_is_not_below_either_half(dev_config):
    modes = _modes(dev_config)
    last_turn = _modes(dev_config, "--query-turns", "1")
    for metric in METRICS:
        assert modes["hybrid"][metric] >= max(modes["vector"][metric], modes["fts"][metric]), \
            (metric, modes)
    # the conversation query (the default) finds more than the last user turn alone
    assert modes["hybrid"]["mrr@10"] > last_turn["hybrid"]["mrr@10"]
