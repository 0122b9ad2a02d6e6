"""dlgforge's config schemas read unchanged: translation, warnings, errors, providers, migrate."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dlgforge_core.config import load_config
from dlgforge_core.config.migrate import migrate_config
from dlgforge_core.errors import ConfigError

# A config in dlgforge's newest schema, in the shape of its sample config.yaml.
NEWEST = """\
run:
  batch_size: 2
  total_samples: 4
  target_languages: ["morocco", "english"]
  run_id: ""
  resume_run_id: ""
  turns: {mode: range, exact: null, min: 2, max: 6, distribution: exp, mean: 3.0}
  data:
    seeding:
      question: "my-seed"
      topics: {path: topics.yaml, enabled: true, variant: "", probability: 0.5}
  distributed:
    enabled: false
    backend: ray
    spawn: {coordinator: true, workers: true}
    ray:
      address: auto
      auto_start_local: true
      namespace: dlgforge
      actor: {num_cpus: 1.0, num_gpus: 0.0, coordinator_num_cpus: 1.0, replicas_qa: 2, replicas_complete: 2}
llm:
  mode: api
  routing:
    strategy: round_robin
  agents:
    user: {provider: openai, model: gpt-x, base_url: "http://127.0.0.1:9/v1", temperature: null,
           max_tokens: null, top_p: null, timeout: null, max_retries: null, extra: {reasoning_effort: low}}
    assistant: {provider: gemini, model: gemini/gemini-flash, base_url: "", temperature: 0.2, extra: {}}
    judge: {provider: "", model: openrouter/meta/llama-3, base_url: "", extra: {}}
store:
  backend: postgres
  postgres: {dsn: "", min_pool_size: 1, max_pool_size: 4, statement_timeout_ms: 1000}
coverage:
  doc_coverage_mode: balanced
  doc_coverage_epsilon: 0.25
  doc_coverage_fraction: 0.2
  question_dedup_retries: 2
tools:
  web_search: {enabled: false, serper_num_results: 7, serper_timeout: 12}
  retrieval:
    top_k: 5
    chunking: {chunk_size: 600, chunk_overlap: 60}
    index: {persist_dir: my_index, rebuild: false, skip_if_unchanged: true}
    embeddings:
      backend: sentence_transformers
      model: sentence-transformers/all-MiniLM-L6-v2
      fallback_model: sentence-transformers/all-MiniLM-L6-v2
      device: auto
      fallback_on_cpu: true
      model_kwargs: {}
      tokenizer_kwargs: {}
      encode_kwargs: {}
    reranker: {enabled: false, model: some/reranker, backend: qwen3, instruction: "x", max_length: 8192,
               candidates: 12, batch_size: 16, cmd: null}
personas: {enabled: true, path: personas.yaml}
judge: {enabled: true, mode: online, granularity: turn, reasons: [irrelevant, other]}
saving:
  output_dir: outputs
  output_columns: {messages: messages, message_with_tools: mwt, metadata: metadata,
                   user_reasoning: ur, assistant_reasoning: ar, judge: judge}
  hf_push:
    enabled: false
    auto_push_on_run: true
    repo_id: org/name
    repo_type: dataset
    export_dir: hf_export
    include_run_state: false
    private: true
    commit_message: Update
    source_file: conversations_sharegpt.jsonl
    generate_stats: true
    stats_file: dataset_stats.json
    generate_plots: false
    plots_dir: data_stats/plots
