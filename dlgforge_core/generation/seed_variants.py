"""dlgforge's seed topics layout: questions per *variant* (``english``, ``msa``, ``morocco``, ...).

```yaml
version: 1
defaults:
  by_target_language: {ar: msa, en: english, fr: france}
  final_fallback: english
aliases: {english: english, arabic: msa, en: english}
variants:
  english:
    Islamic Finance: ["What are ...?", "How does ...?"]
  msa:
    Islamic Finance: ["ما ...؟"]
```

The variant of a target language is the first of these that the file has: the variant asked
for (``coverage.seed_topics_variant``, or its alias); the language's
``defaults.by_target_language`` entry, else its alias (``morocco`` -> ``morocco``,
``arabic`` -> ``msa``), also tried for the base language of a tag like ``en-GB``; the built-in
defaults ``ar`` -> ``msa``, ``en`` -> ``english``, ``fr`` -> ``france``; ``final_fallback``;
``english``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dlgforge_core.generation.seed_types import SeedQuestion

BUILTIN_DEFAULTS = {"ar": "msa", "en": "english", "fr": "france"}
FINAL_FALLBACK = "english"
MARKERS = ("version", "variants", "aliases", "defaults", "final_fallback", "default_variant_by_target_language")


def _lower_map(value: dict[str, str]) -> dict[str, str]:
    return {str(k).strip().lower(): str(v).strip().lower() for k, v in value.items()}


class VariantDefaults(BaseModel):
    """``defaults``: target language -> variant, and the last resort."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    by_target_language: dict[str, str] = Field(default_factory=dict)
    final_fallback: str | None = None

    @field_validator("by_target_language")
    @classmethod
    def _lower(cls, value: dict[str, str]) -> dict[str, str]:
        return _lower_map(value)

    @field_validator("final_fallback")
    @classmethod
    def _lower_name(cls, value: str | None) -> str | None:
        return value.strip().lower() if value else None


class VariantSeedTopics(BaseModel):
    """The content of a dlgforge topics.yaml (see the module doc)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    defaults: VariantDefaults = Field(default_factory=VariantDefaults)
    aliases: dict[str, str] = Field(default_factory=dict)
    variants: dict[str, dict[str, list[str]]] = Field(min_length=1)
    final_fallback: str | None = None  # also accepted at the top level
    default_variant_by_target_language: dict[str, str] = Field(default_factory=dict)

    @field_validator("version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != 1:
            raise ValueError(f"unsupported version {value} (this reads version 1)")
        return value

    @field_validator("aliases", "default_variant_by_target_language")
    @classmethod
    def _lower(cls, value: dict[str, str]) -> dict[str, str]:
        return _lower_map(value)

    @field_validator("final_fallback")
    @classmethod
    def _lower_name(cls, value: str | None) -> str | None:
        return value.strip().lower() if value else None

    @field_validator("variants")
    @classmethod
    def _clean(cls, value: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
        return {str(variant).strip().lower(): {str(topic): [q.strip() for q in qs if q and q.strip()]
                                               for topic, qs in (topics or {}).items()}
                for variant, topics in value.items()}

    def variant_for(self, language: str, variant: str | None = None) -> str | None:
        """The variant used for ``language`` (None when the file has none that fits)."""
        by_target = {**self.default_variant_by_target_language, **self.defaults.by_target_language}
        candidates: list[str | None] = []
        if variant:
            wanted = variant.strip().lower()
            candidates += [wanted, self.aliases.get(wanted)]
        target = language.strip().lower()
        base = target.replace("_", "-").split("-")[0]
        for name in dict.fromkeys((target, base)):
            candidates += [by_target.get(name) or self.aliases.get(name), BUILTIN_DEFAULTS.get(name)]
        candidates += [self.defaults.final_fallback or self.final_fallback, FINAL_FALLBACK]
        return next((c for c in candidates if c and c in self.variants), None)

    def questions(self, language: str, variant: str | None = None) -> list[SeedQuestion]:
        """Every seed question of the variant used for ``language``, topic by topic."""
        chosen = self.variant_for(language, variant)
        if chosen is None:
            return []
        return [SeedQuestion(topic, text) for topic, texts in self.variants[chosen].items() for text in texts]

    def languages(self) -> list[str]:
        """The variant names of the file, sorted."""
        return sorted(self.variants)

    def question_count(self) -> int:
        """Total seed questions over every variant."""
        return sum(len(qs) for topics in self.variants.values() for qs in topics.values())


def is_variant_layout(data: Any) -> bool:
    """Whether a loaded YAML mapping is in dlgforge's layout (it has any of its keys)."""
    if not isinstance(data, dict):
        return False
    if isinstance(data.get("topics"), dict):  # dlgforge also reads ``topics`` as ``variants``
        return True
    return any(key in data for key in MARKERS)


def normalize(data: dict[str, Any]) -> dict[str, Any]:
    """``topics: {variant: ...}`` read as ``variants``."""
    if isinstance(data.get("topics"), dict) and "variants" not in data:
        data = {**data, "variants": data["topics"]}
        del data["topics"]
    return data
