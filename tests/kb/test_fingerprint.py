"""kb_fingerprint: a stable content hash of the KB folder."""

import os
import shutil

import pytest

from dlgforge_core.errors import KBError
from dlgforge_core.kb import kb_fingerprint


def test_fingerprint_tracks_content_not_location_or_mtime(small_kb_folder, tmp_path):
    first = kb_fingerprint(small_kb_folder)
    assert first == kb_fingerprint(small_kb_folder)
    moved = shutil.copytree(small_kb_folder, tmp_path / "elsewhere")
    assert kb_fingerprint(moved) == first

    guide = small_kb_folder / "guide.md"
    stat = guide.stat()
    os.utime(guide, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5 * 10**9))
    assert kb_fingerprint(small_kb_folder) == first

    guide.write_text(guide.read_text() + "\nOne more line.\n")
    edited = kb_fingerprint(small_kb_folder)
    assert edited != first
    (small_kb_folder / "new.txt").write_text("new")
    added = kb_fingerprint(small_kb_folder)
    assert added != edited
    (small_kb_folder / "new.txt").rename(small_kb_folder / "renamed.txt")
    assert kb_fingerprint(small_kb_folder) not in {first, edited, added}


def test_fingerprint_of_missing_folder_is_a_kb_error(tmp_path):
    with pytest.raises(KBError, match="nope"):
        kb_fingerprint(tmp_path / "nope")
