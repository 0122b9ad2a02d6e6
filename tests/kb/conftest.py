"""Fixtures of the KB tests: a small multi-format KB (PDF generated here), configs, a built KB.

The real MiniLM model is loaded once per test process (the embeddings module caches it).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from dlgforge_core.config import load_config
from dlgforge_core.kb import KnowledgeBase

DATA = Path(__file__).parent / "data"
PDF_PARAGRAPHS = [
    ("Support hours", "The support desk answers tickets from 08:00 to 18:00 Central European "
     "Time on working days. Weekend coverage is only available on the Enterprise plan."),
    ("Incident escalation", "A P1 incident is escalated by calling the on-call duty phone at "
     "extension 4477 after opening the ticket. The duty engineer acknowledges within 15 minutes."),
    ("Onboarding", "New team members receive a welcome kit with a hardware security key on their "
     "first day and complete the privacy training within two weeks."),
]


def write_pdf(path: Path, paragraphs: list[tuple[str, str]]) -> None:
    """A real text PDF made with fpdf2."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for title, body in paragraphs:
        pdf.set_font("Helvetica", style="B", size=13)
        pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, body, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    pdf.output(str(path))


def write_bad_files(folder: Path) -> dict[str, str]:
    """A binary, an empty and a Latin-1 file; returns {relative path: expected reason word}."""
    (folder / "bad").mkdir(exist_ok=True)
    (folder / "bad" / "logo.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (folder / "bad" / "empty.md").write_bytes(b"")
    (folder / "bad" / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me br\xfbl\xe9e, d\xe9j\xe0 vu.".encode("latin-1"))
    return {"bad/logo.bin": "binary", "bad/empty.md": "empty", "bad/latin1.txt": "UTF-8"}


def make_kb_folder(dest: Path) -> Path:
    """Copy the written KB to ``dest`` and add the generated PDF."""
    shutil.copytree(DATA / "knowledge", dest)
    write_pdf(dest / "handbook.pdf", PDF_PARAGRAPHS)
    return dest


def write_config(folder: Path, knowledge: Path, **retrieval) -> Path:
    """A config.yaml in ``folder`` with the given retrieval settings."""
    data = {
        "llm": {"model": "test-model"},
        "retrieval": {"knowledge_dir": str(knowledge), "index_dir": str(folder / "index"),
                      "chunk_size": 400, "chunk_overlap": 50, **retrieval},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def kb_folder(tmp_path: Path) -> Path:
    """A fresh, writable copy of the test KB (with its PDF)."""
    return make_kb_folder(tmp_path / "knowledge")


@pytest.fixture
def small_kb_folder(tmp_path: Path) -> Path:
    """Three documents of the test KB (Markdown and Python): cheap to embed."""
    dest = tmp_path / "knowledge"
    (dest / "tools").mkdir(parents=True)
    for name in ("guide.md", "billing.md", "tools/ratelimit.py"):
        shutil.copy(DATA / "knowledge" / name, dest / name)
    return dest


@pytest.fixture
def make_kb(tmp_path: Path) -> Callable[..., KnowledgeBase]:
    """Build a KnowledgeBase over a folder with retrieval overrides (index in tmp_path)."""

    def factory(knowledge: Path, **retrieval) -> KnowledgeBase:
        return KnowledgeBase(load_config(write_config(tmp_path, knowledge, **retrieval)))

    return factory


@pytest.fixture(scope="session")
def built_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """The test KB, built once per session (read-only for the tests that use it)."""
    root = tmp_path_factory.mktemp("built")
    knowledge = make_kb_folder(root / "knowledge")
    kb = KnowledgeBase(load_config(write_config(root, knowledge)))
    kb.build()
    return kb
