"""The per-language summary table shown on `dataset_stats`, computed with Polars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl


def language_table(synthetic_qa: Path) -> list[dict[str, Any]]:
    """Per language: conversations, turns (mean, min, max), words per answer, mean judge score."""
    if not synthetic_qa.exists() or synthetic_qa.stat().st_size == 0:
        return []
    records = pl.read_ndjson(synthetic_qa, infer_schema_length=None, ignore_errors=True)
    turns = records.select("conversation_id", "language", "turns").explode("turns")
    turn = pl.col("turns")
    per_turn = turns.select(
        "conversation_id",
        "language",
        turn.struct.field("assistant_message").str.split(" ").list.len().alias("answer_words"),
        _score_column(turns.schema["turns"]),
    )
    return (
        per_turn.group_by("language")
        .agg(
            pl.col("conversation_id").n_unique().alias("conversations"),
            pl.len().alias("turns"),
            pl.col("answer_words").mean().round(1).alias("mean_answer_words"),
            pl.col("judge_score").mean().round(3).alias("mean_judge_score"),
        )
        .with_columns((pl.col("turns") / pl.col("conversations")).round(2).alias("mean_turns"))
        .sort("language")
        .to_dicts()
    )


def _score_column(turn_type: pl.DataType) -> pl.Expr:
    """The per-turn judge score, or nulls when no turn was judged (qa_judge is all null)."""
    fields = {f.name: f.dtype for f in getattr(turn_type, "fields", [])}
    judge = fields.get("qa_judge")
    if isinstance(judge, pl.Struct) and "score" in {f.name for f in judge.fields}:
        return pl.col("turns").struct.field("qa_judge").struct.field("score").cast(pl.Float64).alias("judge_score")
    return pl.lit(None, dtype=pl.Float64).alias("judge_score")
