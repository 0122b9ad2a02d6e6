"""Issue 6, test 3: PII blocks the push, naming the records and kinds; redaction removes it.
Plus the detectors one by one and the language gate."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dlgforge_assets.cli import main
from dlgforge_core.errors import GateError
from dlgforge_core.export import prepare_export, push_export
from dlgforge_core.export.language import target_language
from dlgforge_core.export.pii import find_pii, redact_text
from tests.export.conftest import default_records, make_record, write_outputs

EMAIL = "jane.roe@example.org"
CARD = "4539 1488 0343 6467"          # passes Luhn


def _leaky_records() -> list[dict]:
    records = default_records()
    records.append(make_record("main-en-000042", "en", [(
        f"My card {CARD} was charged twice this month, what should I do about it?",
        f"Please write to {EMAIL} with the invoice number so billing can refund the charge.")],
        index=42, scores=[4]))
    return records


def test_pii_blocks_the_push_naming_records_and_kinds_never_the_values(project):
    cfg = project(repo_id="acme/ds", generate_stats=False)
    write_outputs(cfg.output_dir, _leaky_records())
    result = prepare_export(cfg)
    [gate] = [g for g in result.gate_failures if g.name == "no_pii"]
    assert "main-en-000042 turn 0 user: credit_card" in gate.offending
    assert "main-en-000042 turn 0 assistant: email" in gate.offending
    with pytest.raises(GateError) as err:
        push_export(cfg, result)
    message = str(err.value)
    assert "no_pii" in message and "main-en-000042" in message
    assert "email" in message and "credit_card" in message
    assert EMAIL not in message and CARD not in message and "\n" not in message
    gates = json.loads((cfg.output_dir / "run_state" / "quality_gates.json").read_text(encoding="utf-8"))
    assert gates["no_pii"]["passed"] is False


def test_cli_refuses_with_exit_2_and_redact_pii_removes_it(project, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_not_used_here")
    cfg = project(repo_id="acme/ds", generate_stats=False)
    write_outputs(cfg.output_dir, _leaky_records())
    runner = CliRunner()
    refused = runner.invoke(main, ["push", str(cfg.config_path)])
    assert refused.exit_code == 2
    assert "error: gate no_pii failed" in refused.output
    assert "main-en-000042" in refused.output and "Traceback" not in refused.output
    assert EMAIL not in refused.output and CARD not in refused.output

    prepared = runner.invoke(main, ["push", str(cfg.config_path), "--no-push", "--redact-pii"])
    assert prepared.exit_code == 0, prepared.output
    assert "gate no_pii: ok" in prepared.output
    export = cfg.output_dir / "export"
    texts = [p.read_text(encoding="utf-8") for p in export.rglob("*") if p.is_file()]
    assert not any(EMAIL in t or CARD in t or CARD.replace(" ", "") in t for t in texts)
    data = (export / "data" / "conversations_sharegpt_judged.jsonl").read_text(encoding="utf-8")
    assert "[EMAIL]" in data and "[CARD_NUMBER]" in data
    assert "[EMAIL]" in (export / "sft" / "train.jsonl").read_text(encoding="utf-8")
    # the raw outputs are the user's own: redaction touches the export only
    assert EMAIL in (cfg.output_dir / "synthetic_qa.jsonl").read_text(encoding="utf-8")


@pytest.mark.parametrize("text,kind", [
    ("reach me at a.b-c@mail.example.co.uk today", "email"),
    ("call +44 20 7946 0958 tomorrow", "phone"),
    ("or (415) 555-2671 in the evening", "phone"),
    ("card 5500-0000-0000-0004 expired", "credit_card"),
    ("IBAN GB82 WEST 1234 5698 7654 32 for transfers", "iban"),
    ("my server is at 8.8.4.4 now", "ip_address"),
    ("v6 address 2001:4860:4860::8844 works", "ip_address"),
    ("SSN 536-22-8726 on file", "national_id"),
    ("CPF 111.444.777-35 registrado", "national_id"),
    ("DNI 12345678Z en el archivo", "national_id"),
])
def test_each_detector_finds_its_kind(text, kind):
    assert [f.kind for f in find_pii(text, "en")] == [kind]
    redacted, kinds = redact_text(text, "en")
    assert kinds == [kind] and f"[{ 'CARD_NUMBER' if kind == 'credit_card' else kind.upper()}]" in redacted


@pytest.mark.parametrize("text", [
    "card 4539 1488 0343 6468 fails Luhn",
    "IBAN GB82 WEST 1234 5698 7654 33 has a bad checksum",
    "the router is 192.168.1.1 and docs use 203.0.113.5",
    "conversation main-en-000003 cites chunk billing.md#4 at 10:30:00",
    "SSN-like 000-12-3456 is invalid",
])
def test_detectors_ignore_lookalikes(text):
    assert find_pii(text, "en") == []


def test_language_gate_flags_messages_in_another_language_and_skips_short_ones():
    good = make_record("main-en-000001", "en", [("How long does a refund take to arrive?",
                                                 "Refunds are processed within five business days.")])
    wrong = make_record("main-en-000002", "en", [(
        "How do I reset the password of my account?",
        "Ouvrez la page des paramètres et choisissez réinitialiser le mot de passe.")])
    short = make_record("main-de-000001", "de", [("OK?", "Ja.")])
    outcome = target_language([good, wrong, short])
    assert not outcome.passed
    assert outcome.offending == ["main-en-000002 turn 0 assistant: detected fr, expected en"]
    assert "2 too short" in outcome.description
    assert target_language([good, short]).passed
