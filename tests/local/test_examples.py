"""Every example config loads with load_config, and points at files that exist and parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlgforge_core.config import load_config
from dlgforge_core.generation.personas import load_personas
from dlgforge_core.generation.seeds import load_seed_topics

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXPECTED_BACKENDS = {
    "quickstart": "local",
    "lmstudio": "openai",
    "openai": "openai",
    "vllm": "vllm_attach",
    "ray": "openai",
}
DUMMY_ENV = {
    "OPENAI_API_KEY": "sk-dummy-for-tests",
}


@pytest.fixture
def dummy_env(monkeypatch):
    for name in ("LOCAL_LLM_BASE_URL", "OPENAI_MODEL", "JUDGE_MODEL", "VLLM_MODEL", "VLLM_URL_1",
                 "VLLM_URL_2", "VLLM_API_KEY", "DLGFORGE__RAY__ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in DUMMY_ENV.items():
        monkeypatch.setenv(name, value)


def test_every_example_folder_has_a_config():
    folders = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    assert sorted(EXPECTED_BACKENDS) == folders
    for name in folders:
        text = (EXAMPLES / name / "config.yaml").read_text(encoding="utf-8")
        assert text.startswith("#"), f"{name}: config.yaml must open with a comment block"
        assert "When to use it" in text.split("\n\n")[0], f"{name}: comment block says when to use it"


@pytest.mark.parametrize("name", sorted(EXPECTED_BACKENDS))
def test_example_config_loads(name, dummy_env):
    cfg = load_config(EXAMPLES / name / "config.yaml")
    assert cfg.llm.backend == EXPECTED_BACKENDS[name]
    assert cfg.knowledge_dir.is_dir()
    assert cfg.output_dir.parent == (EXAMPLES / name).resolve()
    warnings: list[str] = []
    personas = load_personas(cfg.personas.path, warnings.append)
    assert warnings == []
    assert personas.source == str(cfg.personas.path)
    topics = load_seed_topics(cfg.coverage.seed_topics_path)
    assert topics.questions("en") and topics.questions("fr")


def test_ray_example_runs_distributed(dummy_env):
    cfg = load_config(EXAMPLES / "ray" / "config.yaml")
    dist = cfg.run.distributed
    assert (dist.enabled, dist.shards_per_language, cfg.ray.address) == (True, 2, None)
    assert cfg.run.batch_size >= dist.shards_per_language


def test_secrets_come_from_the_environment(dummy_env):
    cfg = load_config(EXAMPLES / "openai" / "config.yaml")
    assert cfg.llm.api_key.get_secret_value() == DUMMY_ENV["OPENAI_API_KEY"]
    assert DUMMY_ENV["OPENAI_API_KEY"] not in (EXAMPLES / "openai" / "config.yaml").read_text()


def test_vllm_example_routes_over_two_endpoints(dummy_env):
    cfg = load_config(EXAMPLES / "vllm" / "config.yaml")
    urls = [endpoint.base_url for endpoint in cfg.llm.routing.endpoints]
    assert urls == ["http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1"]


def test_quickstart_is_sized_for_two_cpu_cores(dummy_env):
    cfg = load_config(EXAMPLES / "quickstart" / "config.yaml")
    assert cfg.run.target_languages == ["en", "fr"]
    assert (cfg.run.total_samples, cfg.run.n_turns) == (3, 2)
    assert cfg.judge.enabled is True
    assert cfg.llm.local.model_path is None
    documents = sorted(p.suffix for p in cfg.knowledge_dir.iterdir())
    assert ".md" in documents and ".pdf" in documents
    for path in (cfg.output_dir, cfg.index_dir, cfg.cache_dir):
        assert (EXAMPLES / "quickstart").resolve() in path.parents
