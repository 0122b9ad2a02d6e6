"""Seed topics: the YAML file of topics and seed questions, and migration of legacy JSON.

Two layouts are read: the native one (``topics: [{name, questions: {lang: [...]}}]``) and
dlgforge's (``version``, ``defaults``, ``aliases``, ``variants.<variant>.<topic>``; see
``seed_variants.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dlgforge_core.config.errors import format_validation_error
from dlgforge_core.errors import ConfigError
from dlgforge_core.generation import seed_variants
from dlgforge_core.generation.seed_types import SeedQuestion
from dlgforge_core.generation.seed_variants import VariantSeedTopics
from dlgforge_core.store.atomic import write_text_atomic

FALLBACK_LANGUAGE = "en"
__all__ = ["SeedQuestion", "SeedTopic", "SeedTopics", "VariantSeedTopics", "load_seed_topics",
           "migrate_legacy_seeds"]


class SeedTopic(BaseModel):
    """One topic: its name and seed questions per language (``{"en": [...], "fr": [...]}``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    questions: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("questions")
    @classmethod
    def _clean(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        cleaned = {lang.strip(): [q.strip() for q in qs if q.strip()] for lang, qs in value.items()}
        if any(not lang for lang in cleaned):
            raise ValueError("language names must be non-empty")
        return cleaned

    def questions_for(self, language: str) -> list[str]:
        """Questions in ``language``, else in a variant of it, else in English, else any."""
        if self.questions.get(language):
            return self.questions[language]
        base = _base(language)
        for variant in sorted(self.questions):
            if _base(variant) == base and self.questions[variant]:
                return self.questions[variant]
        if self.questions.get(FALLBACK_LANGUAGE):
            return self.questions[FALLBACK_LANGUAGE]
        for variant in sorted(self.questions):
            if _base(variant) == FALLBACK_LANGUAGE and self.questions[variant]:
                return self.questions[variant]
        return next((qs for _, qs in sorted(self.questions.items()) if qs), [])


class SeedTopics(BaseModel):
    """The content of a seed topics file: ``topics: [{name, questions: {lang: [..]}}]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topics: list[SeedTopic] = Field(default_factory=list)

    def questions(self, language: str, variant: str | None = None) -> list[SeedQuestion]:
        """Every seed question usable for ``language`` (or for ``variant``, a language asked
        for every target language), topic by topic in file order."""
        return [
            SeedQuestion(topic.name, text)
            for topic in self.topics
            for text in topic.questions_for(variant or language)
        ]

    def languages(self) -> list[str]:
        """Every language variant named in the file, sorted."""
        return sorted({lang for topic in self.topics for lang in topic.questions})

    def question_count(self) -> int:
        """Total seed questions over every topic and language."""
        return sum(len(qs) for topic in self.topics for qs in topic.questions.values())


def load_seed_topics(path: Path) -> SeedTopics | VariantSeedTopics:
    """Read a seed topics YAML file (either layout); raises ConfigError naming the file (and
    key) on a mistake."""
    source = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: seed topics file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{source}: cannot read seed topics ({err.__class__.__name__})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "YAML"
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError(f"{source}: {where}: invalid YAML ({problem})") from None
    try:
        if seed_variants.is_variant_layout(data):
            return VariantSeedTopics.model_validate(seed_variants.normalize(data))
        return SeedTopics.model_validate(data if data is not None else {})
    except ValidationError as err:
        raise ConfigError(format_validation_error(source, err)) from None


def migrate_legacy_seeds(source: Path, dest: Path, overwrite: bool = False) -> SeedTopics:
    """Convert legacy JSON seeds to the YAML topics format and write ``dest`` atomically.

    Accepted forms: ``{topic: {variant: [questions]}}`` and ``{topic: [questions]}`` (the latter
    becomes language ``en``). Refuses to replace an existing ``dest`` unless ``overwrite``.
    """
    source, dest = Path(source), Path(dest)
    if dest.exists() and not overwrite:
        raise ConfigError(f"{dest}: already exists (pass --overwrite to replace it)")
    if source.resolve() == dest.resolve():
        raise ConfigError(f"{dest}: destination must differ from the source file")
    topics = SeedTopics(topics=[_legacy_topic(str(source), name, value)
                                for name, value in _read_legacy(source).items()])
    body = {"topics": [t.model_dump() for t in topics.topics]}
    header = f"# Seed topics migrated by dlgforge seeds-migrate from {source.name}\n"
    write_text_atomic(dest, header + yaml.safe_dump(body, allow_unicode=True, sort_keys=False))
    return topics


def _read_legacy(source: Path) -> dict[str, Any]:
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: legacy seed file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{source}: cannot read legacy seed file ({err.__class__.__name__})") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{source}: line {err.lineno}: invalid JSON ({err.msg})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be an object of topics, got {_kind(data)}")
    return data


def _legacy_topic(source: str, name: str, value: Any) -> SeedTopic:
    if not name.strip():
        raise ConfigError(f"{source}: topic names must be non-empty")
    if isinstance(value, list):
        return SeedTopic(name=name, questions={FALLBACK_LANGUAGE: _strings(source, name, value)})
    if isinstance(value, dict):
        questions: dict[str, list[str]] = {}
        for variant, items in value.items():
            if not isinstance(items, list):
                raise ConfigError(f"{source}: {name}.{variant}: expected a list of questions, got {_kind(items)}")
            if not variant.strip():
                raise ConfigError(f"{source}: {name}: language variant names must be non-empty")
            questions[variant] = _strings(source, f"{name}.{variant}", items)
        return SeedTopic(name=name, questions=questions)
    raise ConfigError(
        f"{source}: {name}: expected a list of questions or an object of language variants, got {_kind(value)}"
    )


def _strings(source: str, key: str, items: list[Any]) -> list[str]:
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise ConfigError(f"{source}: {key}[{i}]: expected a question string, got {_kind(item)}")
    return items


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _base(language: str) -> str:
    return language.replace("_", "-").split("-")[0].lower()
