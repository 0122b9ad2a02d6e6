"""A dlgforge user's own files through the real CLI (issue 13, config half).

A config written in dlgforge's newest schema that sets every key it has, its topics.yaml and
personas.yaml layouts, the real `dlgforge run` in a subprocess against the loopback fake
server: the run completes, personas and seed questions come from those files, the warnings
name exactly the keys with no effect, the logs are in `logs/` beside the config.
`dlgforge config migrate` output makes the same requests (identical request-cache keys).
Provider prefixes reach the loopback server with the provider's own key variable.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml

from dlgforge_core.config.providers import PROVIDERS
from tests.e2e.generate_project import cli_command, jsonl
from tests.fake_llm.records import RecordedRequest
from tests.fake_llm.server import FakeLLMServer
from tests.support.project import write_kb

pytestmark = pytest.mark.slow

TOPICS = """\
version: 1
defaults:
  by_target_language: {en: english, ar: msa}
  final_fallback: english
aliases: {english: english, msa: msa, arabic: msa, morocco: morocco}
variants:
  english:
    Billing:
      - When are invoices sent each month?
      - How long does a refund take to arrive?
    Accounts:
      - How long must a password be?
  msa:
    Billing:
      - متى تُرسل الفواتير كل شهر؟
      - كم يستغرق استرداد المبلغ؟
    Accounts:
      - ما الطول الأدنى لكلمة المرور؟
"""

PERSONAS = """\
version: 1
personas:
  user:
    - {id: night_nurse, name: Night Nurse, traits: [tired, precise], style: Short questions.}
    - {id: field_tech, name: Field Technician, traits: [hands-on], style: Asks for steps.}
  assistant:
    - {id: calm_tutor, name: Calm Tutor, traits: [patient, structured], style: Step by step.}
"""

# Every key of dlgforge's newest schema that issue 13 lists, spelled as dlgforge spells them.
CONFIG = """\
run:
  batch_size: 2
  total_samples: 3
  target_languages: ["english", "arabic"]
  run_id: ""
  resume_run_id: ""
  turns: {{mode: range, exact: null, min: 1, max: 2, distribution: uniform, mean: 1.5}}
  data:
    seeding:
      question: "compat-seed"
      topics: {{path: data/seeds/topics.yaml, enabled: true, variant: "", probability: 1.0}}
  distributed:
    enabled: false
    backend: ray
    spawn: {{coordinator: true, workers: true}}
    ray:
      address: auto
      auto_start_local: true
      namespace: dlgforge
      actor: {{num_cpus: 1.0, num_gpus: 0.0, coordinator_num_cpus: 1.0, replicas_qa: 2, replicas_complete: 2}}
llm:
  mode: api
  routing:
    strategy: weighted_least_inflight
    endpoints: ["http://127.0.0.1:9"]
  vllm: {{model: openai/gpt-oss-20b, served_model_name: gpt_oss_20b, replicas: 1, num_gpus_per_replica: 1,
          host: 0.0.0.0, advertise_host: 127.0.0.1, port_start: 18000, tensor_parallel_size: 1,
          gpu_memory_utilization: 0.9, max_num_seqs: 256, health_timeout_s: 180, auto_stop_on_exit: true}}
  agents:
    user: {{provider: openai, model: openai/fake-user, base_url: "{url}", temperature: null, max_tokens: null,
           top_p: null, timeout: null, max_retries: null, extra: {{reasoning_effort: low}}}}
    assistant: {{provider: "", model: fake-assistant, base_url: "{url}", temperature: 0.3, max_tokens: 400,
                top_p: null, timeout: 20, max_retries: 2, extra: {{}}}}
    judge: {{provider: openai, model: fake-judge, base_url: "{url}", temperature: null, max_tokens: null,
            top_p: null, timeout: null, max_retries: null, extra: {{}}}}
store:
  backend: postgres
  postgres: {{dsn: "", min_pool_size: 1, max_pool_size: 2, statement_timeout_ms: 30000}}
coverage:
  doc_coverage_mode: balanced
  doc_coverage_epsilon: 0.15
  doc_coverage_fraction: 0.2
  question_dedup_retries: 3
