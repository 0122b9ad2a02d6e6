"""Issue 3, test 5: bad files are skipped with a warning naming each; format extraction."""

import logging

import pytest

from dlgforge_core.errors import KBError
from dlgforge_core.kb.ingest import SkipFile, extract_pieces

from tests.kb.conftest import write_bad_files, write_pdf


def test_bad_files_are_skipped_with_one_warning_each(small_kb_folder, make_kb, caplog):
    expected = write_bad_files(small_kb_folder)
    kb = make_kb(small_kb_folder)
    with caplog.at_level(logging.WARNING, logger="dlgforge.kb"):
        report = kb.build()
    assert set(report.skipped) == set(expected)
    for source, word in expected.items():
        assert word in report.skipped[source]
        lines = [r.getMessage() for r in caplog.records if source in r.getMessage()]
        assert len(lines) == 1, lines
    assert report.documents == 3
    assert not any(s.startswith("bad/") for s in kb.sources())

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dlgforge.kb"):
        again = kb.build()
    assert set(again.skipped) == set(expected) and again.documents_embedded == 0
    assert len(caplog.records) == 3


def test_a_kb_without_usable_text_is_an_error(tmp_path, make_kb):
    folder = tmp_path / "only_bad"
    folder.mkdir()
    write_bad_files(folder)
    with pytest.raises(KBError) as err:
        make_kb(folder).build()
    message = str(err.value)
    assert "no usable text" in message and str(folder) in message and "\n" not in message


def test_fixing_a_bad_file_indexes_it(small_kb_folder, make_kb):
    write_bad_files(small_kb_folder)
    kb = make_kb(small_kb_folder)
    kb.build()
    (small_kb_folder / "bad" / "latin1.txt").write_text("Crème brûlée is now UTF-8.", "utf-8")
    report = kb.build()
    assert report.documents_embedded == 1 and "bad/latin1.txt" not in report.skipped
    assert "bad/latin1.txt" in kb.sources()


def test_pdf_html_and_text_extraction(tmp_path):
    pdf = tmp_path / "doc.pdf"
    write_pdf(pdf, [("Title", "Alpha beta gamma delta.")])
    assert "Alpha beta gamma delta." in extract_pieces(pdf, "doc.pdf", 400, 50)[0].text
    html = tmp_path / "page.html"
    html.write_text("<html><head><style>p{}</style></head><body><h2>Part</h2>"
                    "<p>Visible <b>bold</b> words.</p><script>var x = 1;</script></body></html>")
    pieces = extract_pieces(html, "page.html", 400, 50)
    assert [(p.heading, p.text) for p in pieces] == [("Part", "Visible bold words.")]
    (tmp_path / "notes").write_text("An extensionless text file.")
    assert extract_pieces(tmp_path / "notes", "notes", 400, 50)[0].text == \
        "An extensionless text file."


@pytest.mark.parametrize("content, reason", [
    (b"%PDF-1.4 this is not really a pdf", "unreadable PDF"),
    (b"", "empty"),
])
def test_broken_pdfs_are_skipped(tmp_path, content, reason):
    path = tmp_path / "broken.pdf"
    path.write_bytes(content)
    with pytest.raises(SkipFile, match=reason):
        extract_pieces(path, "broken.pdf", 400, 50)
