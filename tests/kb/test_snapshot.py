"""The resident snapshot file: a run on an unchanged index searches without opening LanceDB,
and the snapshot follows every change of the index (a stale or damaged one is never used)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from dlgforge_core.config import load_config
from dlgforge_core.kb import KnowledgeBase
from dlgforge_core.kb.snapshot import SNAPSHOT_NAME, snapshot_version
from tests.kb.conftest import write_config

REPO = Path(__file__).resolve().parents[2]


def _fresh_process(config: Path, script: str) -> list[str]:
    """``script`` in a new interpreter (nothing imported yet), with ``kb`` opened on ``config``."""
    code = textwrap.dedent(f"""
        import sys
        from dlgforge_core.config import load_config
        from dlgforge_core.kb import KnowledgeBase
        kb = KnowledgeBase(load_config({str(config)!r}))
    """) + textwrap.dedent(script)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split("\n")


def test_an_unchanged_index_is_built_checked_and_searched_without_lancedb(tmp_path, small_kb_folder):
    config = write_config(tmp_path, small_kb_folder)
    kb = KnowledgeBase(load_config(config))
    report = kb.build()
    assert snapshot_version(kb.index_dir) == report.index_version == kb.index_version
    out = _fresh_process(config, """
        report = kb.build()
        print(report.documents_embedded, report.chunks_kept, kb.unchanged_build() is not None)
        hits = kb.search("How many requests per minute are allowed?", k=3, mode="hybrid")
        print(len(hits), len(kb.sources()))
        print("lancedb" in sys.modules)
    """)
    assert out[0] == f"0 {report.chunks_added} True"
    assert out[1] == f"3 {len(kb.sources())}"
    assert out[2] == "False"


def test_the_snapshot_follows_an_edit_and_a_stale_one_is_not_read(tmp_path, small_kb_folder):
    config = write_config(tmp_path, small_kb_folder)
    kb = KnowledgeBase(load_config(config))
    first = kb.build()
    guide = small_kb_folder / "guide.md"
    guide.write_text(guide.read_text() + "\n\nThe quarterly zebra audit happens every March.\n")
    assert KnowledgeBase(load_config(config)).unchanged_build() is None
    second = KnowledgeBase(load_config(config)).build()
    assert second.index_version != first.index_version
    assert snapshot_version(kb.index_dir) == second.index_version
    fresh = KnowledgeBase(load_config(config))
    assert fresh.unchanged_build() == {}
    assert any("zebra" in hit.text for hit in fresh.search("zebra audit", k=3, mode="fts"))

    # a damaged snapshot: searches go to LanceDB, and the next build writes it again
    (kb.index_dir / SNAPSHOT_NAME).unlink()  # (the file ``fresh`` mapped stays as it was)
    (kb.index_dir / SNAPSHOT_NAME).write_bytes(b"not an arrow file")
    damaged = KnowledgeBase(load_config(config))
    assert damaged.unchanged_build() is None
    assert any("zebra" in hit.text for hit in damaged.search("zebra audit", k=3, mode="fts"))
    assert damaged.build().documents_embedded == 0
    assert snapshot_version(kb.index_dir) == second.index_version


def test_changed_settings_or_files_make_the_index_not_current(tmp_path, small_kb_folder):
    config = write_config(tmp_path, small_kb_folder)
    index = str(tmp_path / "index")
    KnowledgeBase(load_config(config)).build()

    def unchanged(**retrieval):
        folder = tmp_path / "variant"
        folder.mkdir(exist_ok=True)
        variant = write_config(folder, small_kb_folder, index_dir=index, **retrieval)
        return KnowledgeBase(load_config(variant)).unchanged_build()

    assert unchanged() == {} and KnowledgeBase(load_config(config)).unchanged_build() == {}
    assert unchanged(chunk_size=300) is None
    assert unchanged(rebuild_index=True) is None
    (small_kb_folder / ".notes.md").write_text("# Notes\n\nA hidden file: left out.\n")
    assert list(unchanged()) == [".notes.md"]  # nothing to index, but a new file left out
    (small_kb_folder / "new.md").write_text("# New\n\nA document added after the build.\n")
    assert unchanged() is None


def test_an_index_too_large_to_hold_in_memory_gets_no_snapshot(tmp_path, small_kb_folder):
    config = write_config(tmp_path, small_kb_folder, resident_max_chunks=0)
    kb = KnowledgeBase(load_config(config))
    kb.build()
    assert not (kb.index_dir / SNAPSHOT_NAME).exists()
    assert KnowledgeBase(load_config(config)).unchanged_build() == {}
    assert kb.search("requests per minute", k=2, mode="hybrid")