tools:
  web_search: {{enabled: false, serper_num_results: 5, serper_timeout: 30}}
  retrieval:
    top_k: 2
    chunking: {{chunk_size: 200, chunk_overlap: 20}}
    index: {{persist_dir: "{index}", rebuild: false, skip_if_unchanged: true}}
    embeddings: {{backend: sentence_transformers, model: sentence-transformers/all-MiniLM-L6-v2,
                 fallback_model: sentence-transformers/all-MiniLM-L6-v2, device: cpu, fallback_on_cpu: true,
                 model_kwargs: {{}}, tokenizer_kwargs: {{}}, encode_kwargs: {{}}}}
    reranker: {{enabled: false, model: Qwen/Qwen3-Reranker-4B, backend: qwen3, instruction: "Is it relevant?",
               max_length: 8192, candidates: 12, batch_size: 16, cmd: null}}
personas: {{enabled: true, path: prompts/personas.yaml}}
judge:
  enabled: true
  mode: online
  granularity: turn
  reasons: [irrelevant, incorrect, hallucinated, weak_grounding, vague, incomplete, unsafe, other]
saving:
  output_dir: outputs
  output_columns: {{messages: messages, message_with_tools: messages_with_tools, metadata: metadata,
                   user_reasoning: user_reasoning, assistant_reasoning: assistant_reasoning, judge: judge}}
  hf_push: {{enabled: false, auto_push_on_run: true, repo_id: org/dataset, repo_type: dataset,
            export_dir: hf_export, include_run_state: false, private: true, commit_message: Update,
            source_file: conversations_sharegpt.jsonl, generate_stats: true, stats_file: dataset_stats.json,
            generate_plots: false, plots_dir: data_stats/plots}}
"""

NO_EFFECT = sorted([
    "run.distributed.spawn.coordinator", "run.distributed.spawn.workers", "run.distributed.ray.namespace",
    "run.distributed.ray.actor.num_cpus", "run.distributed.ray.actor.num_gpus",
    "run.distributed.ray.actor.coordinator_num_cpus", "run.distributed.ray.actor.replicas_qa",
    "run.distributed.ray.actor.replicas_complete", "coverage.doc_coverage_fraction",
    "tools.retrieval.embeddings.fallback_model", "tools.retrieval.embeddings.fallback_on_cpu",
    "tools.retrieval.reranker.backend", "tools.retrieval.reranker.instruction",
    "tools.retrieval.reranker.max_length", "tools.retrieval.reranker.candidates",
    "tools.retrieval.reranker.batch_size",
])


def _digest(req: RecordedRequest) -> str:
    return hashlib.sha256(req.prompt_text.encode("utf-8")).hexdigest()[:12]


# What the replies say, in the conversation's language (the reply guards check it).
_ASK = {"english": "what does the guide say about this exactly?",
        "arabic": "ماذا يقول الدليل عن هذا الموضوع بالضبط؟"}
_TELL = {"english": "the guide covers it in the section on this topic.",
         "arabic": "وفقا لقاعدة المعرفة، هذا ما يقوله الدليل في هذا الموضوع."}


def _language(req) -> str:
    return "arabic" if "arabic" in req.prompt_text.lower() else "english"


def deterministic_handlers() -> dict:
    """Replies that depend on the request only (not on arrival order), so two runs that send
    the same requests get the same replies."""
    return {
        "qa_generator": lambda req: {"question": f"Question {_digest(req)}: {_ASK[_language(req)]}"},
        "kb_responder": lambda req: {"action": "answer", "query": None, "cited_chunk_ids": [],
                                     "answer": f"Answer {_digest(req)}: {_TELL[_language(req)]}"},
    }


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> dict[str, Path]:
    """One KB folder and index for the module (linked into each project)."""
    root = tmp_path_factory.mktemp("compat_kb")
    return {"knowledge": write_kb(root / "knowledge"), "index": root / "knowledge_index"}


def make_project(root: Path, shared: dict[str, Path], url: str, config: str = CONFIG) -> Path:
    """A dlgforge-style project: knowledge/, data/seeds/topics.yaml, prompts/personas.yaml."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "knowledge").symlink_to(shared["knowledge"], target_is_directory=True)
    (root / "data" / "seeds").mkdir(parents=True)
    (root / "data" / "seeds" / "topics.yaml").write_text(TOPICS, encoding="utf-8")
    (root / "prompts").mkdir()
    (root / "prompts" / "personas.yaml").write_text(PERSONAS, encoding="utf-8")
    path = root / "config.yaml"
    path.write_text(config.format(url=url, index=shared["index"]), encoding="utf-8")
    return path


