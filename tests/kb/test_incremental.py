"""Issue 3, test 1: incremental builds embed only what changed; plus no-op and locking."""

import os
import threading

from dlgforge_core.kb.index import ChunkIndex

NEW_DOC = """# Zebra migration

## Route planning

The zebra herd crosses the Mara river in late July, guided by the oldest mare.
"""


class RecordingEmbedder:
    """Delegates to the real embedder and remembers every text it was asked to embed."""

    def __init__(self, inner):
        self.inner, self.identity, self.texts = inner, inner.identity, []

    def encode(self, texts):
        self.texts.extend(texts)
        return self.inner.encode(texts)

    def dimension(self):
        return self.inner.dimension()


def _ids(kb, source):
    return [c.chunk_id for c in kb.chunks_for_source(source)]


def test_add_edit_delete_embeds_only_added_and_edited(kb_folder, make_kb):
    kb = make_kb(kb_folder)
    first = kb.build()
    assert first.rebuilt and first.documents == 8 and first.documents_embedded == 8
    assert first.chunks_added == first.chunks_embedded > 0
    guide_ids, billing_ids = _ids(kb, "guide.md"), _ids(kb, "billing.md")
    assert kb.search("Which cipher encrypts my files?", k=4)[0].source == "faq.txt"

    (kb_folder / "zebra.md").write_text(NEW_DOC, encoding="utf-8")
    billing = (kb_folder / "billing.md").read_text(encoding="utf-8")
    (kb_folder / "billing.md").write_text(
        billing.replace("within ten business days", "within three business days"), "utf-8")
    os.remove(kb_folder / "faq.txt")
    kb.embedder = recorder = RecordingEmbedder(kb.embedder)
    second = kb.build()

    assert not second.rebuilt
    assert second.documents == 8 and second.documents_embedded == 2
    embedded = " ".join(recorder.texts)
    assert "zebra herd" in embedded and "three business days" in embedded
    assert "Starter plan includes 50 GB" not in embedded  # unchanged chunk of the edited doc
    assert "E4012" not in embedded and "AES-256-GCM" not in embedded
    assert second.chunks_embedded == len(recorder.texts) == 2
    assert second.chunks_removed == len(billing_ids) + 3  # billing's chunks + faq's 3
    assert second.chunks_kept + second.chunks_added == ChunkIndex(kb.index_dir).count()

    assert "faq.txt" not in kb.sources() and "zebra.md" in kb.sources()
    assert _ids(kb, "guide.md") == guide_ids
    assert _ids(kb, "billing.md")[:2] == billing_ids[:2] and _ids(kb, "billing.md") != billing_ids
    for mode in ("hybrid", "vector", "fts"):
        hits = kb.search("AES-256-GCM encryption team passphrase", k=10, mode=mode)
        assert all(h.source != "faq.txt" and "AES-256-GCM" not in h.text for h in hits), mode
    assert kb.search("When does the zebra herd cross the river?", k=1)[0].source == "zebra.md"
    assert "three business days" in kb.search("refund payment card days", k=1,
                                               sources=["billing.md"])[0].text


def test_rebuild_with_nothing_changed_is_a_no_op(built_kb):
    version = built_kb.index_version
    count = ChunkIndex(built_kb.index_dir).count()
    report = built_kb.build()
    assert (report.documents_embedded, report.chunks_added, report.chunks_removed) == (0, 0, 0)
    assert report.chunks_kept == count and not report.rebuilt
    assert built_kb.index_version == version == report.index_version


def test_touching_a_file_without_changing_it_keeps_the_index(small_kb_folder, make_kb):
    kb = make_kb(small_kb_folder)
    kb.build()
    version = kb.index_version
    stat = (small_kb_folder / "guide.md").stat()
    os.utime(small_kb_folder / "guide.md", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    report = kb.build()
    assert report.documents_embedded == 0 and kb.index_version == version


def test_two_concurrent_builds_do_not_corrupt_the_index(small_kb_folder, make_kb):
    builders = [make_kb(small_kb_folder), make_kb(small_kb_folder)]
    reports, errors = [], []

    def run(kb):
        try:
            reports.append(kb.build())
        except Exception as err:  # surfaced by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(kb,)) for kb in builders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(r.documents_embedded for r in reports) == [0, 3]
    table_rows = ChunkIndex(small_kb_folder.parent / "index").metadata().to_pylist()
    keys = [(row["source"], row["position"]) for row in table_rows]
    assert len(keys) == len(set(keys)) == max(r.chunks_added for r in reports)


def test_a_removal_interrupted_after_the_interim_manifest_is_finished_by_the_next_build(
        small_kb_folder, make_kb):
    """A build writes a manifest without the documents it touches, then changes the table.
    Killed in between (here: that manifest written by hand, the rows left), the next build
    still deletes the removed document's rows, and clears the killed build's temp files."""
    from dlgforge_core.kb.manifest import load_manifest, save_manifest

    kb = make_kb(small_kb_folder)
    kb.build()
    (small_kb_folder / "billing.md").unlink()
    interim = load_manifest(kb.index_dir)
    del interim.documents["billing.md"]
    interim.chunks = None
    save_manifest(kb.index_dir, interim)
    (kb.index_dir / ".manifest.json.killed.tmp").write_text("{")
    assert "billing.md" in ChunkIndex(kb.index_dir).sources()

    report = kb.build()
    assert report.chunks_removed > 0 and report.documents_embedded == 0
    assert "billing.md" not in ChunkIndex(kb.index_dir).sources() and "billing.md" not in kb.sources()
    assert not (kb.index_dir / ".manifest.json.killed.tmp").exists()
    assert kb.unchanged_build() == {}
