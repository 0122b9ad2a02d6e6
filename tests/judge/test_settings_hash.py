"""The judge's settings hash changes exactly when a judgement would mean something else."""

from __future__ import annotations

from dlgforge_core.judge.judge import Judge, settings_hash
from dlgforge_core.judge.prompts import PROMPT_VERSION


def hash_of(make_config, extra=None, name="p"):
    return Judge(make_config(extra, name=name), llm=None).settings_hash


def test_same_settings_same_hash_even_with_other_config_changes(make_config):
    base = hash_of(make_config, name="a")
    assert base == hash_of(make_config, name="b")
    assert base == hash_of(make_config, {"run": {"batch_size": 3, "seed": 7}}, name="c")


def test_hash_changes_with_each_judge_setting(make_config):
    hashes = {
        "base": hash_of(make_config, name="base"),
        "model": hash_of(make_config, {"llm": {"agents": {"qa_judge": {"model": "judge-2"}}}},
                         name="model"),
        "granularity": hash_of(make_config, {"judge": {"granularity": "conversation"}},
                               name="granularity"),
        "reasons": hash_of(make_config, {"judge": {"reasons": ["grounded"]}}, name="reasons"),
        "range": hash_of(make_config, {"judge": {"score_max": 10}}, name="range"),
    }
    assert len(set(hashes.values())) == len(hashes), hashes


def test_prompt_version_is_part_of_the_hash():
    args = dict(model="m", granularity="turn", reasons=["a"], score_min=1, score_max=5)
    assert settings_hash(**args) == settings_hash(**args, prompt_version=PROMPT_VERSION)
    assert settings_hash(**args) != settings_hash(**args, prompt_version="judge-prompt-v0")


def test_judge_uses_resolved_judge_model(make_config):
    cfg = make_config({"llm": {"agents": {"qa_judge": {"model": "judge-2"}}}})
    judge = Judge(cfg, llm=None)
    assert judge.model == "judge-2"
    assert judge.reply_model.model_json_schema()["properties"]["reasons"]["items"]["enum"] == [
        "grounded", "unsupported_claim", "unclear"]