def run_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("DLGFORGE")}
    environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OPENAI_API_KEY": "test-key", **env})
    return subprocess.run(cli_command(*args), cwd=cwd, env=environ, capture_output=True, text=True, timeout=600)


def warned_keys(text: str) -> list[str]:
    """Keys named by the no-effect warnings of stderr (``warning: KEY: ...``) or run.log
    (``<time> WARNING config: KEY: ...``)."""
    return [line.split(": accepted, no effect here:")[0].rsplit(" ", 1)[-1]
            for line in text.splitlines() if ": accepted, no effect here:" in line]


def cache_keys(cache_dir: Path) -> set[str]:
    with sqlite3.connect(cache_dir / "llm_cache.sqlite3") as conn:
        return {row[0] for row in conn.execute("SELECT key FROM replies")}


def test_dlgforge_newest_config_runs_unchanged(shared, tmp_path: Path) -> None:
    project = tmp_path / "project"
    with FakeLLMServer(handlers=deterministic_handlers()) as srv:
        make_project(project, shared, srv.base_url)
        done = run_cli("run", "config.yaml", cwd=project)
        generator_bodies = [r.body for r in srv.calls("qa_generator")]
    assert done.returncode == 0, done.stderr[-3000:]
    # the warnings name exactly the keys with no effect here, each once, on stderr and in run.log
    assert sorted(warned_keys(done.stderr)) == NO_EFFECT
    run_log = (project / "logs" / "run.log").read_text(encoding="utf-8")
    assert sorted(warned_keys(run_log)) == NO_EFFECT
    assert "store.backend: postgres has no store.postgres.dsn" in done.stderr
    # logs beside the config, not in the output folder
    for name in ("run.log", "llm.log", "judge.log"):
        assert (project / "logs" / name).stat().st_size > 0, name
    assert not (project / "outputs" / "logs").exists()
    records = jsonl(project / "outputs" / "synthetic_qa.jsonl")
    assert sorted(r["language"] for r in records) == ["arabic"] * 3 + ["english"] * 3
    seeds = yaml.safe_load(TOPICS)["variants"]
    personas = yaml.safe_load(PERSONAS)["personas"]
    for record in records:
        variant = {"english": "english", "arabic": "msa"}[record["language"]]  # through the aliases
        first = record["turns"][0]["user_message"]
        assert record["seeded"] and record["topic"] in seeds[variant]
        assert first in seeds[variant][record["topic"]]
        assert record["user_persona"]["id"] in {p["id"] for p in personas["user"]}
        assert record["assistant_persona"] == {"id": "calm_tutor", "name": "Calm Tutor", "description":
                                               "patient, structured", "style": "Step by step.",
                                               "traits": ["patient", "structured"]}
        assert 1 <= record["n_turns"] <= 2
        assert all(t["qa_judge"]["score"] for t in record["turns"])
    # the agents as dlgforge names them, with their extra body fields and models
    assert generator_bodies and all(b["reasoning_effort"] == "low" and b["model"] == "openai/fake-user"
                                    for b in generator_bodies)
    row = jsonl(project / "outputs" / "conversations_sharegpt.jsonl")[0]
    assert "messages" in row and "metadata" in row


