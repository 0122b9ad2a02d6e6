"""The real `dlgforge` CLI in a subprocess: bad configs exit 2 with one `error:` line; seeds-migrate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow  # each case starts the real CLI in a fresh interpreter

GOOD = "llm:\n  model: test-model\n  base_url: http://127.0.0.1:9/v1\n"

BAD_CONFIGS = {
    "unknown_key": (GOOD + "run:\n  batch_sise: 4\n", "run.batch_sise: unknown key"),
    "wrong_type": (GOOD + "run:\n  batch_size: x\n", "run.batch_size: Input should be a valid integer"),
    "min_gt_max": (GOOD + "run:\n  min_turns: 5\n  max_turns: 2\n", "run.min_turns: must be <= max_turns"),
    "missing_model": ("llm:\n  base_url: http://127.0.0.1:9/v1\n", "llm.agents.qa_generator.model: no model"),
    "missing_judge_model": ("llm:\n  agents:\n    qa_generator: {model: g}\n    kb_responder: {model: r}\n"
                            "judge:\n  enabled: true\n", "llm.agents.qa_judge.model: no model"),
    "missing_kb": (GOOD + "retrieval:\n  knowledge_dir: no_such_docs\n", "retrieval.knowledge_dir: folder not found"),
    "yaml_syntax": (GOOD + "run:\n  batch_size: [1, 2\n", "bad.yaml: line"),
    "unset_variable": ("llm:\n  model: ${NO_SUCH_MODEL_VAR}\n", "llm.model: environment variable NO_SUCH_MODEL_VAR"),
    "web_search_without_provider": (GOOD + "retrieval:\n  web_search: {enabled: true}\n",
                                    "retrieval.web_search.provider: required when web search is enabled"),
    "searxng_without_base_url": (GOOD + "retrieval:\n  web_search: {enabled: true, provider: searxng}\n",
                                 "retrieval.web_search.base_url: required for provider searxng"),
    "tavily_without_key": (GOOD + "retrieval:\n  web_search: {enabled: true, provider: tavily}\n",
                           "retrieval.web_search.api_key: provider tavily needs an API key"),
    "dlgforge_unknown_key": (GOOD + "run:\n  turns: {mode: range, minimum: 2}\n", "run.turns.minimum: unknown key"),
    "dlgforge_unknown_provider": ("llm:\n  agents:\n    user: {provider: acme, model: m}\n    assistant: {model: m}\n",
                                  "llm.agents.qa_generator.provider: agent qa_generator (user): unknown provider 'acme'"),
    "dlgforge_provider_without_key": ("llm:\n  agents:\n    user: {model: gemini/flash}\n    assistant: {model: m}\n",
                                      "llm.agents.qa_generator: agent qa_generator (user): provider gemini needs an API key"),
}


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_BASE_URL", "LLM_MODEL", "OPENAI_MODEL")
           and not k.endswith("_API_KEY") and not k.endswith("_API_KEY_ENV") and not k.startswith("DLGFORGE__")}
    env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run([sys.executable, "-m", "dlgforge_assets", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_run_with_bad_config_exits_2_with_one_line(project: Path, case: str) -> None:
    text, needle = BAD_CONFIGS[case]
    (project / "bad.yaml").write_text(text)
    proc = cli("run", "bad.yaml", cwd=project)
    line = assert_one_line_error(proc, needle)
    assert "bad.yaml" in line
    assert not (project / "output").exists()  # failed before anything ran


def test_run_with_missing_config_file(project: Path) -> None:
    assert_one_line_error(cli("run", "absent.yaml", cwd=project), "absent.yaml: config file not found")


def test_config_migrate_prints_warnings_and_refuses_mistakes(project: Path) -> None:
    (project / "old.yaml").write_text(GOOD + "coverage: {doc_coverage_fraction: 0.2}\n"
                                      "tools: {retrieval: {top_k: 3}}\n")
    done = cli("config", "migrate", "old.yaml", "new.yaml", cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "warning: coverage.doc_coverage_fraction: accepted, no effect here: documents are taken in a seeded "
        "round-robin here, so every document gets the same share; there is no least-covered pool to size"]
    assert yaml.safe_load((project / "new.yaml").read_text())["retrieval"] == {"default_k": 3}
    assert_one_line_error(cli("config", "migrate", "old.yaml", "new.yaml", cwd=project),
                          "new.yaml: already exists (pass --overwrite to replace it)")
    assert_one_line_error(cli("config", "migrate", "absent.yaml", "x.yaml", cwd=project),
                          "absent.yaml: config file not found")
    (project / "bad.yaml").write_text("tools: {retrieval: {chunking: {size: 3}}}\n")
    assert_one_line_error(cli("config", "migrate", "bad.yaml", "y.yaml", cwd=project),
                          "bad.yaml: tools.retrieval.chunking.size: unknown key")


def test_seeds_migrate_with_bad_config_exits_2(project: Path) -> None:
    (project / "bad.yaml").write_text(BAD_CONFIGS["unknown_key"][0])
    (project / "legacy.json").write_text('{"a": ["q?"]}')
    proc = cli("seeds-migrate", "bad.yaml", "--source-file", "legacy.json", "--dest-file", "t.yaml", cwd=project)
    assert_one_line_error(proc, "bad.yaml: run.batch_sise: unknown key")
    assert not (project / "t.yaml").exists()


def test_seeds_migrate_both_legacy_forms_and_overwrite(project: Path) -> None:
    (project / "config.yaml").write_text(GOOD)
    (project / "variants.json").write_text(json.dumps(
        {"billing": {"en": ["How do I pay?"], "fr": ["Comment payer ?", "Une facture ?"]}}))
    (project / "flat.json").write_text(json.dumps({"setup": ["How do I install?", "Which OS?"]}))
    (project / "seeds").mkdir()

    proc = cli("seeds-migrate", "config.yaml", "--source-file", "variants.json",
               "--dest-file", "seeds/topics.yaml", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "1 topics, 3 questions, languages: en, fr" in proc.stdout
    assert yaml.safe_load((project / "seeds" / "topics.yaml").read_text()) == {"topics": [
        {"name": "billing", "questions": {"en": ["How do I pay?"], "fr": ["Comment payer ?", "Une facture ?"]}}]}

    again = cli("seeds-migrate", "config.yaml", "--source-file", "flat.json",
                "--dest-file", "seeds/topics.yaml", cwd=project)
    assert_one_line_error(again, "topics.yaml: already exists", "--overwrite")

    forced = cli("seeds-migrate", "config.yaml", "--source-file", "flat.json",
                 "--dest-file", "seeds/topics.yaml", "--overwrite", cwd=project)
    assert forced.returncode == 0, forced.stderr
    assert "1 topics, 2 questions, languages: en" in forced.stdout
    assert yaml.safe_load((project / "seeds" / "topics.yaml").read_text()) == {"topics": [
        {"name": "setup", "questions": {"en": ["How do I install?", "Which OS?"]}}]}


def test_seeds_migrate_bad_legacy_shape(project: Path) -> None:
    (project / "config.yaml").write_text(GOOD)
    (project / "legacy.json").write_text('{"billing": {"en": "not a list"}}')
    proc = cli("seeds-migrate", "config.yaml", "--source-file", "legacy.json", "--dest-file", "t.yaml",
               cwd=project)
    assert_one_line_error(proc, "legacy.json: billing.en: expected a list of questions")
