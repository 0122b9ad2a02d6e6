"""Seed topics: the YAML file, language fallback and legacy JSON migration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dlgforge_core.errors import ConfigError
from dlgforge_core.generation.seeds import SeedQuestion, load_seed_topics, migrate_legacy_seeds

TOPICS = """\
topics:
  - name: billing
    questions:
      en: ["How do I get an invoice?", "Can I pay yearly?"]
      fr: ["Comment obtenir une facture ?"]
      pt-BR: ["Como pago anualmente?"]
  - name: accounts
    questions:
      en: ["How do I reset my password?"]
  - name: shipping
    questions:
      de: ["Wie lange dauert der Versand?"]
"""


@pytest.fixture
def topics_file(tmp_path: Path) -> Path:
    path = tmp_path / "topics.yaml"
    path.write_text(TOPICS, encoding="utf-8")
    return path


def test_questions_in_language_with_fallbacks(topics_file: Path) -> None:
    topics = load_seed_topics(topics_file)
    assert [t.name for t in topics.topics] == ["billing", "accounts", "shipping"]
    assert topics.questions("fr") == [
        SeedQuestion("billing", "Comment obtenir une facture ?"),
        SeedQuestion("accounts", "How do I reset my password?"),  # no fr: falls back to en
        SeedQuestion("shipping", "Wie lange dauert der Versand?"),  # no fr, no en: any variant
    ]
    assert topics.questions("pt")[0] == SeedQuestion("billing", "Como pago anualmente?")  # variant of pt
    assert topics.questions("en")[:2] == [SeedQuestion("billing", "How do I get an invoice?"),
                                          SeedQuestion("billing", "Can I pay yearly?")]
    assert topics.languages() == ["de", "en", "fr", "pt-BR"]
    assert topics.question_count() == 6


def test_bad_topics_file_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text("topics:\n  - name: x\n    questions: {en: [1, [2]]}\n")
    with pytest.raises(ConfigError, match=r"topics\.yaml: topics\[0\]\.questions\.en\[0\]: Input should be a valid string \(got 1\)"):
        load_seed_topics(path)
    path.write_text("topics:\n  - name: x\n    qs: {}\n")
    with pytest.raises(ConfigError, match=r"topics\[0\]\.qs: unknown key"):
        load_seed_topics(path)
    with pytest.raises(ConfigError, match=r"missing\.yaml: seed topics file not found"):
        load_seed_topics(tmp_path / "missing.yaml")


def test_migrate_variant_form(tmp_path: Path) -> None:
    source = tmp_path / "legacy.json"
    source.write_text(json.dumps({
        "billing": {"en": ["How do I pay?"], "es": ["¿Cómo pago?", "¿Hay factura?"]},
        "returns": {"en": ["Can I return an item?"]},
    }, ensure_ascii=False), encoding="utf-8")
    dest = tmp_path / "out" / "topics.yaml"
    topics = migrate_legacy_seeds(source, dest)
    written = yaml.safe_load(dest.read_text(encoding="utf-8"))
    assert written == {"topics": [
        {"name": "billing", "questions": {"en": ["How do I pay?"], "es": ["¿Cómo pago?", "¿Hay factura?"]}},
        {"name": "returns", "questions": {"en": ["Can I return an item?"]}},
    ]}
    assert "¿Cómo pago?" in dest.read_text(encoding="utf-8")  # written as UTF-8, not escaped
    assert load_seed_topics(dest) == topics
    assert topics.languages() == ["en", "es"] and topics.question_count() == 4


def test_migrate_flat_form_becomes_english(tmp_path: Path) -> None:
    source = tmp_path / "legacy.json"
    source.write_text(json.dumps({"setup": ["How do I install it?", "Which OS?"], "misc": []}))
    dest = tmp_path / "topics.yaml"
    migrate_legacy_seeds(source, dest)
    topics = load_seed_topics(dest)
    assert topics.questions("en") == [SeedQuestion("setup", "How do I install it?"),
                                      SeedQuestion("setup", "Which OS?")]
    assert [t.name for t in topics.topics] == ["setup", "misc"]


def test_migrate_refuses_to_overwrite_without_flag(tmp_path: Path) -> None:
    source = tmp_path / "legacy.json"
    source.write_text('{"a": ["q?"]}')
    dest = tmp_path / "topics.yaml"
    dest.write_text("keep me")
    with pytest.raises(ConfigError, match=r"topics\.yaml: already exists \(pass --overwrite to replace it\)"):
        migrate_legacy_seeds(source, dest)
    assert dest.read_text() == "keep me"
    migrate_legacy_seeds(source, dest, overwrite=True)
    assert load_seed_topics(dest).questions("en") == [SeedQuestion("a", "q?")]


@pytest.mark.parametrize(("content", "expected"), [
    ('["q1", "q2"]', r"legacy\.json: top level must be an object of topics, got a list"),
    ('{"billing": "q1"}', r"legacy\.json: billing: expected a list of questions or an object of language variants, got a string"),
    ('{"billing": {"en": "q1"}}', r"legacy\.json: billing\.en: expected a list of questions, got a string"),
    ('{"billing": {"en": ["ok", 3]}}', r"legacy\.json: billing\.en\[1\]: expected a question string, got int"),
    ('{"billing": ["ok", null]}', r"legacy\.json: billing\[1\]: expected a question string, got null"),
    ('{"billing": [', r"legacy\.json: line 1: invalid JSON"),
])
def test_migrate_rejects_bad_shapes_with_one_line(tmp_path: Path, content: str, expected: str) -> None:
    source = tmp_path / "legacy.json"
    source.write_text(content)
    dest = tmp_path / "topics.yaml"
    with pytest.raises(ConfigError, match=expected) as err:
        migrate_legacy_seeds(source, dest)
    assert "\n" not in str(err.value)
    assert not dest.exists()


def test_migrate_missing_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.json: legacy seed file not found"):
        migrate_legacy_seeds(tmp_path / "nope.json", tmp_path / "topics.yaml")
