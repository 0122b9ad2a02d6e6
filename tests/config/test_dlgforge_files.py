"""dlgforge's topics.yaml and personas.yaml layouts read as they are (never the built-ins)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlgforge_core.errors import ConfigError
from dlgforge_core.generation.personas import builtin_personas, load_personas
from dlgforge_core.generation.seeds import SeedQuestion, VariantSeedTopics, load_seed_topics

# Written for these tests in dlgforge's layout (version, defaults, aliases, variants).
TOPICS = """\
version: 1
defaults:
  by_target_language: {en: english, fr: france}
  final_fallback: english
aliases: {english: english, france: france, msa: msa, morocco: morocco, arabic: msa, french: france}
variants:
  english:
    Billing: ["How do I get an invoice?", "Can I pay yearly?"]
    Accounts: ["How do I reset my password?"]
  france:
    Billing: ["Comment obtenir une facture ?"]
  msa:
    Billing: ["كيف أحصل على فاتورة؟"]
  morocco:
    Billing: ["كيفاش نجبد الفاتورة؟"]
"""

PERSONAS = """\
version: 1
personas:
  user:
    - id: night_nurse
      name: Night Nurse
      traits: [tired, precise]
      style: Asks short questions between rounds.
    - id: pilot
      name: Pilot
      traits: [methodical]
      style: Wants checklists.
  assistant:
    - id: tutor
      name: Patient Tutor
      traits: [patient, structured]
      style: Explains step by step.
"""


@pytest.fixture
def topics(tmp_path: Path) -> VariantSeedTopics:
    path = tmp_path / "topics.yaml"
    path.write_text(TOPICS, encoding="utf-8")
    loaded = load_seed_topics(path)
    assert isinstance(loaded, VariantSeedTopics)
    return loaded


def test_language_names_resolve_through_aliases_and_defaults(topics: VariantSeedTopics) -> None:
    assert topics.variant_for("english") == "english"
    assert topics.variant_for("en") == "english"  # defaults.by_target_language
    assert topics.variant_for("en-GB") == "english"  # base language of a tag
    assert topics.variant_for("fr") == "france"
    assert topics.variant_for("french") == "france"  # alias
    assert topics.variant_for("arabic") == "msa"  # alias
    assert topics.variant_for("ar") == "msa"  # dlgforge's built-in default
    assert topics.variant_for("morocco") == "morocco"
    assert topics.variant_for("klingon") == "english"  # final_fallback
    assert topics.questions("morocco") == [SeedQuestion("Billing", "كيفاش نجبد الفاتورة؟")]
    assert topics.questions("en") == [SeedQuestion("Billing", "How do I get an invoice?"),
                                      SeedQuestion("Billing", "Can I pay yearly?"),
                                      SeedQuestion("Accounts", "How do I reset my password?")]
    assert topics.questions("morocco", variant="arabic") == [SeedQuestion("Billing", "كيف أحصل على فاتورة؟")]
    assert topics.languages() == ["english", "france", "morocco", "msa"] and topics.question_count() == 6


def test_topics_as_variants_and_final_fallback_at_top(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text("final_fallback: b\ntopics:\n  a: {T: [qa]}\n  b: {T: [qb]}\n")
    assert load_seed_topics(path).questions("zz") == [SeedQuestion("T", "qb")]


@pytest.mark.parametrize("text, message", [
    ("version: 2\nvariants: {english: {T: [q]}}\n", r"topics\.yaml: version: unsupported version 2"),
    ("version: 1\nvariants: {english: {T: [1]}}\n", r"topics\.yaml: variants\.english\.T\[0\]: Input should be a valid string \(got 1\)"),
    ("version: 1\nvariants: {english: {T: [q]}}\nflavours: {}\n", r"topics\.yaml: flavours: unknown key"),
    ("version: 1\n", r"topics\.yaml: variants: required key is missing"),
])
def test_bad_dlgforge_topics_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_seed_topics(path)


def test_dlgforge_personas_are_read_not_the_builtins(tmp_path: Path) -> None:
    path = tmp_path / "personas.yaml"
    path.write_text(PERSONAS)
    warnings: list[str] = []
    personas = load_personas(path, warnings.append)
    assert warnings == [] and personas.source == str(path)
    assert [p.id for p in personas.user_personas] == ["night_nurse", "pilot"]
    nurse = personas.user_personas[0]
    assert nurse.as_record() == {"id": "night_nurse", "name": "Night Nurse", "description": "tired, precise",
                                 "style": "Asks short questions between rounds.", "traits": ["tired", "precise"]}
    assert personas.pick("assistant", 0, 0, "en").name == "Patient Tutor"


@pytest.mark.parametrize("text, problem", [
    ("version: 1\npersonas: {user: [{id: a, name: A, mood: x}], assistant: [{id: b, name: B}]}\n",
     "personas.user[0].mood: unknown key"),
    ("version: 1\npersonas: {user: [{id: a, name: A}]}\n", "assistant_personas: List should have at least 1 item"),
    ("version: 3\npersonas: {}\n", "version: unsupported version 3"),
])
def test_unreadable_dlgforge_personas_keep_the_warning(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "personas.yaml"
    path.write_text(text)
    warnings: list[str] = []
    assert load_personas(path, warnings.append) == builtin_personas()
    assert len(warnings) == 1 and warnings[0].startswith(f"personas file {path}: {problem}")
