"""User and assistant personas: the YAML file, the built-in fallback, and uniform cycling.

Two file layouts are read: the native one (``user_personas`` / ``assistant_personas`` with
``id, name, description, style``) and dlgforge's (``version``, ``personas.user`` /
``personas.assistant`` with ``id, name, traits, style``; the traits become the description).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PersonaKind = Literal["user", "assistant"]
DEFAULT_PERSONAS_FILE = "default_personas.yaml"


class Persona(BaseModel):
    """One persona: a stable id, a short name, a description and an optional speaking style."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    style: str | None = None
    traits: list[str] | None = None  # dlgforge's persona files describe a persona by traits

    def as_record(self) -> dict[str, str]:
        """The persona as stored in a conversation record."""
        return self.model_dump(exclude_none=True)


class PersonaSet(BaseModel):
    """Both persona lists of a persona file; ``pick`` cycles through them uniformly."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_personas: list[Persona] = Field(min_length=1)
    assistant_personas: list[Persona] = Field(min_length=1)
    source: str = "built-in"

    @field_validator("user_personas", "assistant_personas")
    @classmethod
    def _unique_ids(cls, personas: list[Persona]) -> list[Persona]:
        ids = [p.id for p in personas]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate persona id {duplicates[0]!r}")
        return personas

    def of_kind(self, kind: PersonaKind) -> list[Persona]:
        """The user or assistant list."""
        if kind == "user":
            return self.user_personas
        if kind == "assistant":
            return self.assistant_personas
        raise ValueError(f"unknown persona kind {kind!r}; expected 'user' or 'assistant'")

    def pick(self, kind: PersonaKind, index: int, seed: int, language: str) -> Persona:
        """The persona of conversation ``index``: uniformly cycled, deterministic, order-free.

        Conversations ``[c*N, (c+1)*N)`` form cycle ``c``; each cycle is a permutation of the N
        personas seeded by ``(seed, language, kind, c)``, so every persona is used once per
        cycle and the answer depends only on the arguments, never on call order.
        """
        personas = self.of_kind(kind)
        if index < 0:
            raise ValueError(f"conversation index must be >= 0, got {index}")
        cycle, position = divmod(index, len(personas))
        order = _permutation(len(personas), f"{seed}:{language}:{kind}:{cycle}")
        return personas[order[position]]


@lru_cache(maxsize=1024)
def _permutation(size: int, key: str) -> tuple[int, ...]:
    order = list(range(size))
    random.Random(key).shuffle(order)
    return tuple(order)


def load_personas(path: Path | None, warn: Callable[[str], None]) -> PersonaSet:
    """Personas from ``path``, or the built-ins when ``path`` is None.

    A missing, unreadable or invalid file falls back to the built-ins and calls ``warn`` with a
    message naming the path and the problem.
    """
    if path is None:
        return builtin_personas()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return PersonaSet.model_validate({**_native_layout(_mapping(data)), "source": str(path)})
    except FileNotFoundError:
        problem = "file not found"
    except (OSError, UnicodeDecodeError) as err:
        problem = f"cannot read file ({err.__class__.__name__})"
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = f"invalid YAML at line {mark.line + 1}" if mark else "invalid YAML"
    except (ValidationError, ValueError) as err:
        problem = _describe(err)
    warn(f"personas file {path}: {problem}; using the built-in personas")
    return builtin_personas()


@lru_cache(maxsize=1)
def builtin_personas() -> PersonaSet:
    """The persona set shipped with dlgforge (``default_personas.yaml``)."""
    text = resources.files("dlgforge_core.generation").joinpath(DEFAULT_PERSONAS_FILE).read_text("utf-8")
    return PersonaSet.model_validate({**yaml.safe_load(text), "source": "built-in"})


def _mapping(data: object) -> dict:
    if not isinstance(data, dict):
        raise ValueError("top level must be a mapping with user_personas and assistant_personas")
    return data


_DLGFORGE_KEYS = {"id", "name", "traits", "style", "description"}


def _native_layout(data: dict) -> dict:
    """dlgforge's ``{version, personas: {user: [...], assistant: [...]}}`` in the native layout."""
    if "personas" not in data and "version" not in data:
        return data
    extra = sorted(data.keys() - {"version", "personas"})
    if extra:
        raise ValueError(f"{extra[0]}: unknown key")
    if data.get("version", 1) != 1:
        raise ValueError(f"version: unsupported version {data['version']!r} (this reads version 1)")
    groups = data.get("personas")
    if not isinstance(groups, dict):
        raise ValueError("personas: must be a mapping with user and assistant lists")
    extra = sorted(groups.keys() - {"user", "assistant"})
    if extra:
        raise ValueError(f"personas.{extra[0]}: unknown key")
    return {f"{kind}_personas": [_from_dlgforge(item, f"personas.{kind}[{i}]")
                                 for i, item in enumerate(groups.get(kind) or [])]
            for kind in ("user", "assistant")}


def _from_dlgforge(item: object, where: str) -> dict:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: must be a mapping with id, name, traits, style")
    extra = sorted(item.keys() - _DLGFORGE_KEYS)
    if extra:
        raise ValueError(f"{where}.{extra[0]}: unknown key")
    name = str(item.get("name") or item.get("id") or "").strip()
    if not name:
        raise ValueError(f"{where}.name: required")
    raw = item.get("traits") or []
    traits = [str(t).strip() for t in ([raw] if isinstance(raw, str) else raw) if str(t).strip()]
    description = str(item.get("description") or "").strip() or ", ".join(traits) or name
    persona = {"id": str(item.get("id") or "").strip() or "_".join(name.lower().split()),
               "name": name, "description": description, "traits": traits or None}
    if item.get("style"):
        persona["style"] = str(item["style"]).strip()
    return persona


def _describe(err: Exception) -> str:
    if isinstance(err, ValidationError):
        first = err.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        return f"{loc}: {message}"
    return str(err)
