"""Personas: the shipped set, the YAML file, fallback with a warning, and uniform cycling."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlgforge_core.generation.personas import PersonaSet, builtin_personas, load_personas

SMALL = """\
user_personas:
  - {id: u1, name: Nurse, description: Works nights., style: short}
  - {id: u2, name: Pilot, description: Flies often.}
  - {id: u3, name: Chef, description: Cooks for many.}
  - {id: u4, name: Coder, description: Writes code.}
  - {id: u5, name: Farmer, description: Grows wheat.}
assistant_personas:
  - {id: a1, name: Tutor, description: Patient.}
  - {id: a2, name: Expert, description: Concise.}
  - {id: a3, name: Guide, description: Friendly.}
"""


@pytest.fixture
def small(tmp_path: Path) -> PersonaSet:
    path = tmp_path / "personas.yaml"
    path.write_text(SMALL)
    warnings: list[str] = []
    personas = load_personas(path, warnings.append)
    assert warnings == []
    return personas


def test_builtin_set_is_large_unique_and_complete() -> None:
    personas = builtin_personas()
    assert len(personas.user_personas) >= 30 and len(personas.assistant_personas) >= 30
    for group in (personas.user_personas, personas.assistant_personas):
        assert len({p.id for p in group}) == len(group)
        assert len({p.name for p in group}) == len(group)
        assert all(p.description.strip() for p in group)
    assert load_personas(None, pytest.fail) == personas


def test_file_is_loaded(small: PersonaSet) -> None:
    assert [p.id for p in small.user_personas] == ["u1", "u2", "u3", "u4", "u5"]
    assert small.user_personas[0].style == "short"
    assert small.user_personas[0].as_record() == {"id": "u1", "name": "Nurse", "description": "Works nights.",
                                                  "style": "short"}
    assert small.assistant_personas[2].style is None


@pytest.mark.parametrize("kind", ["user", "assistant"])
def test_every_persona_used_once_per_cycle(small: PersonaSet, kind: str) -> None:
    n = len(small.of_kind(kind))
    picks = [small.pick(kind, i, seed=3, language="en").id for i in range(n * 4)]
    for cycle in range(4):
        assert sorted(picks[cycle * n:(cycle + 1) * n]) == sorted(p.id for p in small.of_kind(kind))
    # cycles are reshuffled, not one fixed order repeated
    orders = {tuple(picks[c * n:(c + 1) * n]) for c in range(4)}
    assert len(orders) > 1


def test_builtin_cycle_covers_all_before_repeat() -> None:
    personas = builtin_personas()
    n = len(personas.user_personas)
    first = [personas.pick("user", i, seed=0, language="fr").id for i in range(n)]
    assert len(set(first)) == n


def test_deterministic_and_independent_of_call_order(small: PersonaSet) -> None:
    forward = [small.pick("user", i, 11, "de").id for i in range(20)]
    backward = [small.pick("user", i, 11, "de").id for i in reversed(range(20))][::-1]
    assert forward == backward
    assert forward == [small.pick("user", i, 11, "de").id for i in range(20)]


def test_seed_and_language_change_the_order() -> None:
    personas = builtin_personas()
    base = [personas.pick("assistant", i, 1, "en").id for i in range(30)]
    assert base != [personas.pick("assistant", i, 2, "en").id for i in range(30)]
    assert base != [personas.pick("assistant", i, 1, "es").id for i in range(30)]


def test_missing_file_falls_back_with_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    missing = tmp_path / "nope.yaml"
    personas = load_personas(missing, warnings.append)
    assert personas == builtin_personas()
    assert len(warnings) == 1 and str(missing) in warnings[0] and "not found" in warnings[0]


@pytest.mark.parametrize(("text", "problem"), [
    ("user_personas: [\n", "invalid YAML"),
    ("- just a list\n", "top level must be a mapping"),
    ("user_personas: []\nassistant_personas: [{id: a, name: A, description: d}]\n", "user_personas"),
    ("user_personas: [{id: u, name: U}]\nassistant_personas: [{id: a, name: A, description: d}]\n",
     "user_personas.0.description"),
    ("user_personas: [{id: u, name: U, description: d, mood: x}]\n"
     "assistant_personas: [{id: a, name: A, description: d}]\n", "unknown key"),
    ("user_personas: [{id: u, name: U, description: d}, {id: u, name: V, description: e}]\n"
     "assistant_personas: [{id: a, name: A, description: d}]\n", "duplicate persona id"),
])
def test_invalid_file_falls_back_with_warning(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad_personas.yaml"
    path.write_text(text)
    warnings: list[str] = []
    assert load_personas(path, warnings.append) == builtin_personas()
    assert len(warnings) == 1
    assert str(path) in warnings[0] and problem in warnings[0] and "\n" not in warnings[0]


def test_unreadable_file_falls_back_with_warning(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00bad")
    warnings: list[str] = []
    assert load_personas(path, warnings.append) == builtin_personas()
    assert str(path) in warnings[0]


def test_bad_kind_and_index(small: PersonaSet) -> None:
    with pytest.raises(ValueError):
        small.pick("judge", 0, 0, "en")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        small.pick("user", -1, 0, "en")
