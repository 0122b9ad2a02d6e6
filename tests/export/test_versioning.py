"""Issue 6, test 5: a second export after more generation records the first as its parent
and reports the stats difference; an unchanged re-export keeps its version hash."""

from __future__ import annotations

import hashlib
import json

from click.testing import CliRunner

from dlgforge_assets.cli import main
from dlgforge_core.export import prepare_export
from dlgforge_core.export.manifest import history
from tests.export.conftest import EN_QA, default_records, make_record, write_outputs


def test_manifest_hashes_every_file_and_versions_are_content_only(project):
    cfg = project(generate_plots=True)
    write_outputs(cfg.output_dir, default_records())
    first = prepare_export(cfg)
    manifest = json.loads((first.export_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["dataset_version"] == first.version
    assert sorted(manifest["files"]) == [f for f in first.files if f != "manifest.json"]
    for rel, entry in manifest["files"].items():
        assert hashlib.sha256((first.export_dir / rel).read_bytes()).hexdigest() == entry["sha256"]
    assert manifest["config_hash"] == cfg.config_hash
    assert manifest["kb_fingerprint"]
    assert manifest["models"]["qa_generator"] == ["gen-model"]
    assert manifest["code_version"]["dlgforge"]
    assert manifest["parent_version"] is None

    again = prepare_export(cfg)
    assert again.version == first.version
    assert again.parent_version is None
    assert len(history(cfg)) == 1                      # the same version is kept once


def test_second_export_records_its_parent_and_reports_the_difference(project):
    cfg = project(generate_plots=False)
    records = default_records()
    write_outputs(cfg.output_dir, records, dropped={"en": ["llm_error"]})
    runner = CliRunner()
    first = runner.invoke(main, ["push", str(cfg.config_path), "--no-push"])
    assert first.exit_code == 0, first.output
    first_version = json.loads((cfg.output_dir / "export" / "manifest.json").read_text())["dataset_version"]
    assert "parent: none" in first.output

    # more generation: three more conversations, judged much lower, and more drops
    more = [make_record(f"main-en-{10 + i:06d}", "en", [(q + " Please explain in detail.", a)], index=10 + i,
                        scores=[1], source="shipping.md") for i, (q, a) in enumerate(EN_QA[:3])]
    write_outputs(cfg.output_dir, records + more, dropped={"en": ["llm_error"] * 6})
    second = runner.invoke(main, ["push", str(cfg.config_path), "--no-push"])
    assert second.exit_code == 0, second.output
    manifest = json.loads((cfg.output_dir / "export" / "manifest.json").read_text())
    assert manifest["parent_version"] == first_version != manifest["dataset_version"]
    assert f"parent: {first_version}" in second.output
    diff = manifest["parent_diff"]
    assert diff["records"] == {"parent": 7, "current": 10, "delta": 3}
    assert diff["mean_judge_score"]["delta"] < 0
    regressions = {r["metric"] for r in manifest["regressions"]}
    assert {"mean_judge_score", "drop_rate"} <= regressions
    assert "regression: mean_judge_score fell" in second.output
    assert "regression: drop_rate rose" in second.output
    assert [e["dataset_version"] for e in history(cfg)] == [first_version, manifest["dataset_version"]]

    # re-exporting the unchanged data keeps the version and the parent
    third = runner.invoke(main, ["push", str(cfg.config_path), "--no-push"])
    assert third.exit_code == 0, third.output
    again = json.loads((cfg.output_dir / "export" / "manifest.json").read_text())
    assert again["dataset_version"] == manifest["dataset_version"]
    assert again["parent_version"] == first_version
    assert len(history(cfg)) == 2
