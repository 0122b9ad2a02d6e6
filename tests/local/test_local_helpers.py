"""Pure helpers of the local backend: schema tightening, degenerate text, message folding."""

from __future__ import annotations

from dlgforge_core.config.sections import DEFAULT_JUDGE_REASONS
from dlgforge_core.generation.replies import QuestionReply, ResponderReply
from dlgforge_core.judge.replies import judge_reply_model
from dlgforge_core.llm.local import is_degenerate, normalize_messages
from dlgforge_core.llm.local_grammar import constrain_schema, max_string_chars
from dlgforge_core.llm.structured import schema_spec


def test_empty_and_looping_token_sequences_are_degenerate():
    assert is_degenerate([])
    assert is_degenerate([5, 6] + [9] * 16)
    assert is_degenerate([1, 2, 3] * 20)  # 60 tokens, 3 distinct
    assert not is_degenerate([7])
    assert not is_degenerate(list(range(200)))
    assert not is_degenerate([4] * 15 + [5])


def test_judge_score_range_becomes_an_enum_and_labels_stay():
    schema = schema_spec(judge_reply_model(1, 5, DEFAULT_JUDGE_REASONS)).schema
    tight = constrain_schema(schema, 100)
    assert tight["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
    assert tight["properties"]["reasons"]["items"]["enum"] == DEFAULT_JUDGE_REASONS
    assert "maxLength" not in tight["properties"]["reasons"]["items"]
    assert tight["properties"]["notes"]["maxLength"] == 100
    assert tight["properties"]["reasons"]["maxItems"] == len(DEFAULT_JUDGE_REASONS)
    assert schema["properties"]["score"].get("enum") is None  # the input is not modified


def test_free_text_strings_are_bounded_inside_nullable_fields():
    schema = schema_spec(ResponderReply).schema
    tight = constrain_schema(schema, 40)
    texts = [s for s in _walk(tight) if s.get("type") == "string" and "enum" not in s]
    assert texts and all(s["maxLength"] <= 40 and s["minLength"] == 1 for s in texts)
    assert tight["properties"]["answer"]["anyOf"][0]["maxLength"] == 40
    assert any(s.get("enum") == ["search", "answer"] for s in _walk(tight))
    assert not [s for s in _walk(tight) if s.get("type") == "null"]  # nullable text is filled


def test_string_budget_shrinks_with_more_string_fields():
    one = max_string_chars(120, schema_spec(QuestionReply).schema)
    several = max_string_chars(120, schema_spec(ResponderReply).schema)
    assert one > several >= 32


def test_messages_fold_system_and_merge_same_roles():
    turns = normalize_messages([
        {"role": "system", "content": "Rules."},
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Bad reply."},
        {"role": "user", "content": "Fix it."},
    ])
    assert turns == [
        {"role": "user", "content": "Rules.\n\nQ1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Bad reply.\n\nFix it."},
    ]
    assert normalize_messages([{"role": "system", "content": "Only rules."}]) == [
        {"role": "user", "content": "Only rules."}]


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_lists_of_free_strings_get_few_short_items():
    tight = constrain_schema(schema_spec(ResponderReply).schema, 90)
    cited = tight["properties"]["cited_chunk_ids"]
    assert cited["maxItems"] == 2 and cited["items"]["maxLength"] == 32
