"""The judge's reply contract: a per-config JSON schema and a validator."""

from __future__ import annotations

import pytest

from dlgforge_core.judge.replies import JudgeReply, judge_reply_model, make_validator


def test_schema_carries_score_range_and_reason_enum():
    schema = judge_reply_model(0, 10, ["grounded", "unclear"]).model_json_schema()
    props = schema["properties"]
    assert props["score"]["type"] == "integer"
    assert (props["score"]["minimum"], props["score"]["maximum"]) == (0, 10)
    assert props["reasons"]["items"]["enum"] == ["grounded", "unclear"]
    assert set(schema["required"]) == {"score", "reasons", "notes"}
    assert schema["additionalProperties"] is False


def test_schema_is_built_per_config():
    first = judge_reply_model(1, 5, ["a"]).model_json_schema()
    second = judge_reply_model(1, 3, ["b", "c"]).model_json_schema()
    assert first["properties"]["score"]["maximum"] == 5
    assert second["properties"]["score"]["maximum"] == 3
    assert second["properties"]["reasons"]["items"]["enum"] == ["b", "c"]


def test_no_reasons_means_an_empty_list_only():
    schema = judge_reply_model(1, 5, []).model_json_schema()
    assert schema["properties"]["reasons"]["maxItems"] == 0
    assert "enum" not in schema["properties"]["reasons"]["items"]


def test_model_parses_a_reply_and_is_a_judge_reply():
    model = judge_reply_model(1, 5, ["grounded"])
    reply = model.model_validate_json('{"score": 4, "reasons": ["grounded"], "notes": "fine"}')
    assert isinstance(reply, JudgeReply)
    assert (reply.score, reply.reasons, reply.notes) == (4, ["grounded"], "fine")


def test_validator_accepts_valid_and_rejects_out_of_range_scores():
    validate = make_validator(1, 5, ["grounded", "unclear"])
    validate(JudgeReply(score=1, reasons=["unclear"], notes=""))
    validate(JudgeReply(score=5, reasons=[], notes=""))
    with pytest.raises(ValueError, match=r"score 6 is outside the allowed range 1\.\.5"):
        validate(JudgeReply(score=6, reasons=[], notes=""))
    with pytest.raises(ValueError, match="score 0"):
        validate(JudgeReply(score=0, reasons=["grounded"], notes=""))


def test_validator_rejects_unknown_reasons_naming_them():
    validate = make_validator(1, 5, ["grounded", "unclear"])
    with pytest.raises(ValueError, match=r"\['made_up'\] are not allowed"):
        validate(JudgeReply(score=3, reasons=["grounded", "made_up"], notes=""))
