"""Issue 13: `dlgforge push` with dlgforge's flags, against the loopback Hub stub with the
real `huggingface_hub` client: files land under the repo id and type given, --clean-remote
deletes only what the new export no longer has, --no-export pushes the folder as it is,
and a --token never shows up in any output, log or file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.export.conftest import default_records, write_outputs
from tests.fake_hub import FakeHub

pytestmark = pytest.mark.slow

TOKEN = "hf_FlagTokenThatMustNeverLeak987654321"


def _push(config: Path, hub: FakeHub, *args: str, env_token: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN")}
    env.update({"HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HOME": str(config.parent / "hf_home")})
    if env_token:
        env["HF_TOKEN"] = env_token
    return subprocess.run([sys.executable, "-m", "dlgforge", "push", str(config), *args],
                          cwd=config.parent, env=env, capture_output=True, text=True, timeout=600)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _assert_no_token(project: Path, *runs: subprocess.CompletedProcess) -> None:
    for done in runs:
        assert TOKEN not in done.stdout + done.stderr
    for path in project.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_repo_id_type_message_token_and_run_state_flags(project):
    cfg = project(generate_plots=False)  # no repo_id in the config, no HF_TOKEN anywhere
    write_outputs(cfg.output_dir, default_records())
    with FakeHub(token=TOKEN) as hub:
        missing = _push(cfg.config_path, hub, "--token", TOKEN)
        assert missing.returncode == 2
        assert missing.stderr.strip().splitlines()[-1].startswith("error: saving.hf_push.repo_id: not set")

        done = _push(cfg.config_path, hub, "--repo-id", "acme/model-flags", "--repo-type", "model",
                     "--commit-message", "From the flags", "--include-run-state", "--token", TOKEN)
        assert done.returncode == 0, done.stderr[-2000:]
        repo = hub.repos["acme/model-flags"]
        assert repo.repo_type == "model" and [c.summary for c in repo.commits] == ["From the flags"]
        assert repo.files == _files(cfg.output_dir / "export")
        assert {"run_state/main-en.json", "run_state/main-de.json"} <= set(repo.files)
        assert any(path.startswith("/api/models/acme/model-flags/commit/") for _, path, _ in hub.requests)
        assert all(ok for _, _, ok in hub.requests)

        wrong = _push(cfg.config_path, hub, "--repo-id", "acme/x", "--repo-type", "bucket", "--token", TOKEN)
        assert wrong.returncode == 2 and "--repo-type" in wrong.stderr and "Traceback" not in wrong.stderr
    _assert_no_token(cfg.config_path.parent, missing, done, wrong)


def test_source_dir_and_export_dir_flags(project, tmp_path: Path):
    cfg = project(repo_id="acme/elsewhere", generate_plots=False)
    elsewhere = tmp_path / "other-run"
    write_outputs(elsewhere, default_records()[:3])
    with FakeHub(token=TOKEN) as hub:
        done = _push(cfg.config_path, hub, "--source-dir", str(elsewhere), "--export-dir", "bundle",
                     env_token=TOKEN)
        assert done.returncode == 0, done.stderr[-2000:]
        assert not cfg.output_dir.exists()  # the config's own output folder is not touched
        repo = hub.repos["acme/elsewhere"]
        assert repo.repo_type == "dataset" and repo.files == _files(elsewhere / "bundle")
        assert repo.files["data/conversations_sharegpt_judged.jsonl"].count(b"\n") == 3

        outside = _push(cfg.config_path, hub, "--source-dir", str(elsewhere), "--export-dir", "../escape",
                        env_token=TOKEN)
        assert outside.returncode == 2
        assert outside.stderr.strip().splitlines()[-1].startswith("error: --export-dir: ")
        absent = _push(cfg.config_path, hub, "--source-dir", str(tmp_path / "nope"), env_token=TOKEN)
        assert absent.returncode == 2 and "--source-dir" in absent.stderr
        assert len(repo.commits) == 1
    _assert_no_token(cfg.config_path.parent, done, outside, absent)


def test_no_push_then_no_export_pushes_the_existing_folder(project):
    cfg = project(repo_id="acme/as-is", generate_plots=False)
    write_outputs(cfg.output_dir, default_records())
    export = cfg.output_dir / "export"
    with FakeHub(token=TOKEN) as hub:
        early = _push(cfg.config_path, hub, "--no-export", "--token", TOKEN)
        assert early.returncode == 2 and "--no-export" in early.stderr and "manifest.json" in early.stderr
        useless = _push(cfg.config_path, hub, "--no-export", "--redact-pii", "--token", TOKEN)
        assert useless.returncode == 2
        assert useless.stderr.strip().splitlines()[-1].startswith("error: --redact-pii: has no effect with --no-export")

        built = _push(cfg.config_path, hub, "--no-push", "--token", TOKEN)
        assert built.returncode == 0 and "not pushed (--no-push)" in built.stdout
        assert hub.repos == {} and (export / "manifest.json").is_file()

        (export / "NOTES.md").write_text("added by hand after the export\n", encoding="utf-8")
        manifest = (export / "manifest.json").read_bytes()
        done = _push(cfg.config_path, hub, "--no-export", "--token", TOKEN)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "not rebuilt" in done.stdout
        assert (export / "manifest.json").read_bytes() == manifest  # not rebuilt
        assert hub.repos["acme/as-is"].files == _files(export)
        assert hub.repos["acme/as-is"].files["NOTES.md"] == b"added by hand after the export\n"
    _assert_no_token(cfg.config_path.parent, early, useless, built, done)


def test_clean_remote_deletes_only_files_the_new_export_no_longer_has(project):
    cfg = project(repo_id="acme/clean", generate_plots=False)
    write_outputs(cfg.output_dir, default_records())
    with FakeHub(token=TOKEN) as hub:
        first = _push(cfg.config_path, hub, "--token", TOKEN)
        assert first.returncode == 0, first.stderr[-2000:]
        repo = hub.repos["acme/clean"]
        repo.files["notes/by-hand.txt"] = b"uploaded by someone else"  # not from any push of ours
        first_files = set(repo.files)

        # without --clean-remote: only what our own last push uploaded and is gone is deleted
        cfg = project(repo_id="acme/clean", generate_plots=False, generate_stats=False)
        kept = _push(cfg.config_path, hub, "--token", TOKEN)
        assert kept.returncode == 0, kept.stderr[-2000:]
        assert repo.commits[1].deleted == ["dataset_stats.json"]
        assert "notes/by-hand.txt" in repo.files

        # with --clean-remote: every remote file the new export lacks, and nothing else
        cfg = project(repo_id="acme/clean", generate_plots=False, generate_stats=False, formats={"sft": False})
        cleaned = _push(cfg.config_path, hub, "--clean-remote", "--token", TOKEN)
        assert cleaned.returncode == 0, cleaned.stderr[-2000:]
        current = set(_files(cfg.output_dir / "export"))
        assert sorted(repo.commits[2].deleted) == sorted(
            {"notes/by-hand.txt", "sft/train.jsonl", "schemas/sft.schema.json"})
        assert repo.files == _files(cfg.output_dir / "export") and set(repo.files) == current
        assert first_files - current == {"notes/by-hand.txt", "sft/train.jsonl", "schemas/sft.schema.json",
                                         "dataset_stats.json"}
        assert "deleted 3 remote files" in cleaned.stdout
    _assert_no_token(cfg.config_path.parent, first, kept, cleaned)