def test_migrated_config_makes_the_same_requests(shared, tmp_path: Path) -> None:
    project = tmp_path / "project"
    with FakeLLMServer(handlers=deterministic_handlers()) as srv:  # replies depend on the request only
        make_project(project, shared, srv.base_url)
        first = run_cli("run", "config.yaml", cwd=project)
        assert first.returncode == 0, first.stderr[-3000:]
        (project / "native").mkdir()
        migrated = run_cli("config", "migrate", "config.yaml", "native/config.yaml", cwd=project)
        assert migrated.returncode == 0, migrated.stderr
        assert sorted(warned_keys(migrated.stderr)) == NO_EFFECT
        native = yaml.safe_load((project / "native" / "config.yaml").read_text(encoding="utf-8"))
        assert "tools" not in native
        assert set(native["llm"]["agents"]) == {"qa_generator", "kb_responder", "qa_judge"}
        # a run of its own in native/ (outputs, logs, cache): locations are not part of the keys
        native["saving"].update(output_dir="outputs", logs_dir="logs")
        native["llm"]["cache"] = {"dir": ".dlgforge_cache"}
        text = yaml.safe_dump(native, allow_unicode=True, sort_keys=False)
        (project / "native" / "config.yaml").write_text(text, encoding="utf-8")
        second = run_cli("run", "config.yaml", cwd=project / "native")
    assert second.returncode == 0, second.stderr[-3000:]
    assert warned_keys(second.stderr) == []
    keys_old = cache_keys(project / ".dlgforge_cache")
    keys_new = cache_keys(project / "native" / ".dlgforge_cache")
    assert keys_old and keys_old == keys_new
    old = jsonl(project / "outputs" / "synthetic_qa.jsonl")
    new = jsonl(project / "native" / "outputs" / "synthetic_qa.jsonl")
    assert sorted(r["conversation_id"] for r in old) == sorted(r["conversation_id"] for r in new)
    # (config_hash differs here only because native/ is another folder: paths outside a config's
    # folder are hashed absolute; test_compat checks the hash for a migration in the same folder)


SMALL = """\
run: {{total_samples: 1, batch_size: 1, target_languages: [en], turns: {{mode: exact, exact: 1}}}}
llm:
  mode: api
  agents:
    user: {{model: openrouter/meta-llama/llama-3-8b, base_url: "{url}"}}
    assistant: {{provider: openrouter, model: mistralai/mistral-7b, base_url: "{url}"}}
    judge: {{provider: {judge_provider}, model: fake-judge, base_url: "{url}"}}
tools: {{retrieval: {{top_k: 2, chunking: {{chunk_size: 200, chunk_overlap: 20}}, index: {{persist_dir: "{index}"}}}}}}
judge: {{enabled: false}}
"""


def test_openrouter_prefix_reaches_the_server_with_its_key(shared, tmp_path: Path) -> None:
    project = tmp_path / "project"
    with FakeLLMServer(api_key="or-secret-key") as srv:
        make_project(project, shared, srv.base_url,
                     SMALL.replace("{judge_provider}", "openrouter"))
        done = run_cli("run", "config.yaml", cwd=project, OPENROUTER_API_KEY="or-secret-key",
                       OPENAI_API_KEY="an-openai-key-that-must-not-be-sent")
        calls = srv.calls()
    assert done.returncode == 0, done.stderr[-3000:]
    assert calls and all(c.headers.get("authorization") == "Bearer or-secret-key" for c in calls)
    models = {c.agent: c.body["model"] for c in calls}
    assert models == {"qa_generator": "meta-llama/llama-3-8b", "kb_responder": "mistralai/mistral-7b"}
    assert len(jsonl(project / "output" / "synthetic_qa.jsonl")) == 1  # keys left out: native defaults


def test_unknown_provider_exits_2_naming_the_agent(shared, tmp_path: Path) -> None:
    project = tmp_path / "project"
    make_project(project, shared, "http://127.0.0.1:9/v1", SMALL.replace("{judge_provider}", "acme")
                 .replace("judge: {{enabled: false}}", "judge: {{enabled: true}}"))
    done = run_cli("run", "config.yaml", cwd=project, OPENROUTER_API_KEY="k")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: config.yaml: llm.agents.qa_judge.provider: agent qa_judge (judge): unknown provider 'acme' "
        f"(known: {', '.join(sorted(PROVIDERS))})"]
    assert "Traceback" not in done.stderr
