"""`dlgforge kb build CONFIG` and `dlgforge kb search CONFIG QUERY [-k N]`."""

import subprocess
import sys

from click.testing import CliRunner

from dlgforge_assets.cli import main

from tests.kb.conftest import write_bad_files, write_config


def test_kb_build_then_search(small_kb_folder, tmp_path):
    write_bad_files(small_kb_folder)
    config = write_config(tmp_path, small_kb_folder)
    runner = CliRunner()
    built = runner.invoke(main, ["kb", "build", str(config)])
    assert built.exit_code == 0, built.output
    assert "documents: 3" in built.output
    assert "added, 0 removed, 0 kept" in built.output
    assert "embedded documents: 3" in built.output and "seconds:" in built.output
    assert "skipped files: 3" in built.output and "skipped bad/logo.bin: binary" in built.output

    again = runner.invoke(main, ["kb", "build", str(config)])
    assert again.exit_code == 0 and "chunks: 0 added, 0 removed" in again.output
    assert "embedded documents: 0" in again.output

    found = runner.invoke(main, ["kb", "search", str(config), "What does E5107 mean?", "-k", "2"])
    assert found.exit_code == 0, found.output
    lines = found.output.splitlines()
    assert lines[0].startswith("1. score=") and "guide.md [Orbitra User Guide > Error codes > E5107]" in lines[0]
    assert "E5107 means the device clock" in lines[1]
    assert lines[2].startswith("2. ") and len(lines) == 4


def test_kb_search_before_build_is_a_user_error(small_kb_folder, tmp_path):
    config = write_config(tmp_path, small_kb_folder)
    result = CliRunner().invoke(main, ["kb", "search", str(config), "anything"])
    assert result.exit_code == 2
    assert "error: retrieval.index_dir: no index at" in result.output


def test_kb_build_with_missing_folder_exits_2_without_traceback(tmp_path):
    config = write_config(tmp_path, tmp_path / "does-not-exist")
    proc = subprocess.run([sys.executable, "-m", "dlgforge_assets", "kb", "build", str(config)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "does-not-exist" in proc.stderr
    assert "Traceback" not in proc.stderr