"""

NEWEST_NO_EFFECT = [
    "tools.retrieval.embeddings.fallback_model", "tools.retrieval.embeddings.fallback_on_cpu",
    "tools.retrieval.reranker.backend", "tools.retrieval.reranker.instruction",
    "tools.retrieval.reranker.max_length", "tools.retrieval.reranker.candidates",
    "tools.retrieval.reranker.batch_size",
    "run.distributed.spawn.coordinator", "run.distributed.spawn.workers", "run.distributed.ray.namespace",
    "run.distributed.ray.actor.num_cpus", "run.distributed.ray.actor.num_gpus",
    "run.distributed.ray.actor.coordinator_num_cpus", "run.distributed.ray.actor.replicas_qa",
    "run.distributed.ray.actor.replicas_complete", "coverage.doc_coverage_fraction",
]


@pytest.fixture
def keys(monkeypatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "gem-key")
    monkeypatch.setenv("OPENROUTER_API_KEY", "or-key")
    monkeypatch.setenv("OPENAI_API_KEY", "oa-key")


def no_effect_keys(cfg) -> list[str]:
    return [line.split(": accepted, no effect here:")[0] for line in cfg.warnings if ": accepted," in line]


def test_newest_schema_maps_every_key(write_config, keys) -> None:
    cfg = load_config(write_config(NEWEST))
    run = cfg.run
    assert (run.run_id, run.resume_run_id, run.n_turns, run.min_turns, run.max_turns) == ("main", None, None, 2, 6)
    assert (run.turn_count_distribution, run.turn_count_mean) == ("exponential", 3.0)
    assert run.target_languages == ["morocco", "english"] and run.seed == load_config(
        write_config("run: {seed_question: my-seed, seed_topics_path: topics.yaml}\nllm: {model: m}\n",
                     "seed.yaml")).run.seed != 0
    assert cfg.coverage.seed_topics_path == cfg.base_dir / "topics.yaml"
    assert cfg.coverage.seed_topics_variant is None and cfg.coverage.seed_question_probability == 0.5
    assert cfg.coverage.exploration_probability == 0.25 and cfg.coverage.question_dedup_retries == 2
    assert cfg.ray.address is None and cfg.run.distributed.enabled is False
    assert cfg.llm.backend == "openai" and cfg.llm.routing.strategy == "round_robin"
    user, assistant, judge = (cfg.agent_settings(a) for a in ("qa_generator", "kb_responder", "qa_judge"))
    assert (user.model, user.base_url, user.api_key, user.extra) == (
        "gpt-x", "http://127.0.0.1:9/v1", "oa-key", {"reasoning_effort": "low"})
    assert (assistant.model, assistant.api_key, assistant.temperature, assistant.provider) == (
        "gemini-flash", "gem-key", 0.2, "gemini")
    assert assistant.base_url == "https://generativelanguage.googleapis.com/v1beta/openai"
    assert (judge.model, judge.base_url, judge.api_key) == ("meta/llama-3", "https://openrouter.ai/api/v1", "or-key")
    assert cfg.store.backend == "file" and cfg.store.postgres.max_pool_size == 4
    web = cfg.retrieval.web_search
    assert (web.enabled, web.max_results, web.timeout) == (False, 7, 12)
    r = cfg.retrieval
    assert (r.default_k, r.chunk_size, r.chunk_overlap, r.rebuild_index) == (5, 600, 60, False)
    assert r.index_dir == cfg.base_dir / "my_index"
    assert (r.embeddings.model, r.embeddings.device) == ("sentence-transformers/all-MiniLM-L6-v2", "auto")
    assert (r.rerank.enabled, r.rerank.model) == (False, "some/reranker")
    cols = cfg.saving.output_columns
    assert (cols.messages_with_tools, cols.user_reasoning, cols.assistant_reasoning) == ("mwt", "ur", "ar")
    push = cfg.saving.hf_push
    assert (push.auto_push_on_run, push.repo_id, push.export_dir, push.plots_dir) == (
        False, "org/name", "hf_export", "data_stats/plots")
    assert cfg.output_dir == cfg.base_dir / "outputs" and cfg.logs_dir == cfg.base_dir / "logs"
    assert sorted(no_effect_keys(cfg)) == sorted(NEWEST_NO_EFFECT)
    assert len(cfg.warnings) == len(NEWEST_NO_EFFECT) + 1  # + the file store fallback
    assert any(line.startswith("store.backend: postgres has no store.postgres.dsn") for line in cfg.warnings)


OLDER = """\
run:
  n_turns: 2
  min_turns: 1
  max_turns: 4
  turn_count_distribution: pois
  turn_count_mean: 2.0
  seed_question: "12345"
  question_seed: "12345"
  run_id: ""
  seed_topics_path: topics.yaml
  seed_topics_variant: msa
  seed_topics_probability: 0.3
  seed_topics_enabled: true
  distributed: {enabled: false, executor: ray, spawn: {coordinator: true, workers: true}}
models:
  embedding_model: sentence-transformers/all-MiniLM-L6-v2
  use_reranker: false
  reranker_model: some/reranker
  reranker_backend: qwen3
  qwen3_reranker_cmd: ""
llm:
  backend: openai
  provider: ""
  model: ""
  base_url: "http://127.0.0.1:9/v1"
  api_key: ""
  api_key_env: MY_KEY_VAR
  temperature: null
  extra: {}
  routing: {strategy: weighted_least_inflight, endpoints: ["http://127.0.0.1:1234"]}
  agents:
    qa_generator: {provider: openai, model: gpt-x, base_url: "http://127.0.0.1:9/v1"}
    kb_responder: {model: gpt-y}
    qa_judge: {model: gpt-z}
ray:
  address: auto
  auto_start_local: false
  namespace: dlgforge
  actor: {num_cpus: 1.0}
