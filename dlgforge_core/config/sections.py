"""Config sections other than ``llm``: run, retrieval, coverage, personas, judge, saving, ..."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from dlgforge_core.config.base import Section
from dlgforge_core.config.trust_sections import IngestConfig, JudgeSelfCheckConfig
from dlgforge_core.config.guards import GuardsConfig
from dlgforge_core.config.retrieval_fusion import FusionConfig

DEFAULT_JUDGE_REASONS: list[str] = [
    "grounded",
    "partially_grounded",
    "unsupported_claim",
    "contradicts_sources",
    "incomplete",
    "off_topic",
    "wrong_language",
    "unclear",
]


class BudgetPerAgent(Section):
    """``run.budget.per_agent``: token caps per agent (None: no cap)."""

    qa_generator: int | None = Field(default=None, ge=1)
    kb_responder: int | None = Field(default=None, ge=1)
    qa_judge: int | None = Field(default=None, ge=1)


class BudgetConfig(Section):
    """``run.budget``: stop starting conversations once a token cap is reached."""

    max_tokens: int | None = Field(default=None, ge=1)
    per_agent: BudgetPerAgent = Field(default_factory=BudgetPerAgent)


class DistributedConfig(Section):
    """``run.distributed``: shards of language partitions run on Ray workers."""

    enabled: bool = False
    shards_per_language: int = Field(default=1, ge=1)
    num_workers: int = Field(default=2, ge=1)


class RunConfig(Section):
    """``run``: how many conversations, how long, in which languages, under which run id."""

    n_turns: int | None = Field(default=None, ge=1)
    min_turns: int = Field(default=1, ge=1)
    max_turns: int = Field(default=3, ge=1)
    turn_count_distribution: Literal["uniform", "poisson", "exponential"] = "uniform"
    turn_count_mean: float | None = Field(default=None, gt=0.0)
    batch_size: int = Field(default=8, ge=1)
    extra_conversations: int | None = Field(default=None, ge=0)
    total_samples: int = Field(default=10, ge=1)
    target_languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    run_id: str = Field(default="main", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    resume_run_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 0
    max_attempts_factor: int = Field(default=3, ge=1)
    candidates_per_turn: int = Field(default=1, ge=1)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)

    @field_validator("target_languages")
    @classmethod
    def _languages_unique(cls, value: list[str]) -> list[str]:
        cleaned = [lang.strip() for lang in value]
        if any(not lang for lang in cleaned):
            raise ValueError("languages must be non-empty strings")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError(f"duplicate language in {cleaned}")
        return cleaned

    @model_validator(mode="after")
    def _turn_bounds(self) -> "RunConfig":
        if self.min_turns > self.max_turns:
            raise ValueError(
                f"min_turns: must be <= max_turns ({self.min_turns} > {self.max_turns})"
            )
        return self

    @property
    def effective_run_id(self) -> str:
        """The run id whose outputs this run writes: ``resume_run_id`` when resuming."""
        return self.resume_run_id or self.run_id


class RerankConfig(Section):
    """``retrieval.rerank``: optional cross-encoder re-ranking of hits."""

    enabled: bool = False
    model: str | None = None


class EmbeddingsConfig(Section):
    """``retrieval.embeddings``: the model that embeds chunks and queries."""

    backend: Literal["sentence_transformers", "openai"] = "sentence_transformers"
    model: str = "all-MiniLM-L6-v2"
    device: str = "cpu"
    runtime: Literal["auto", "openvino", "onnx", "numpy", "torch"] = "auto"
    precision: Literal["auto", "fp32"] = "auto"
    batch_size: int = Field(default=64, ge=1)
    trust_remote_code: bool = False
    base_url: str | None = None
    api_key: SecretStr | None = None


WEB_SEARCH_DEFAULT_URLS: dict[str, str] = {"tavily": "https://api.tavily.com",
                                           "serper": "https://google.serper.dev"}
"""Default ``retrieval.web_search.base_url`` per provider (SearxNG is self-hosted: none)."""


class WebSearchConfig(Section):
    """``retrieval.web_search``: optional web search tool for the responder (off by default).

    When enabled, ``provider`` is required and ``base_url`` defaults per provider. The
    Tavily key falls back to ``TAVILY_API_KEY`` (checked by the loader, which sees the env).
    """

    enabled: bool = False
    provider: Literal["searxng", "tavily", "serper"] | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None
    max_results: int = Field(default=3, ge=1)
    timeout: float = Field(default=15.0, gt=0.0)

    @model_validator(mode="after")
    def _usable_when_enabled(self) -> "WebSearchConfig":
        if not self.enabled:
            return self
        if self.provider is None:
            raise ValueError("provider: required when web search is enabled (searxng, tavily or serper)")
        if not self.base_url:
            default = WEB_SEARCH_DEFAULT_URLS.get(self.provider)
            if default is None:
                raise ValueError(f"base_url: required for provider {self.provider} (the instance URL)")
            self.base_url = default
        return self


class RetrievalConfig(Section):
    """``retrieval``: the knowledge base folder, its index, chunking and search."""

    knowledge_dir: Path = Path("knowledge")
    index_dir: Path = Path("knowledge_index")
    default_k: int = Field(default=4, ge=1)
    chunk_size: int = Field(default=800, ge=50)
    chunk_overlap: int = Field(default=100, ge=0)
    rebuild_index: bool = False
    # hybrid: vector + full-text (reciprocal rank fusion); fts: full-text only, no query
    # embedding (the cheapest on a CPU-only machine); vector: embeddings only
    search_mode: Literal["hybrid", "vector", "fts"] = "hybrid"
    max_tool_rounds: int = Field(default=3, ge=1)
    resident_max_chunks: int = Field(default=50_000, ge=0)
    rerank: RerankConfig = Field(default_factory=RerankConfig)
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    embeddings: EmbeddingsConfig = Field(default_factory=EmbeddingsConfig)
    web_search: WebSearchConfig = Field(default_factory=WebSearchConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> "RetrievalConfig":
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap: must be < chunk_size ({self.chunk_overlap} >= {self.chunk_size})"
            )
        return self


class QuestionModes(Section):
    """``coverage.question_modes``: relative weights of the question modes."""

    fresh: float = Field(default=0.5, ge=0.0)
    follow_up: float = Field(default=0.3, ge=0.0)
    adjacent: float = Field(default=0.2, ge=0.0)

    @model_validator(mode="after")
    def _some_weight(self) -> "QuestionModes":
        if self.fresh + self.follow_up + self.adjacent <= 0:
            raise ValueError("at least one question mode needs a positive weight")
        return self


class NearDupConfig(Section):
    """``coverage.near_dup``: MinHash-LSH near-duplicate filter after the exact check."""

    enabled: bool = False
    threshold: float = Field(default=0.8, gt=0.0, le=1.0)
    num_perm: int = Field(default=128, ge=16)


class CoverageConfig(Section):
    """``coverage``: dedup retries, snippet choice, seed questions and question modes."""

    question_dedup_retries: int = Field(default=3, ge=0)
    exploration_probability: float = Field(default=0.1, ge=0.0, le=1.0)
    snippets_per_question: int = Field(default=3, ge=1)
    seed_topics_path: Path | None = None
    seed_topics_variant: str | None = None  # a dlgforge topics.yaml variant to use for every language
    seed_question_probability: float = Field(default=0.2, ge=0.0, le=1.0)
    question_modes: QuestionModes = Field(default_factory=QuestionModes)
    near_dup: NearDupConfig = Field(default_factory=NearDupConfig)


class PersonasConfig(Section):
    """``personas``: the persona file (None: the shipped default set)."""

    enabled: bool = True
    path: Path | None = None


class JudgeConfig(Section):
    """``judge``: optional scoring of turns or conversations."""

    enabled: bool = False
    mode: Literal["online", "offline"] = "online"
    granularity: Literal["turn", "conversation"] = "turn"
    reasons: list[str] = Field(default_factory=lambda: list(DEFAULT_JUDGE_REASONS))
    min_mean_score: float | None = None
    score_min: int = 1
    score_max: int = 5
    self_check: JudgeSelfCheckConfig = Field(default_factory=JudgeSelfCheckConfig)

    @model_validator(mode="after")
    def _consistent(self) -> "JudgeConfig":
        if self.score_min >= self.score_max:
            raise ValueError(
                f"score_min: must be < score_max ({self.score_min} >= {self.score_max})"
            )
        if self.enabled and not self.reasons:
            raise ValueError("reasons: must not be empty when the judge is enabled")
        if len(set(self.reasons)) != len(self.reasons):
            raise ValueError(f"reasons: duplicate reason in {self.reasons}")
        return self


class OutputColumns(Section):
    """``saving.output_columns``: column names of the ShareGPT exports."""

    messages: str = "messages"
    metadata: str = "metadata"
    judge: str = "judge"
    messages_with_tools: str = "messages_with_tools"
    user_reasoning: str = "user_reasoning"
    assistant_reasoning: str = "assistant_reasoning"


class ExportFormats(Section):
    """``saving.hf_push.formats``: which training formats the export writes."""

    sft: bool = True
    raft: bool = False
    dpo: bool = False


class HFPushConfig(Section):
    """``saving.hf_push``: export folder, stats, plots and the Hugging Face Hub push.

    Relative file and folder names here are relative to ``saving.output_dir``.
    """

    repo_id: str | None = None
    repo_type: Literal["dataset", "model", "space"] = "dataset"
    private: bool = True
    commit_message: str = "Update dlgforge dataset"
    auto_push_on_run: bool = False
    source_file: str | None = None
    generate_stats: bool = True
    stats_file: str | None = None
    generate_plots: bool = True
    plots_dir: str | None = None
    export_dir: str = "export"
    include_run_state: bool = False
    license: str | None = None
    redact_pii: bool = False
    redact_secrets: bool = False
    formats: ExportFormats = Field(default_factory=ExportFormats)


class SavingConfig(Section):
    """``saving``: where outputs go and how exports are shaped."""

    output_dir: Path = Path("output")
    logs_dir: Path = Path("logs")  # run.log, llm.log, judge.log; relative to the config's folder
    output_columns: OutputColumns = Field(default_factory=OutputColumns)
    hf_push: HFPushConfig = Field(default_factory=HFPushConfig)


class QualityConfig(Section):
    """``quality``: thresholds of the quality gates."""

    max_drop_rate: float = Field(default=0.5, ge=0.0, le=1.0)
    pii_check: bool = True
    secrets_check: bool = True
    language_check: bool = True
    guards: GuardsConfig = Field(default_factory=GuardsConfig)


class AutomationConfig(Section):
    """``automation``: the regeneration schedule and the change sensor."""

    schedule_cron: str = "0 3 * * *"
    sensor_interval_seconds: int = Field(default=60, ge=5)


class RayConfig(Section):
    """``ray``: the Ray cluster (None: a local runtime started on demand)."""

    address: str | None = None
    num_cpus: int | None = Field(default=None, ge=1)
    num_gpus: float | None = Field(default=None, ge=0)  # local runtime only (None: detected)


class PostgresStoreConfig(Section):
    """``store.postgres``: the PostgreSQL store (DSN falls back to ``DLGFORGE_POSTGRES_DSN``)."""

    dsn: str | None = Field(default=None, repr=False)  # may hold a password: kept out of repr/hash
    min_pool_size: int = Field(default=1, ge=0)
    max_pool_size: int = Field(default=10, ge=1)
    statement_timeout_ms: int = Field(default=30_000, ge=0)

    @field_validator("dsn")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _pool_bounds(self) -> "PostgresStoreConfig":
        if self.min_pool_size > self.max_pool_size:
            raise ValueError(
                f"min_pool_size: must be <= max_pool_size ({self.min_pool_size} > {self.max_pool_size})"
            )
        return self


class StoreConfig(Section):
    """``store``: where accepted conversations, dedup memory and run state live.

    ``file``: the output folder (the default on one machine); ``postgres``: a PostgreSQL
    database shared by every shard (clusters). The loader reads ``store.dsn``, the older
    spelling of ``store.postgres.dsn``.
    """

    backend: Literal["file", "postgres"] = "file"
    postgres: PostgresStoreConfig = Field(default_factory=PostgresStoreConfig)

    @property
    def dsn(self) -> str | None:
        """The configured DSN (``store.postgres.dsn``); the loader fills it from the env."""
        return self.postgres.dsn
