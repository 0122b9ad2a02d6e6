"""Dataset statistics with Polars: ``dataset_stats.json``.

Everything is computed from the accepted records (``synthetic_qa.jsonl``), the run state
checkpoints (drop reasons) and the KB (coverage). The file holds no timestamps, so an
unchanged dataset gives a byte-identical stats file (it is part of the export version).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from dlgforge_core.export.checks import judge_scores
from dlgforge_core.export.diversity import distinct_n, mean_pairwise_cosine
from dlgforge_core.export.kb_view import KBView
from dlgforge_core.export.sharegpt import judge_column
from dlgforge_core.export.tokens import token_counter
from dlgforge_core.store.atomic import write_text_atomic
from dlgforge_core.store.run_state import LanguageState

DEFAULT_STATS_FILE = "dataset_stats.json"


def stats_path(cfg: Any) -> Path:
    """Where ``compute_stats`` writes: ``saving.hf_push.stats_file`` under the output dir."""
    return Path(cfg.output_dir) / (cfg.saving.hf_push.stats_file or DEFAULT_STATS_FILE)


def compute_stats(cfg: Any, records: list[dict] | None = None, kb: KBView | None = None,
                  write: bool = True) -> dict[str, Any]:
    """The stats of the accepted records (read from the output folder when not given).

    Writes them to ``stats_path(cfg)`` unless ``write`` is False.
    """
    if records is None:
        from dlgforge_core.store.outputs import OutputStore

        records = list(OutputStore(cfg).accepted_records())
    stats = build_stats(cfg, records, kb or KBView(cfg))
    if write:
        write_text_atomic(stats_path(cfg), dumps_stats(stats))
    return stats


def dumps_stats(stats: Mapping[str, Any]) -> str:
    """The canonical JSON text of the stats (sorted keys: stable bytes, stable hash)."""
    return json.dumps(stats, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def build_stats(cfg: Any, records: list[dict], kb: KBView) -> dict[str, Any]:
    """Compute every statistic; see docs/export.md for the meaning of each key."""
    count_tokens, tokenizer = token_counter(cfg)
    conversations, messages, turns = _frames(records, count_tokens)
    drops = dropped_by_language(cfg)
    questions = messages.filter(pl.col("role") == "user")["text"].to_list()
    return {
        "records": len(records),
        "turns": turns.height,
        "messages": messages.height,
        "languages": _counts(conversations, "language"),
        "turn_count_distribution": _counts(conversations, "n_turns"),
        "tokenizer": tokenizer,
        "lengths": {
            "user_message": _lengths(messages.filter(pl.col("role") == "user")),
            "assistant_message": _lengths(messages.filter(pl.col("role") == "assistant")),
            "message": _lengths(messages),
            "conversation": _lengths(conversations),
        },
        "judge": _judge(records, turns, conversations),
        "drops": _drops(len(records), drops),
        "guards": guard_tally(cfg),
        "personas": {
            "user": _counts(conversations, "user_persona"),
            "assistant": _counts(conversations, "assistant_persona"),
        },
        "topics": _counts(conversations, "topic"),
        "kb_coverage": _kb_coverage(turns, kb),
        "diversity": {
            "distinct_1": distinct_n(questions, 1),
            "distinct_2": distinct_n(questions, 2),
            **mean_pairwise_cosine(cfg, questions),
        },
        "per_language": _per_language(conversations, messages, turns, drops),
        "judge_self_check": _self_check(cfg),
    }


def _self_check(cfg: Any) -> dict[str, Any] | None:
    from dlgforge_core.judge.self_check import self_check_stats

    return self_check_stats(cfg)


def dropped_by_language(cfg: Any) -> dict[str, dict[str, int]]:
    """``{language: {drop_reason: count}}`` from every checkpoint in ``run_state/``."""
    folder = Path(cfg.output_dir) / "run_state"
    result: dict[str, dict[str, int]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            state = LanguageState.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError:
            continue  # the run index, quality_gates.json: not checkpoints
        counts = result.setdefault(state.language, {})
        for reason, count in state.dropped_by_reason().items():
            counts[reason] = counts.get(reason, 0) + count
    return result


def _frames(records: list[dict], count_tokens: Callable[[str], int]
            ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    conv_rows, message_rows, turn_rows = [], [], []
    for record in records:
        cid, language = record.get("conversation_id"), record.get("language")
        words = tokens = 0
        for turn in record.get("turns") or []:
            for role in ("user", "assistant"):
                text = str(turn.get(f"{role}_message") or "")
                n_words, n_tokens = len(text.split()), count_tokens(text)
                words, tokens = words + n_words, tokens + n_tokens
                message_rows.append({"conversation_id": cid, "language": language, "role": role,
                                     "text": text, "words": n_words, "tokens": n_tokens})
            judged = turn.get("qa_judge") or {}
            turn_rows.append({
                "conversation_id": cid, "language": language,
                "score": _number(judged.get("score")),
                "reasons": [str(r) for r in judged.get("reasons") or []],
                "chunk_ids": [str(c.get("chunk_id")) for c in (turn.get("grounding") or {}).get("chunks") or []],
                "sources": [str(c.get("source")) for c in (turn.get("grounding") or {}).get("chunks") or []],
            })
        conv_judge = record.get("conversation_judge") or {}
        conv_rows.append({
            "conversation_id": cid, "language": language, "n_turns": len(record.get("turns") or []),
            "user_persona": _persona(record.get("user_persona")),
            "assistant_persona": _persona(record.get("assistant_persona")),
            "topic": str(record.get("topic") or "(none)"),
            "conversation_score": _number(conv_judge.get("score")),
            "conversation_reasons": [str(r) for r in conv_judge.get("reasons") or []],
            "avg_score": judge_column(record)["avg_score"],
            "words": words, "tokens": tokens,
        })
    schemas = {
        "conv": {"conversation_id": pl.Utf8, "language": pl.Utf8, "n_turns": pl.Int64,
                 "user_persona": pl.Utf8, "assistant_persona": pl.Utf8, "topic": pl.Utf8,
                 "conversation_score": pl.Float64, "conversation_reasons": pl.List(pl.Utf8),
                 "avg_score": pl.Float64, "words": pl.Int64, "tokens": pl.Int64},
        "msg": {"conversation_id": pl.Utf8, "language": pl.Utf8, "role": pl.Utf8, "text": pl.Utf8,
                "words": pl.Int64, "tokens": pl.Int64},
        "turn": {"conversation_id": pl.Utf8, "language": pl.Utf8, "score": pl.Float64,
                 "reasons": pl.List(pl.Utf8), "chunk_ids": pl.List(pl.Utf8), "sources": pl.List(pl.Utf8)},
    }
    return (pl.DataFrame(conv_rows, schema=schemas["conv"]),
            pl.DataFrame(message_rows, schema=schemas["msg"]),
            pl.DataFrame(turn_rows, schema=schemas["turn"]))


def _counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    """Value counts of a column as ``{str(value): count}``, sorted by value."""
    if frame.is_empty():
        return {}
    grouped = frame.group_by(column).agg(pl.len().alias("n")).sort(column)
    return {_key(row[column]): int(row["n"]) for row in grouped.iter_rows(named=True)}


def _key(value: Any) -> str:
    """A count key: numbers without a needless ``.0`` (score 4.0 -> "4")."""
    return str(_plain(value)) if isinstance(value, (int, float)) else str(value)


def _summary(series: pl.Series) -> dict[str, float | int | None]:
    series = series.drop_nulls()
    if series.is_empty():
        return {"count": 0, "mean": None, "median": None, "min": None, "max": None, "total": None}
    return {"count": series.len(), "mean": round(float(series.mean()), 4),
            "median": round(float(series.median()), 4), "min": _plain(series.min()),
            "max": _plain(series.max()), "total": _plain(series.sum())}


def _lengths(frame: pl.DataFrame) -> dict[str, Any]:
    return {"words": _summary(frame["words"]), "tokens": _summary(frame["tokens"])}


def _judge(records: list[dict], turns: pl.DataFrame, conversations: pl.DataFrame) -> dict[str, Any]:
    all_scores = judge_scores(records)
    reasons = pl.concat([turns["reasons"].explode(), conversations["conversation_reasons"].explode()])
    reasons = reasons.drop_nulls()
    return {
        "per_turn": {**_summary(turns["score"]), "distribution": _counts(turns.drop_nulls("score"), "score")},
        "per_conversation": {**_summary(conversations["conversation_score"]),
                             "distribution": _counts(conversations.drop_nulls("conversation_score"),
                                                     "conversation_score")},
        "conversation_avg_score": _summary(conversations["avg_score"]),
        "mean_score": round(sum(all_scores) / len(all_scores), 4) if all_scores else None,
        "reasons": _counts(reasons.to_frame("reason"), "reason") if reasons.len() else {},
    }


def merge_drops(drops: dict[str, dict[str, int]]) -> dict[str, int]:
    """``{drop_reason: count}`` over every language, sorted by reason."""
    by_reason: dict[str, int] = {}
    for counts in drops.values():
        for reason, count in counts.items():
            by_reason[reason] = by_reason.get(reason, 0) + count
    return dict(sorted(by_reason.items()))


def guard_tally(cfg: Any) -> dict[str, Any]:
    """What the reply guards did, summed over every checkpoint in ``run_state/``."""
    from dlgforge_core.generation.guards import merge_tallies

    folder = Path(cfg.output_dir) / "run_state"
    tallies = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            tallies.append(LanguageState.model_validate_json(path.read_text(encoding="utf-8")).guards)
        except ValueError:
            continue
    return merge_tallies(tallies)


def _drops(accepted: int, drops: dict[str, dict[str, int]]) -> dict[str, Any]:
    by_reason = merge_drops(drops)
    dropped = sum(by_reason.values())
    attempted = accepted + dropped
    return {"by_reason": by_reason, "dropped": dropped, "attempted": attempted,
            "drop_rate": round(dropped / attempted, 6) if attempted else 0.0}


def _kb_coverage(turns: pl.DataFrame, kb: KBView) -> dict[str, Any]:
    used_sources = set(turns["sources"].explode().drop_nulls().to_list()) if turns.height else set()
    used_chunks = set(turns["chunk_ids"].explode().drop_nulls().to_list()) if turns.height else set()
    documents = kb.sources
    chunks = kb.chunks
    doc_used = sorted(used_sources & set(documents)) if documents else sorted(used_sources)
    return {
        "documents_total": len(documents),
        "documents_used": len(doc_used),
        "document_share": round(len(doc_used) / len(documents), 6) if documents else None,
        "documents_unused": sorted(set(documents) - used_sources)[:50],
        "chunks_total": len(chunks) if chunks is not None else None,
        "chunks_used": len(used_chunks),
        "chunk_share": round(len(used_chunks) / len(chunks), 6) if chunks else None,
    }


def _per_language(conversations: pl.DataFrame, messages: pl.DataFrame, turns: pl.DataFrame,
                  drops: dict[str, dict[str, int]]) -> dict[str, Any]:
    result = {}
    for language in sorted(set(conversations["language"].to_list()) | set(drops)):
        convs = conversations.filter(pl.col("language") == language)
        dropped = sum(drops.get(language, {}).values())
        questions = messages.filter((pl.col("language") == language) & (pl.col("role") == "user"))
        turn_scores = turns.filter(pl.col("language") == language)["score"].drop_nulls()
        result[language] = {
            "records": convs.height,
            "turns": int(convs["n_turns"].sum()) if convs.height else 0,
            "mean_words_per_message": _summary(
                messages.filter(pl.col("language") == language)["words"])["mean"],
            "mean_turn_score": round(float(turn_scores.mean()), 4) if turn_scores.len() else None,
            "dropped": dropped,
            "drop_rate": round(dropped / (convs.height + dropped), 6) if convs.height + dropped else 0.0,
            "distinct_2": distinct_n(questions["text"].to_list(), 2),
        }
    return result


def _persona(persona: Any) -> str:
    if isinstance(persona, Mapping):
        return str(persona.get("id") or persona.get("name") or "(none)")
    return str(persona or "(none)")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _plain(value: Any) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 4)

