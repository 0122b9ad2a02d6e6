"""load_config: defaults, YAML, interpolation, .env, overrides, aliases, paths and checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dlgforge_core.config import DlgforgeConfig, load_config
from dlgforge_core.errors import ConfigError


def test_defaults_and_resolved_paths(write_config, project: Path) -> None:
    cfg = load_config(write_config("llm:\n  model: m1\n"))
    assert isinstance(cfg, DlgforgeConfig)
    assert cfg.config_path == (project / "config.yaml").resolve()
    assert cfg.base_dir == project.resolve()
    assert cfg.output_dir == project.resolve() / "output"
    assert cfg.knowledge_dir == project.resolve() / "knowledge"
    assert cfg.index_dir == project.resolve() / "knowledge_index"
    assert cfg.cache_dir == project.resolve() / ".dlgforge_cache"
    assert cfg.retrieval.knowledge_dir == cfg.knowledge_dir  # the model itself holds absolute paths
    run = cfg.run
    assert (run.n_turns, run.min_turns, run.max_turns) == (None, 1, 3)
    assert (run.batch_size, run.total_samples, run.target_languages, run.run_id) == (8, 10, ["en"], "main")
    assert cfg.llm.backend == "openai" and cfg.llm.temperature == 0.7 and cfg.llm.max_inflight == 8  # run.batch_size
    assert cfg.retrieval.default_k == 4 and cfg.coverage.question_dedup_retries == 3
    assert cfg.personas.enabled is True and cfg.personas.path is None
    assert cfg.judge.enabled is False and cfg.judge.reasons


def test_relative_paths_resolve_against_config_folder_not_cwd(project: Path, tmp_path_factory, monkeypatch) -> None:
    (project / "sub" / "kb").mkdir(parents=True)
    (project / "sub" / "config.yaml").write_text(
        "llm: {model: m}\n"
        "retrieval: {knowledge_dir: kb, index_dir: ../idx}\n"
        "saving: {output_dir: out}\n"
        "personas: {path: people.yaml}\n"
        "coverage: {seed_topics_path: seeds/topics.yaml}\n"
    )
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    cfg = load_config(project / "sub" / "config.yaml")
    sub = (project / "sub").resolve()
    assert cfg.knowledge_dir == sub / "kb"
    assert cfg.index_dir == project.resolve() / "idx"
    assert cfg.output_dir == sub / "out"
    assert cfg.personas.path == sub / "people.yaml"
    assert cfg.coverage.seed_topics_path == sub / "seeds" / "topics.yaml"


def test_interpolation_with_defaults_and_env(write_config, monkeypatch) -> None:
    monkeypatch.setenv("GEN_MODEL", "gen-from-env")
    cfg = load_config(write_config("""
        llm:
          model: ${GEN_MODEL}
          base_url: http://${HOST:-localhost}:${PORT:-1234}/v1
        run:
          batch_size: ${BATCH:-6}
    """))
    assert cfg.llm.model == "gen-from-env"
    assert cfg.llm.base_url == "http://localhost:1234/v1"
    assert cfg.run.batch_size == 6


def test_dollar_escape(write_config) -> None:
    cfg = load_config(write_config("llm:\n  model: m\n  base_url: http://h/$${x}\n"))
    assert cfg.llm.base_url == "http://h/${x}"


def test_unset_variable_without_default_names_key_and_variable(write_config) -> None:
    path = write_config("llm:\n  model: m\n  agents:\n    qa_judge:\n      model: ${JUDGE_MODEL}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "llm.agents.qa_judge.model" in message and "JUDGE_MODEL" in message
    assert str(path) in message and "\n" not in message


def test_dotenv_next_to_config_never_overrides_real_env(write_config, project: Path, monkeypatch) -> None:
    (project / ".env").write_text("LLM_MODEL=from-dotenv\nOPENAI_API_KEY=sk-dotenv\nMY_PORT=9000\nREAL=dotenv\n")
    monkeypatch.setenv("REAL", "real")
    cfg = load_config(write_config("llm:\n  base_url: http://x:${MY_PORT}/v1\n  temperature: 0.1\nrun:\n  run_id: ${REAL}\n"))
    assert cfg.llm.base_url == "http://x:9000/v1"
    assert cfg.run.run_id == "real"
    assert cfg.agent_settings("qa_generator").model == "from-dotenv"
    assert cfg.agent_settings("kb_responder").api_key == "sk-dotenv"
    assert os.environ["REAL"] == "real"


def test_env_overrides_double_underscore(write_config, monkeypatch) -> None:
    monkeypatch.setenv("DLGFORGE__RUN__BATCH_SIZE", "3")
    monkeypatch.setenv("DLGFORGE__RUN__TARGET_LANGUAGES", "[en, fr]")
    monkeypatch.setenv("DLGFORGE__JUDGE__ENABLED", "true")
    monkeypatch.setenv("DLGFORGE__LLM__AGENTS__QA_JUDGE__MODEL", "judge-m")
    monkeypatch.setenv("DLGFORGE__SAVING__OUTPUT_DIR", "elsewhere")
    cfg = load_config(write_config("llm:\n  model: m\nrun:\n  batch_size: 9\n"))
    assert cfg.run.batch_size == 3
    assert cfg.run.target_languages == ["en", "fr"]
    assert cfg.judge.enabled is True
    assert cfg.agent_settings("qa_judge").model == "judge-m"
    assert cfg.output_dir == cfg.base_dir / "elsewhere"


def test_override_of_unknown_key_names_key_path(write_config, monkeypatch) -> None:
    monkeypatch.setenv("DLGFORGE__RUN__BATCH_SISE", "3")
    with pytest.raises(ConfigError, match=r"run\.batch_sise: unknown key"):
        load_config(write_config("llm:\n  model: m\n"))


def test_openai_env_fallbacks_and_store_dsn(write_config, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_MODEL", "env-model")
    monkeypatch.setenv("DLGFORGE_STORE_DSN", "postgresql://u:pw@h/db")
    cfg = load_config(write_config("store:\n  backend: file\n"))
    settings = cfg.agent_settings("qa_generator")
    assert (settings.model, settings.base_url, settings.api_key) == ("env-model", "http://127.0.0.1:9/v1", "sk-env")
    assert cfg.store.dsn == "postgresql://u:pw@h/db"
    explicit = load_config(write_config("llm:\n  api_key: sk-yaml\n  base_url: http://yaml/v1\n"))
    assert explicit.agent_settings("qa_generator").api_key == "sk-yaml"
    assert explicit.llm.base_url == "http://yaml/v1"


def test_mode_alias_api_means_openai(write_config) -> None:
    assert load_config(write_config("llm:\n  mode: api\n  model: m\n")).llm.backend == "openai"
    assert load_config(write_config("llm:\n  mode: local\n")).llm.backend == "local"
    with pytest.raises(ConfigError, match="llm"):
        load_config(write_config("llm:\n  mode: local\n  backend: openai\n  model: m\n"))


def test_model_resolution_order(write_config, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_MODEL", "openai-model")
    cfg = load_config(write_config("llm: {}\n"))
    assert cfg.agent_settings("qa_generator").model == "openai-model"
    monkeypatch.setenv("LLM_MODEL", "llm-model")
    assert load_config(write_config("llm: {}\n")).agent_settings("qa_generator").model == "llm-model"
    cfg = load_config(write_config("llm:\n  model: base\n  agents:\n    kb_responder: {model: resp}\n"))
    assert cfg.agent_settings("qa_generator").model == "base"
    assert cfg.agent_settings("kb_responder").model == "resp"


def test_agent_settings_overrides_over_defaults(write_config) -> None:
    cfg = load_config(write_config("""
        llm:
          model: m
          base_url: http://shared/v1
          api_key: sk-shared
          temperature: 0.5
          max_tokens: 300
          timeout: 20
          agents:
            qa_judge: {model: judge, base_url: http://judge/v1, api_key: sk-judge, temperature: 0.0, max_retries: 1}
    """))
    judge = cfg.agent_settings("qa_judge")
    gen = cfg.agent_settings("qa_generator")
    assert (judge.model, judge.base_url, judge.api_key) == ("judge", "http://judge/v1", "sk-judge")
    assert (judge.temperature, judge.max_tokens, judge.timeout, judge.max_retries) == (0.0, 300, 20.0, 1)
    assert (gen.model, gen.base_url, gen.api_key, gen.temperature, gen.max_retries) == (
        "m", "http://shared/v1", "sk-shared", 0.5, 5)
    with pytest.raises(ValueError):
        cfg.agent_settings("qa_writer")


def test_secrets_never_in_repr_str_or_hash(write_config, monkeypatch) -> None:
    monkeypatch.setenv("DLGFORGE_STORE_DSN", "postgresql://u:dsn-pw@h/db")
    cfg = load_config(write_config("""
        llm:
          model: m
          api_key: sk-top-secret
          agents: {qa_judge: {api_key: sk-judge-secret}}
          routing: {endpoints: [{base_url: http://e/v1, api_key: sk-endpoint-secret}]}
    """))
    for text in (repr(cfg), str(cfg), repr(cfg.agent_settings("qa_judge")), str(cfg.canonical_dump())):
        for secret in ("sk-top-secret", "sk-judge-secret", "sk-endpoint-secret", "dsn-pw"):
            assert secret not in text
    for secret in ("sk-top-secret", "sk-judge-secret", "sk-endpoint-secret"):
        assert secret not in cfg.model_dump_json()
    other = load_config(write_config("""
        llm:
          model: m
          api_key: sk-another
          agents: {qa_judge: {api_key: sk-x}}
          routing: {endpoints: [{base_url: http://e/v1, api_key: sk-y}]}
    """))
    assert other.config_hash == cfg.config_hash


def test_config_hash_tracks_content_not_location(write_config, project: Path) -> None:
    base = load_config(write_config("llm: {model: m}\nsaving: {output_dir: out1}\n"))
    moved_output = load_config(write_config("llm: {model: m}\nsaving: {output_dir: out2}\n"))
    changed = load_config(write_config("llm: {model: m}\nrun: {total_samples: 11}\n"))
    other_model = load_config(write_config("llm: {model: m2}\n"))
    assert len(base.config_hash) == 64
    assert base.config_hash == moved_output.config_hash
    assert len({base.config_hash, changed.config_hash, other_model.config_hash}) == 3


def test_unknown_key_names_file_and_path(write_config) -> None:
    path = write_config("llm: {model: m}\nrun:\n  batch_sise: 4\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: run.batch_sise: unknown key"


def test_nested_unknown_key_in_list_names_index(write_config) -> None:
    with pytest.raises(ConfigError, match=r"llm\.routing\.endpoints\[1\]\.wieght: unknown key"):
        load_config(write_config(
            "llm:\n  model: m\n  routing:\n    endpoints:\n      - {base_url: http://a/v1}\n"
            "      - {base_url: http://b/v1, wieght: 2}\n"))


def test_wrong_type_names_path_and_value(write_config) -> None:
    path = write_config("llm: {model: m}\nrun:\n  batch_size: x\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: run.batch_size: Input should be a valid integer, unable to parse string as an integer (got 'x')"


@pytest.mark.parametrize(("yaml_text", "expected"), [
    ("run: {min_turns: 4, max_turns: 2}", r"run\.min_turns: must be <= max_turns \(4 > 2\)"),
    ("run: {target_languages: []}", r"run\.target_languages: List should have at least 1 item"),
    ("run: {total_samples: 0}", r"run\.total_samples: Input should be greater than or equal to 1 \(got 0\)"),
    ("run: {batch_size: 0}", r"run\.batch_size: Input should be greater than or equal to 1"),
    ("run: {turn_count_distribution: normal}", r"run\.turn_count_distribution: Input should be 'uniform', 'poisson' or 'exponential'"),
    ("judge: {enabled: true, reasons: [], model: j}", r"judge\.model: unknown key"),
    ("judge: {enabled: true, reasons: []}", r"judge\.reasons: must not be empty when the judge is enabled"),
    ("llm: {backend: ollama}", r"llm\.backend: Input should be"),
    ("[1, 2]", r"top level must be a mapping"),
])
def test_validation_errors_are_one_line(write_config, yaml_text: str, expected: str) -> None:
    path = write_config(yaml_text + "\n" if yaml_text.startswith(("[", "llm")) else "llm: {model: m}\n" + yaml_text + "\n")
    with pytest.raises(ConfigError, match=expected) as err:
        load_config(path)
    assert "\n" not in str(err.value) and str(err.value).startswith(str(path))


def test_yaml_syntax_error_names_file_and_line(write_config) -> None:
    path = write_config("llm:\n  model: m\nrun:\n  batch_size: [1, 2\n")
    with pytest.raises(ConfigError, match=r"config\.yaml: line \d+, column \d+") as err:
        load_config(path)
    assert "\n" not in str(err.value)


def test_missing_config_file_names_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_missing_model_for_needed_agents(write_config) -> None:
    with pytest.raises(ConfigError, match=r"llm\.agents\.qa_generator\.model: no model for agent qa_generator"):
        load_config(write_config("llm: {base_url: http://x/v1}\n"))
    both = "llm:\n  agents:\n    qa_generator: {model: g}\n    kb_responder: {model: r}\n"
    assert load_config(write_config(both)).agent_settings("qa_judge").model is None
    with pytest.raises(ConfigError, match=r"llm\.agents\.qa_judge\.model: no model for agent qa_judge"):
        load_config(write_config(both + "judge: {enabled: true}\n"))
    # the embedded local backend needs no model name
    assert load_config(write_config("llm: {backend: local}\njudge: {enabled: true}\n")).llm.backend == "local"


def test_missing_knowledge_folder_names_resolved_path(write_config, project: Path) -> None:
    path = write_config("llm: {model: m}\nretrieval: {knowledge_dir: docs}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: retrieval.knowledge_dir: folder not found: {project.resolve() / 'docs'}"
    assert load_config(path, check_paths=False).knowledge_dir == project.resolve() / "docs"


def test_cache_inside_output_is_rejected(write_config) -> None:
    with pytest.raises(ConfigError, match=r"llm\.cache\.dir: must not be inside saving\.output_dir"):
        load_config(write_config("llm: {model: m, cache: {dir: output/cache}}\n"))


def test_empty_config_file_uses_defaults(write_config, monkeypatch) -> None:
    monkeypatch.setenv("LLM_MODEL", "m")
    cfg = load_config(write_config(""))
    assert cfg.run.total_samples == 10 and cfg.agent_settings("kb_responder").model == "m"


def test_vllm_attach_needs_endpoints_and_takes_their_model(write_config) -> None:
    with pytest.raises(ConfigError, match=r"llm\.routing\.endpoints: vllm_attach needs at least one endpoint"):
        load_config(write_config("llm: {backend: vllm_attach, model: m}\n"))
    cfg = load_config(write_config(
        "llm:\n  backend: vllm_attach\n  routing:\n    endpoints:\n"
        "      - {base_url: http://a/v1}\n      - {base_url: http://b/v1, model: served}\n"))
    assert cfg.agent_settings("kb_responder").model == "served"


def test_commented_out_section_reads_as_empty(write_config) -> None:
    cfg = load_config(write_config("llm: {model: m}\nrun:\n  # batch_size: 4\njudge:\n"))
    assert cfg.run.batch_size == 8 and cfg.judge.enabled is False


def test_distributed_settings_load_and_bad_ones_name_the_key(write_config) -> None:
    cfg = load_config(write_config(
        "llm: {model: m}\nrun:\n  batch_size: 4\n  distributed: {enabled: true, shards_per_language: 4}\n"
        "ray: {num_cpus: 2}\nretrieval: {search_mode: fts}\n"))
    assert (cfg.run.distributed.enabled, cfg.run.distributed.shards_per_language, cfg.ray.num_cpus) == (True, 4, 2)
    assert cfg.retrieval.search_mode == "fts"
    with pytest.raises(ConfigError, match=r"run\.distributed\.shards_per_language: 5 shards need at least as "
                                          r"many slots, but run\.batch_size is 4"):
        load_config(write_config(
            "llm: {model: m}\nrun:\n  batch_size: 4\n  distributed: {enabled: true, shards_per_language: 5}\n"))
    with pytest.raises(ConfigError, match=r"run\.distributed\.enabled: the embedded model \(llm\.backend: local\)"):
        load_config(write_config("llm: {backend: local}\nrun:\n  distributed: {enabled: true}\n"))
    with pytest.raises(ConfigError, match=r"retrieval\.search_mode"):
        load_config(write_config("llm: {model: m}\nretrieval: {search_mode: keyword}\n"))


def test_web_search_is_off_by_default_and_defaults_per_provider(write_config) -> None:
    web = load_config(write_config("llm: {model: m}\n")).retrieval.web_search
    assert (web.enabled, web.provider, web.base_url, web.api_key, web.max_results, web.timeout) == (
        False, None, None, None, 3, 15.0)
    searx = load_config(write_config(
        "llm: {model: m}\nretrieval:\n  web_search: {enabled: true, provider: searxng, "
        "base_url: 'http://127.0.0.1:8888', max_results: 5, timeout: 2.5}\n")).retrieval.web_search
    assert (searx.base_url, searx.max_results, searx.timeout, searx.api_key) == ("http://127.0.0.1:8888", 5, 2.5, None)


@pytest.mark.parametrize("yaml_text, message", [
    ("{enabled: true}", "retrieval.web_search.provider: required when web search is enabled"),
    ("{enabled: true, provider: searxng}", "retrieval.web_search.base_url: required for provider searxng"),
    ("{enabled: true, provider: tavily}", "retrieval.web_search.api_key: provider tavily needs an API key"),
    ("{enabled: true, provider: serper}", "retrieval.web_search.api_key: provider serper needs an API key "
                                          "(set retrieval.web_search.api_key or SERPER_API_KEY)"),
    ("{enabled: true, provider: bing}", "retrieval.web_search.provider: Input should be 'searxng', 'tavily' or 'serper'"),
    ("{enabled: true, provider: searxng, base_url: 'http://h', max_results: 0}",
     "retrieval.web_search.max_results: Input should be greater than or equal to 1"),
])
def test_unusable_web_search_names_the_key(write_config, yaml_text, message) -> None:
    path = write_config(f"llm: {{model: m}}\nretrieval:\n  web_search: {yaml_text}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: {message}") and "\n" not in str(err.value)


def test_tavily_key_from_env_file_stays_secret(write_config, project: Path) -> None:
    (project / ".env").write_text("TAVILY_API_KEY=tvly-from-dotenv-123\n")
    cfg = load_config(write_config("llm: {model: m}\nretrieval:\n  web_search: {enabled: true, provider: tavily}\n"))
    web = cfg.retrieval.web_search
    assert web.base_url == "https://api.tavily.com"
    assert web.api_key.get_secret_value() == "tvly-from-dotenv-123"
    assert "tvly-from-dotenv-123" not in repr(cfg) and "tvly-from-dotenv-123" not in str(cfg.canonical_dump())
    without_key = load_config(write_config("llm: {model: m}\n")).config_hash
    explicit = write_config("llm: {model: m}\nretrieval:\n  web_search: {enabled: true, provider: tavily, api_key: other}\n")
    assert load_config(explicit).config_hash == cfg.config_hash != without_key  # the key is not hashed
    # commands that call no LLM (`dlgforge kb`) do not need the key
    os.environ.pop("TAVILY_API_KEY")
    (project / ".env").unlink()
    keyless = write_config("llm: {model: m}\nretrieval:\n  web_search: {enabled: true, provider: tavily}\n")
    assert load_config(keyless, require_models=False).retrieval.web_search.api_key is None
