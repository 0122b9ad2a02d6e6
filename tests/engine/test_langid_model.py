"""The language guard's detector model, memory-mapped from an unpacked copy in the user's cache."""

from __future__ import annotations

import os
import time
from array import array

import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from dlgforge_core.generation import langid_model
from dlgforge_core.generation.langid_model import load_identifier

TEXTS = [
    "How long does a refund take once the bike is returned to the dock?",
    "Bonjour, comment puis-je obtenir un remboursement pour mon abonnement ?",
    "¿Dónde está la estación más cercana y cuánto cuesta un pase diario?",
    "Wie lange dauert die Rückerstattung, wenn ich das Rad zurückgebe?",
    "这是一个关于退款的问题", "Это вопрос о возврате денег", "ok",
]


@pytest.fixture(scope="module")
def packaged():
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def test_the_mapped_model_ranks_exactly_as_the_package_loads_it(tmp_path, monkeypatch, packaged):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    mapped = load_identifier()
    assert isinstance(mapped.tk_nextmove, memoryview)  # the mapped copy, not a fallback
    for text in TEXTS:
        assert mapped.rank(text) == packaged.rank(text)
    (folder,) = (tmp_path / "dlgforge" / "langid").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == [
        "classes.json", "nextmove.npy", "nextmove_row.npy", "out_feat.npy", "pc.npy", "ptc.npy"]


def test_a_later_load_maps_the_copy_without_unpacking_again(tmp_path, monkeypatch, packaged):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    load_identifier()

    def no_unpacking(*args, **kwargs):
        raise AssertionError("unpacked again")

    monkeypatch.setattr(langid_model.lzma, "open", no_unpacking)
    again = load_identifier()
    assert isinstance(again.tk_nextmove, memoryview)
    assert again.rank(TEXTS[1]) == packaged.rank(TEXTS[1])


def test_a_damaged_copy_is_replaced_and_stale_staging_folders_swept(tmp_path, monkeypatch, packaged):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    load_identifier()
    root = tmp_path / "dlgforge" / "langid"
    (folder,) = root.iterdir()
    (folder / "ptc.npy").unlink()
    stale, fresh = root / ".killed.unpack", root / ".running.unpack"
    stale.mkdir()
    fresh.mkdir()
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    repaired = load_identifier()
    assert isinstance(repaired.tk_nextmove, memoryview)
    assert (folder / "ptc.npy").is_file() and repaired.rank(TEXTS[3]) == packaged.rank(TEXTS[3])
    assert not stale.exists() and fresh.exists()


def test_a_copy_that_fails_the_probe_is_not_used(tmp_path, monkeypatch, packaged):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(langid_model, "_PROBE", (langid_model._PROBE[0], "fr"))
    identifier = load_identifier()
    assert isinstance(identifier.tk_nextmove, array)  # the package's own loader
    assert identifier.rank(TEXTS[0]) == packaged.rank(TEXTS[0])


def test_a_cache_that_cannot_be_written_falls_back_to_the_package_loader(tmp_path, monkeypatch, packaged):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    fallback = load_identifier()
    assert isinstance(fallback.tk_nextmove, array)
    assert fallback.rank(TEXTS[2]) == packaged.rank(TEXTS[2])