retrieval:
  default_k: 3
  chunk_size: 500
  overlap: 50
  persist_dir: idx
  rebuild_index: false
  skip_if_unchanged: false
  embedding_backend: sentence_transformers
  embedding_model_kwargs: {}
tools: {web_search_enabled: false, serper_num_results: 4, serper_timeout: 9}
"""


def test_older_schema_maps_every_key(write_config, monkeypatch) -> None:
    monkeypatch.setenv("MY_KEY_VAR", "from-var")
    cfg = load_config(write_config(OLDER))
    run = cfg.run
    assert (run.n_turns, run.min_turns, run.max_turns, run.turn_count_distribution) == (None, 1, 4, "poisson")
    assert run.seed == 12345 and run.run_id == "main"
    assert (cfg.coverage.seed_topics_variant, cfg.coverage.seed_question_probability) == ("msa", 0.3)
    assert cfg.coverage.seed_topics_path == cfg.base_dir / "topics.yaml"
    assert cfg.ray.address == "auto"  # no local fallback asked for
    assert cfg.llm.api_key.get_secret_value() == "from-var"
    assert cfg.agent_settings("kb_responder").api_key == "from-var"
    assert [e.base_url for e in cfg.llm.routing.endpoints] == ["http://127.0.0.1:1234/v1"]
    r = cfg.retrieval
    assert (r.default_k, r.chunk_size, r.chunk_overlap, r.index_dir.name, r.rebuild_index) == (3, 500, 50, "idx", True)
    assert r.rerank.model == "some/reranker"
    assert (r.web_search.max_results, r.web_search.timeout) == (4, 9)
    assert sorted(no_effect_keys(cfg)) == sorted([
        "run.n_turns", "run.distributed.spawn.coordinator", "run.distributed.spawn.workers",
        "ray.namespace", "ray.actor.num_cpus", "models.reranker_backend"])


@pytest.mark.parametrize("section, path", [
    ("run: {turns: {mode: range, minimum: 2}}", "run.turns.minimum"),
    ("run: {data: {seeding: {topics: {path: t.yaml, weight: 1}}}}", "run.data.seeding.topics.weight"),
    ("tools: {retrieval: {chunking: {size: 3}}}", "tools.retrieval.chunking.size"),
    ("tools: {browser: {enabled: true}}", "tools.browser"),
    ("llm: {model: m, agents: {user: {modle: x}}}", "llm.agents.user.modle"),
    ("run: {distributed: {ray: {actor: {num_tpus: 1}}}}", "run.distributed.ray.actor.num_tpus"),
    ("models: {embedding_modle: x}", "models.embedding_modle"),
    ("run: {batch_sise: 3}", "run.batch_sise"),
])
def test_unknown_keys_still_name_their_path(write_config, section, path) -> None:
    config = write_config(section + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert str(err.value).startswith(f"{config}: {path}: unknown key")


def test_exact_turns_and_coverage_off(write_config) -> None:
    cfg = load_config(write_config("""\
        run: {turns: {mode: exact, exact: 3, min: 1, max: 9}}
        coverage: {doc_coverage_mode: "off", doc_coverage_epsilon: 0.1}
        llm: {model: m}
        """))
    assert (cfg.run.n_turns, cfg.coverage.exploration_probability) == (3, 1.0)
    assert no_effect_keys(cfg) == ["coverage.doc_coverage_epsilon"]


@pytest.mark.parametrize("agent_yaml, message", [
    ("{user: {provider: acme, model: m}}", "llm.agents.qa_generator.provider: agent qa_generator (user): unknown provider 'acme'"),
    ("{assistant: {model: bedrock/claude}}", "llm.agents.kb_responder.model: agent kb_responder (assistant): provider bedrock has no OpenAI-compatible API"),
    ("{judge: {model: gemini/flash}}", "llm.agents.qa_judge: agent qa_judge (judge): provider gemini needs an API key (set GEMINI_API_KEY or GOOGLE_API_KEY)"),
    ("{user: {model: hosted_vllm/qwen}}", "llm.agents.qa_generator.base_url: agent qa_generator (user): provider hosted_vllm is self-hosted"),
])
def test_provider_mistakes_name_the_agent(write_config, agent_yaml, message) -> None:
    config = write_config(f"llm: {{model: m, api_key: k, agents: {agent_yaml}}}\njudge: {{enabled: true}}\n")
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert str(err.value).startswith(f"{config}: {message}") and "\n" not in str(err.value)


def test_provider_prefix_passthrough_and_key_isolation(write_config, keys) -> None:
    cfg = load_config(write_config("""\
        llm:
          agents:
            qa_generator: {model: openai/gpt-oss-20b, base_url: "http://localhost:1234/v1"}
            kb_responder: {model: lm_studio/qwen}
            qa_judge: {provider: openrouter, model: anthropic/claude, base_url: "http://127.0.0.1:7/v1"}
        judge: {enabled: true}
        """))
    gen, resp, judge = (cfg.agent_settings(a) for a in ("qa_generator", "kb_responder", "qa_judge"))
    assert (gen.model, gen.base_url, gen.api_key) == ("openai/gpt-oss-20b", "http://localhost:1234/v1", "oa-key")
    assert (resp.model, resp.base_url, resp.api_key) == ("qwen", "http://localhost:1234/v1", None)
    assert (judge.model, judge.base_url, judge.api_key) == ("anthropic/claude", "http://127.0.0.1:7/v1", "or-key")


def test_migrate_writes_an_equivalent_native_config(write_config, project: Path, keys, monkeypatch) -> None:
    monkeypatch.setenv("MY_KEY_VAR", "secret-value")
    old = write_config(NEWEST.replace("  agents:\n", "  api_key_env: MY_KEY_VAR\n  agents:\n"))
    new = project / "native.yaml"
    warnings = migrate_config(old, new)
    assert sorted(line.split(": accepted")[0] for line in warnings) == sorted(NEWEST_NO_EFFECT)
    text = new.read_text()
    assert "secret-value" not in text and "${MY_KEY_VAR}" in text
    native = yaml.safe_load(text)
    assert {"tools", "models"}.isdisjoint(native) and "user" not in native["llm"]["agents"]
    a, b = load_config(old), load_config(new)
    assert a.config_hash == b.config_hash
    assert [a.agent_settings(x) for x in ("qa_generator", "kb_responder", "qa_judge")] == [
        b.agent_settings(x) for x in ("qa_generator", "kb_responder", "qa_judge")]
    assert no_effect_keys(b) == []
    with pytest.raises(ConfigError, match="already exists"):
        migrate_config(old, new)


def test_migrate_to_another_folder_rebases_paths(write_config, project: Path, keys) -> None:
    old = write_config(NEWEST)
    (project / "elsewhere").mkdir()
    new = project / "elsewhere" / "native.yaml"
    migrate_config(old, new)
    a, b = load_config(old), load_config(new)
    for attr in ("knowledge_dir", "index_dir", "output_dir", "logs_dir", "cache_dir"):
        assert getattr(a, attr) == getattr(b, attr), attr
    assert a.coverage.seed_topics_path == b.coverage.seed_topics_path
    assert a.personas.path == b.personas.path


def test_native_config_is_untouched(write_config) -> None:
    cfg = load_config(write_config("""\
        run: {n_turns: 2, min_turns: 1, max_turns: 3}
        ray: {address: auto}
        llm: {model: m, api_key: k}
        """))
    assert cfg.run.n_turns == 2 and cfg.ray.address == "auto" and cfg.warnings == []


def test_self_hosted_prefix_uses_the_global_base_url(write_config, keys) -> None:
    cfg = load_config(write_config("""\
        llm: {base_url: "http://127.0.0.1:8000/v1", model: hosted_vllm/Qwen/Qwen2.5-7B-Instruct}
        """))
    settings = cfg.agent_settings("qa_generator")
    assert (settings.model, settings.base_url) == ("Qwen/Qwen2.5-7B-Instruct", "http://127.0.0.1:8000/v1")
    gemini = load_config(write_config("""\
        llm: {base_url: "http://127.0.0.1:8000/v1", model: gemini/flash}
        """, "gemini.yaml")).agent_settings("kb_responder")
    # llm.base_url is the OpenAI default: a Gemini agent goes to Gemini, with Gemini's key only
    assert (gemini.base_url, gemini.api_key) == ("https://generativelanguage.googleapis.com/v1beta/openai", "gem-key")


def test_dlgforge_role_key_variables(write_config, monkeypatch) -> None:
    monkeypatch.setenv("LLM_ASSISTANT_API_KEY_ENV", "MY_ASSISTANT_KEY")
    monkeypatch.setenv("MY_ASSISTANT_KEY", "assistant-secret")
    config = write_config("""\
        llm: {base_url: "http://127.0.0.1:9/v1", api_key: shared, agents: {user: {model: a}, assistant: {model: b}}}
        """)
    cfg = load_config(config)
    assert cfg.agent_settings("kb_responder").api_key == "assistant-secret"
    assert cfg.agent_settings("qa_generator").api_key == "shared"
    new = config.parent / "native.yaml"
    migrate_config(config, new)
    assert "assistant-secret" not in new.read_text() and "${MY_ASSISTANT_KEY}" in new.read_text()
