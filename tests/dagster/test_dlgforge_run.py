"""Test 6: `dlgforge run` materializes through Dagster and leaves records the instance reports."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import dagster as dg

from dlgforge_assets.instance import open_instance
from tests.dagster.conftest import PYTHON, REPO, python_env, write_project


def _dlgforge_run(config: Path) -> subprocess.CompletedProcess:
    env = python_env()
    env.pop("DAGSTER_HOME", None)
    return subprocess.run([PYTHON, "-m", "dlgforge_assets", "run", str(config)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)


def test_dlgforge_run_records_materializations(tmp_path: Path, fake_llm) -> None:
    config = write_project(tmp_path, fake_llm.base_url)
    done = _dlgforge_run(config)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[en] 2/2 accepted" in done.stdout and "[fr] 2/2 accepted" in done.stdout
    assert "ETA" in done.stdout
    assert "dlgforge run summary" in done.stdout
    assert (tmp_path / "output" / "export" / "README.md").exists()

    home = tmp_path / ".dagster_home"  # the default: next to the config
    assert (home / "dagster.yaml").exists()
    with open_instance(home) as instance:
        assert instance.get_materialized_partitions(dg.AssetKey("conversations")) == {"en", "fr"}
        for key in ("kb_index", "judged_conversations", "sharegpt_export", "dataset_stats", "dataset_export"):
            assert instance.get_latest_materialization_event(dg.AssetKey(key)) is not None, key
        assert instance.get_latest_materialization_event(dg.AssetKey("hf_dataset")) is None
        observation = instance.fetch_observations(dg.AssetKey("kb_documents"), limit=1).records[0]
        assert observation.asset_observation.data_version
        conversations = instance.get_latest_materialization_event(dg.AssetKey("conversations"))
        metadata = conversations.asset_materialization.metadata
        assert metadata["accepted"].value == 2 and metadata["complete"].value is True
        runs = instance.get_runs()
        assert {run.job_name for run in runs} == {"kb_job", "conversations_job", "export_job"}
        assert all(run.is_success for run in runs)

    # Run again on the unchanged KB: no KB run is recorded; after an edit, one is.
    def kb_runs() -> int:
        with open_instance(home) as instance:
            return sum(run.job_name == "kb_job" for run in instance.get_runs())

    again = _dlgforge_run(config)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "kb_index: up to date" in again.stdout and kb_runs() == 1
    document = next((tmp_path / "knowledge").iterdir())
    document.write_text(document.read_text() + "\nA sentence added after the first run.\n")
    edited = _dlgforge_run(config)
    assert edited.returncode == 0, edited.stderr[-3000:]
    assert "kb_index: up to date" not in edited.stdout and kb_runs() == 2

    # A user error raised inside an asset surfaces as one line and exit code 2.
    text = config.read_text().replace("output_dir: output", "output_dir: output\n  hf_push:\n    export_dir: ../escape")
    config.write_text(text)
    failed = _dlgforge_run(config)
    assert failed.returncode == 2, failed.stderr[-3000:]
    error_lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert error_lines[-1].startswith("error: ") and "export_dir" in error_lines[-1]
    assert "Traceback" not in failed.stderr
    assert not (tmp_path / "escape").exists()
    assert json.loads((tmp_path / "output" / "synthetic_qa.jsonl").read_text().splitlines()[0])["run_id"] == "main"
