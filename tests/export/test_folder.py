"""Issue 6, test 6: export_dir outside the output dir is refused; the folder swap is atomic
and deletes nothing outside the output tree."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from dlgforge_assets.cli import main
from dlgforge_core.errors import ExportError
from dlgforge_core.export import prepare_export
from dlgforge_core.export.folder import atomic_folder, resolve_export_dir
from tests.export.conftest import default_records, write_outputs


@pytest.mark.parametrize("value", ["..", "../export", "/tmp", "export/../..", ".", "run_state", "conversations/x"])
def test_export_dir_outside_or_over_the_outputs_is_refused(project, value):
    cfg = project(export_dir=value)
    with pytest.raises(ExportError) as err:
        resolve_export_dir(cfg)
    assert str(err.value).startswith(f"saving.hf_push.export_dir: {value!r}")


def test_absolute_path_outside_is_refused_by_the_cli_with_exit_2(project, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    cfg = project(export_dir=str(outside))
    write_outputs(cfg.output_dir, default_records())
    done = CliRunner().invoke(main, ["push", str(cfg.config_path), "--no-push"])
    assert done.exit_code == 2
    assert done.output.startswith(f"error: saving.hf_push.export_dir: '{outside}'")
    assert (outside / "precious.txt").read_text() == "keep me"


def test_symlink_escaping_the_output_dir_is_refused(project, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    cfg = project(export_dir="link/export")
    cfg.output_dir.mkdir(parents=True)
    (cfg.output_dir / "link").symlink_to(outside)
    with pytest.raises(ExportError, match="saving.hf_push.export_dir: 'link/export'"):
        resolve_export_dir(cfg)


def test_absolute_path_inside_is_accepted_and_rebuilt_atomically(project):
    cfg = project(generate_stats=False)
    cfg = project(generate_stats=False, export_dir=str(cfg.output_dir / "dist" / "hub"))
    write_outputs(cfg.output_dir, default_records())
    first = prepare_export(cfg)
    assert first.export_dir == cfg.output_dir / "dist" / "hub"
    (first.export_dir / "stale.txt").write_text("from an older export")
    second = prepare_export(cfg)
    assert "stale.txt" not in second.files and not (second.export_dir / "stale.txt").exists()
    assert sorted(p.name for p in second.export_dir.parent.iterdir()) == ["hub"]   # no temp folders left


def test_a_failed_build_leaves_the_previous_export_untouched(tmp_path):
    root = tmp_path / "output"
    target = root / "export"
    target.mkdir(parents=True)
    (target / "README.md").write_text("previous")
    with pytest.raises(RuntimeError):
        with atomic_folder(target, root) as tmp:
            (tmp / "README.md").write_text("half written")
            raise RuntimeError("crash while building")
    assert (target / "README.md").read_text() == "previous"
    assert sorted(p.name for p in root.iterdir()) == ["export"]
