"""Issue 6, test 4: `dlgforge push` against a loopback stub of the Hub API with the real
`huggingface_hub` client: the files that arrive are exactly the export's, in one commit, and
the token appears in no output or file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.export.conftest import default_records, write_outputs
from tests.fake_hub import FakeHub

TOKEN = "hf_TestTokenThatMustNeverLeak0123456789"
REPO = "acme/support-dialogs"


def _push(config: Path, hub: FakeHub, *args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN")}
    env.update({"HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HOME": str(config.parent / "hf_home")})
    if token:
        env["HF_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "dlgforge_assets", "push", str(config), *args],
                          cwd=config.parent, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_push_uploads_the_export_in_one_commit_and_never_leaks_the_token(project):
    cfg = project(repo_id=REPO, generate_plots=False, commit_message="Nightly dataset")
    write_outputs(cfg.output_dir, default_records())
    with FakeHub(token=TOKEN) as hub:
        done = _push(cfg.config_path, hub)
        assert done.returncode == 0, done.stderr[-2000:]

        repo = hub.repos[REPO]
        assert repo.repo_type == "dataset" and repo.visibility == "private"
        assert len(repo.commits) == 1
        commit = repo.commits[0]
        assert commit.summary == "Nightly dataset"
        export = cfg.output_dir / "export"
        local = {p.relative_to(export).as_posix(): p.read_bytes() for p in export.rglob("*") if p.is_file()}
        assert commit.added == local
        assert {"README.md", "manifest.json", "dataset_stats.json", "sft/train.jsonl",
                "data/conversations_sharegpt_judged.jsonl"} <= set(local)
        assert all(authorized for _, _, authorized in hub.requests)
        assert f"{hub.endpoint}/datasets/{REPO}" in done.stdout

        outputs = done.stdout + done.stderr
        assert TOKEN not in outputs
        for path in cfg.config_path.parent.rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), path

        # pushing again without a token is a one-line user error, not a traceback
        again = _push(cfg.config_path, hub, token=None)
        assert again.returncode == 2
        assert again.stderr.strip().splitlines()[-1] == "error: HF_TOKEN: not set in the environment or .env (needed to push)"
        assert len(repo.commits) == 1

        # the repo exists now; files the new export no longer has are deleted in the same commit
        cfg = project(repo_id=REPO, generate_plots=False, formats={"sft": False})
        done = _push(cfg.config_path, hub)
        assert done.returncode == 0, done.stderr[-2000:]
        assert len(repo.commits) == 2
        assert sorted(repo.commits[1].deleted) == ["schemas/sft.schema.json", "sft/train.jsonl"]
        local = {p.relative_to(export).as_posix(): p.read_bytes() for p in export.rglob("*") if p.is_file()}
        assert repo.files == local
        assert TOKEN not in done.stdout + done.stderr
