"""Issue 16: nothing secret in. Links leaving the KB folder, secret-bearing files and
`.dlgforgeignore` paths are skipped with their reasons (real build, LanceDB on disk), and
documents holding secrets are reported (path, line, kind; never the secret)."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from dlgforge_assets.cli import main
from dlgforge_core.kb import kb_fingerprint
from dlgforge_core.kb.ingest_rules import IngestRules, walk

from tests.kb.conftest import write_config

OUTSIDE_PHRASE = "Zebrafinch quarterly payroll ledger"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
OPENAI_KEY = "sk-proj-Q7vX2mN9pL4kR8sT1wY6zB3cF5hJ0dG2aE7uI9oK"


def _unsafe_kb(folder: Path, tmp_path: Path) -> dict[str, str]:
    """Adds every kind of unsafe path to ``folder``; returns {path: expected reason words}."""
    outside = tmp_path / "outside"
    (outside / "vault").mkdir(parents=True)
    (outside / "payroll.md").write_text(f"# Payroll\n\n{OUTSIDE_PHRASE} for every employee.\n")
    (outside / "vault" / "notes.md").write_text(f"# Vault\n\n{OUTSIDE_PHRASE} again.\n")
    os.symlink(outside / "payroll.md", folder / "payroll.md")
    os.symlink(outside / "vault", folder / "vault")
    os.symlink(folder / "guide.md", folder / "alias.md")
    os.symlink(folder / "missing.md", folder / "dangling.md")
    (folder / ".env").write_text(f"OPENAI_API_KEY={OPENAI_KEY}\n")
    (folder / "deploy").mkdir()
    (folder / "deploy" / "server.pem").write_text("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    (folder / "deploy" / "id_ed25519").write_text("not really a key\n")
    (folder / "deploy" / "credentials.json").write_text('{"client_secret": "x"}\n')
    (folder / "deploy" / "runbook.md").write_text("# Runbook\n\nRestart the billing worker first.\n")
    (folder / "drafts").mkdir()
    (folder / "drafts" / "plan.md").write_text("# Plan\n\nUnreleased pricing for next year.\n")
    (folder / "scratch.tmp.md").write_text("# Scratch\n\nTemporary notes.\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("[core]\n")
    (folder / ".dlgforgeignore").write_text("# private\ndrafts/\n*.tmp.md\n")
    return {
        "payroll.md": "leaves the knowledge folder",
        "vault/": "leaves the knowledge folder",
        "alias.md": "inside the knowledge folder",
        "dangling.md": "broken symbolic link",
        ".env": "secret-bearing file",
        "deploy/server.pem": "secret-bearing file",
        "deploy/id_ed25519": "secret-bearing file",
        "deploy/credentials.json": "secret-bearing file",
        "drafts/": "ignored by .dlgforgeignore",
        "scratch.tmp.md": "ignored by .dlgforgeignore",
        ".git/": "version-control folder",
    }


def test_unsafe_paths_are_skipped_with_reasons(small_kb_folder, make_kb, tmp_path):
    expected = _unsafe_kb(small_kb_folder, tmp_path)
    kb = make_kb(small_kb_folder)
    report = kb.build()
    for source, words in expected.items():
        assert words in report.skipped.get(source, ""), (source, report.skipped)
    assert ".dlgforgeignore" not in report.skipped
    assert sorted(kb.sources()) == ["billing.md", "deploy/runbook.md", "guide.md", "tools/ratelimit.py"]
    texts = " ".join(chunk.text for source in kb.sources() for chunk in kb.chunks_for_source(source))
    assert OUTSIDE_PHRASE not in texts and OPENAI_KEY not in texts and "Unreleased pricing" not in texts
    hits = kb.search(OUTSIDE_PHRASE, k=10)
    assert hits and all(OUTSIDE_PHRASE not in hit.text for hit in hits)

    again = kb.build()  # incremental: the same skips are reported again
    assert again.documents_embedded == 0
    assert {s: again.skipped[s] for s in expected} == {s: report.skipped[s] for s in expected}


def test_kb_build_prints_each_skip_and_never_the_secret(small_kb_folder, tmp_path):
    expected = _unsafe_kb(small_kb_folder, tmp_path)
    config = write_config(tmp_path, small_kb_folder)
    result = CliRunner().invoke(main, ["kb", "build", str(config)])
    assert result.exit_code == 0, result.output
    assert f"skipped files: {len(expected)}" in result.output
    for source, words in expected.items():
        line = next(line for line in result.output.splitlines() if line.startswith(f"  skipped {source}: "))
        assert words in line
    assert OPENAI_KEY not in result.output


def test_external_links_are_read_when_allowed(small_kb_folder, make_kb, tmp_path):
    _unsafe_kb(small_kb_folder, tmp_path)
    kb = make_kb(small_kb_folder, ingest={"follow_external_links": True})
    report = kb.build()
    assert "payroll.md" in kb.sources() and "vault/notes.md" in kb.sources()
    assert "payroll.md" not in report.skipped and "vault/" not in report.skipped
    assert ".env" in report.skipped and "alias.md" in report.skipped  # the other rules still hold
    assert any(OUTSIDE_PHRASE in hit.text for hit in kb.search(OUTSIDE_PHRASE, k=3))


def test_ignore_file_can_re_include_a_secret_name_and_config_adds_patterns(tmp_path):
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "example.env").write_text("PORT=8080\n")
    (folder / "prod.env").write_text("PORT=80\n")
    (folder / "a.md").write_text("A\n")
    (folder / "b.md").write_text("B\n")
    (folder / ".dlgforgeignore").write_text("!example.env\n")
    scanned = walk(folder, IngestRules(ignore=("b.md",)))
    assert [f.source for f in scanned.files] == ["a.md", "example.env"]
    assert "secret-bearing" in scanned.skipped["prod.env"]
    assert "ignored" in scanned.skipped["b.md"]
    everything = walk(folder, IngestRules(skip_secret_files=False))
    assert [f.source for f in everything.files] == ["a.md", "b.md", "example.env", "prod.env"]


def test_fingerprint_ignores_skipped_files(small_kb_folder, tmp_path):
    _unsafe_kb(small_kb_folder, tmp_path)
    before = kb_fingerprint(small_kb_folder)
    (small_kb_folder / ".env").write_text("OPENAI_API_KEY=changed\n")
    (tmp_path / "outside" / "payroll.md").write_text("changed\n")
    assert kb_fingerprint(small_kb_folder) == before
    assert kb_fingerprint(small_kb_folder, IngestRules(follow_external_links=True)) != before


def test_documents_with_secrets_are_reported_by_line_and_kind(small_kb_folder, make_kb, tmp_path):
    (small_kb_folder / "setup.md").write_text(
        "# Setup\n\nConfigure the client:\n\n"
        f"    aws_access_key_id = {AWS_KEY}\n\nThen run the sync job.\n")
    kb = make_kb(small_kb_folder)
    report = kb.build()
    assert report.secrets == {"setup.md": [(5, "AWS Access Key")]}
    assert "setup.md" in kb.sources()
    assert kb.build().secrets == report.secrets  # unchanged document: still reported

    config = write_config(tmp_path, small_kb_folder)
    result = CliRunner().invoke(main, ["kb", "build", str(config)])
    assert "documents with secrets: 1" in result.output
    assert "  secret in setup.md line 5: AWS Access Key" in result.output
    assert AWS_KEY not in result.output

    skipping = make_kb(small_kb_folder, ingest={"documents_with_secrets": "skip"})
    skipped = skipping.build()
    assert "setup.md" not in skipping.sources()
    assert "holds secrets (line 5: AWS Access Key" in skipped.skipped["setup.md"]
    assert AWS_KEY not in skipped.skipped["setup.md"]
