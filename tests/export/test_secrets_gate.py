"""Issue 16: nothing secret out. The `no_secrets` gate (detect-secrets) blocks a push whose
text carries a key, `--redact-secrets` replaces them, and the push's own token never shows,
not even when the Hub echoes it back in an error (loopback fake Hub, real client)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dlgforge_core.export.secrets import find_secrets, redact_text
from tests.export.conftest import DE_QA, EN_QA, default_records, make_record, write_outputs
from tests.fake_hub import FakeHub

TOKEN = "hf_PushTokenThatMustNeverLeak0123456789ab"
REPO = "acme/support-dialogs"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
GITHUB = "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1x2y3z4w5v6u7t8s9r0q1p2o3n4m5l6k7j8i9h0g\n"
       "c3VwZXJzZWNyZXRrZXltYXRlcmlhbGZvcnRoZXRlc3Q=\n-----END RSA PRIVATE KEY-----")


def _push(config: Path, hub: FakeHub, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN")}
    env.update({"HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HOME": str(config.parent / "hf_home"), "HF_TOKEN": token})
    return subprocess.run([sys.executable, "-m", "dlgforge_assets", "push", str(config), *args],
                          cwd=config.parent, env=env, capture_output=True, text=True, timeout=600)


def _leaky_records() -> list[dict]:
    records = default_records()
    records.append(make_record("main-en-000042", "en", [
        ("How do I call the reporting API from a script?",
         f"Use the access key {AWS_KEY} with the SDK, or the token {GITHUB} for the mirror."),
    ], index=42, scores=[5]))
    return records


def _files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8", errors="replace")
            for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("text,kind,placeholder", [
    (f"use {AWS_KEY} for the bucket", "AWS Access Key", "[API_KEY]"),
    (f"the mirror token is {GITHUB}.", "GitHub Token", "[TOKEN]"),
    (f"key:\n{PEM}\nkeep it safe", "Private Key", "[PRIVATE_KEY]"),
    ("set password = 'Tr0ub4dor&3x' in the file", "Secret Keyword", "[PASSWORD]"),
    ("The admin password is Hunter2isGreat!", "Password in text", "[PASSWORD]"),
    ("connect to https://admin:s3cr3tP4ss@db.example.com/prod", "Basic Auth Credentials", "[PASSWORD]"),
    ("export OPENAI_API_KEY=sk-proj-Q7vX2mN9pL4kR8sT1wY6zB3cF5hJ0dG2aE7uI9oK", "OpenAI API Key", "[API_KEY]"),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc works", "Stripe Access Key", "[API_KEY]"),
    (f"my hub token {TOKEN}", "Hugging Face Token", "[TOKEN]"),
])
def test_each_kind_of_secret_is_found_and_redacted(text, kind, placeholder):
    assert kind in [f.kind for f in find_secrets(text)]
    redacted, kinds = redact_text(text)
    assert placeholder in redacted and kind in kinds
    for secret in (AWS_KEY, GITHUB, "MIIEowIBAAKCAQEA", "c3VwZXJzZWNy", "Tr0ub4dor", "Hunter2isGreat",
                   "s3cr3tP4ss", "sk-proj-Q7vX", "sk_live_4eC", TOKEN):
        assert secret not in redacted


def test_ordinary_answers_hold_no_secret():
    texts = [t for qa in EN_QA + DE_QA for t in qa] + [
        "The commit 3f786850e387550fdab836ed7e6dc881de23001b fixed the export.",
        "Set the password to at least 12 characters; the token is valid for 30 minutes.",
        "Use `Authorization: Bearer <token>` and keep API_KEY=your_api_key_here out of git.",
        "The checksum is \"3f786850e387550fdab836ed7e6dc881de23001b\".",
        "Request id 123e4567-e89b-12d3-a456-426614174000 failed with E5107.",
    ]
    assert [t for t in texts if find_secrets(t)] == []


@pytest.mark.slow
def test_secrets_block_the_push_and_redaction_on_request_pushes_clean_files(project):
    cfg = project(repo_id=REPO, generate_plots=False)
    write_outputs(cfg.output_dir, _leaky_records())
    with FakeHub(token=TOKEN) as hub:
        refused = _push(cfg.config_path, hub)
        assert refused.returncode == 2, refused.stderr[-2000:]
        error = refused.stderr.strip().splitlines()[-1]
        assert error.startswith("error: gate no_secrets failed") and "--redact-secrets" in error
        assert "main-en-000042 turn 0 assistant: AWS Access Key, GitHub Token" in error
        assert hub.repos == {}  # nothing reached the Hub
        outputs = refused.stdout + refused.stderr
        assert AWS_KEY not in outputs and GITHUB not in outputs and TOKEN not in outputs
        gates = json.loads((cfg.output_dir / "run_state" / "quality_gates.json").read_text())
        assert gates["no_secrets"]["passed"] is False and AWS_KEY not in json.dumps(gates)

        done = _push(cfg.config_path, hub, "--redact-secrets")
        assert done.returncode == 0, done.stderr[-2000:]
        assert "gate no_secrets: ok" in done.stdout
        pushed = {path: data.decode("utf-8", "replace") for path, data in hub.repos[REPO].files.items()}
        assert pushed and not any(AWS_KEY in t or GITHUB in t for t in pushed.values())
        data = pushed["data/conversations_sharegpt_judged.jsonl"]
        assert "[API_KEY]" in data and "[TOKEN]" in data
        assert "[API_KEY]" in pushed["sft/train.jsonl"]
        assert json.loads(pushed["manifest.json"])["redacted_secrets"] is True
        assert "[PRIVATE_KEY]" in pushed["README.md"]  # the card says what was replaced
        # the raw outputs are the user's own: redaction touches the export only
        assert AWS_KEY in (cfg.output_dir / "synthetic_qa.jsonl").read_text(encoding="utf-8")
        assert TOKEN not in done.stdout + done.stderr
        for path, text in _files(cfg.config_path.parent).items():
            assert TOKEN not in text, path


@pytest.mark.slow
def test_a_token_the_hub_echoes_back_is_never_printed(project):
    wrong = "hf_WrongTokenEchoedByTheServer987654321xyz"
    cfg = project(repo_id=REPO, generate_plots=False)
    write_outputs(cfg.output_dir, default_records())
    with FakeHub(token=TOKEN, echo_credentials=True) as hub:
        failed = _push(cfg.config_path, hub, token=wrong)
        assert failed.returncode == 2, failed.stderr[-2000:]
        error = failed.stderr.strip().splitlines()[-1]
        assert "HTTP 401" in error and "[REDACTED]" in error  # the server did echo it
        assert wrong not in failed.stdout + failed.stderr
        for path, text in _files(cfg.config_path.parent).items():
            assert wrong not in text, path
