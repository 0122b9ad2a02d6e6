"""Issue 3, test 2: a changed embedding model or chunking setting rebuilds the table."""

import json

import yaml

from dlgforge_core.config import load_config
from dlgforge_core.kb import KnowledgeBase
from dlgforge_core.kb.embeddings import default_model_path
from dlgforge_core.kb.index import ChunkIndex


def _reconfigure(kb, **retrieval):
    path = kb.cfg.config_path
    data = yaml.safe_load(path.read_text())
    data["retrieval"].update(retrieval)
    path.write_text(yaml.safe_dump(data))
    return KnowledgeBase(load_config(path))


def test_chunk_size_change_rebuilds(small_kb_folder, make_kb):
    kb = make_kb(small_kb_folder)
    before = kb.build()
    kb = _reconfigure(kb, chunk_size=250, chunk_overlap=30)
    after = kb.build()
    assert after.rebuilt and after.documents_embedded == 3
    assert after.chunks_removed == before.chunks_added
    assert after.chunks_kept == 0 and after.chunks_added > before.chunks_added
    prose = [c for s in ("guide.md", "billing.md") for c in kb.chunks_for_source(s)]
    assert prose and all(len(c.text) <= 250 for c in prose)
    manifest = json.loads((kb.index_dir / "manifest.json").read_text())
    assert manifest["chunking"]["chunk_size"] == 250
    assert after.index_version != before.index_version


def test_embedding_model_change_rebuilds(small_kb_folder, make_kb, tmp_path):
    kb = make_kb(small_kb_folder)
    kb.build()
    # the same weights under another path are another configured model
    other = tmp_path / "my-model"
    other.mkdir()
    for item in default_model_path().iterdir():
        (other / item.name).symlink_to(item)
    kb = _reconfigure(kb, embeddings={"model": str(other)})
    report = kb.build()
    assert report.rebuilt and report.documents_embedded == 3 and report.chunks_kept == 0
    manifest = json.loads((kb.index_dir / "manifest.json").read_text())
    assert manifest["embedding"]["model"] == str(other.resolve())
    assert manifest["embedding"]["dimension"] == 384
    assert kb.search("What does error E4012 mean?", k=1)[0].source == "guide.md"
    assert kb.build().documents_embedded == 0


def test_rebuild_index_flag_forces_a_rebuild(small_kb_folder, make_kb):
    kb = make_kb(small_kb_folder)
    first = kb.build()
    kb = _reconfigure(kb, rebuild_index=True)
    report = kb.build()
    assert report.rebuilt and report.chunks_added == first.chunks_added
    assert ChunkIndex(kb.index_dir).count() == first.chunks_added
