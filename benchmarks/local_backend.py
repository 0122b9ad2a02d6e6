"""Tokens/s of the embedded backend through the pipeline's client vs a bare llama.cpp loop.

Both sides run the same model file, the same rendered prompts (the quickstart's documents,
in the agents' prompt shape), the same grammar, ``max_tokens`` and seed, in the same process
and run, alternating rounds so machine noise hits both. The pipeline side is
``LLMClient.structured`` on ``llm.backend: local`` with the cache off and every request in
flight at once (as the engine issues them); the bare side calls
``llama_cpp.Llama.create_completion`` in a loop. The ratio is pipeline ÷ bare (target >= 0.9).

    .venv/bin/python benchmarks/local_backend.py [--requests 12] [--max-tokens 96] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dlgforge_core.config import load_config  # noqa: E402
from dlgforge_core.generation.prompts import generator_messages  # noqa: E402
from dlgforge_core.generation.replies import QuestionReply  # noqa: E402
from dlgforge_core.llm.client import LLMClient  # noqa: E402
from dlgforge_core.llm.local import (  # noqa: E402
    PromptFormatter,
    constrain_schema,
    engine_settings,
    json_grammar,
    max_string_chars,
)
from dlgforge_core.llm.structured import schema_spec  # noqa: E402

WORK = REPO / "benchmarks" / "_work" / "local_backend"
KB = REPO / "examples" / "quickstart" / "knowledge"


def make_config(max_tokens: int) -> Path:
    """A throwaway project on the local backend with the response cache off."""
    if WORK.exists():
        shutil.rmtree(WORK)
    (WORK / "knowledge").mkdir(parents=True)
    config = WORK / "config.yaml"
    config.write_text(
        "llm:\n  backend: local\n  model: gemma-3-270m\n  temperature: 0.0\n  timeout: 600\n"
        f"  max_tokens: {max_tokens}\n  cache: {{enabled: false}}\n"
        f"  local: {{n_ctx: 2048, max_tokens: {max_tokens}}}\n",
        encoding="utf-8",
    )
    return config


def prompts(count: int) -> list[list[dict[str, str]]]:
    """Generator prompts over the quickstart's Markdown sections (varied, ~300-450 tokens)."""
    sections = []
    for path in sorted(KB.glob("*.md")):
        sections += [s.strip() for s in path.read_text(encoding="utf-8").split("\n## ") if s.strip()]
    persona = {"name": "Daily commuter", "description": "Rides to work every weekday."}
    return [
        generator_messages(language="en", persona=persona, mode="fresh", previous_turns=[],
                           snippets=[{"chunk_id": f"c{i:03d}", "text": sections[i % len(sections)]}])
        for i in range(count)
    ]


async def pipeline_round(cfg, batch: list[list[dict[str, str]]], run: int) -> tuple[int, float]:
    """Completion tokens and seconds for every request in flight at once through the client."""
    client = LLMClient(cfg, log_dir=WORK / "logs")
    await client.check()  # loads (or reuses) the engine outside the timed part
    try:
        started = time.perf_counter()
        await asyncio.gather(*(
            client.structured("qa_generator", messages, QuestionReply, cache_key=f"b{i}")
            for i, messages in enumerate(batch)
        ))
        elapsed = time.perf_counter() - started
        tokens = client.usage.by_agent()["qa_generator"]["completion_tokens"]
    finally:
        await client.aclose()
    return tokens, elapsed


def bare_round(llama, formatter, grammar, batch, max_tokens: int, seeds: list[int | None]) -> tuple[int, float]:
    """Completion tokens and seconds of a plain create_completion loop on the same prompts."""
    tokens = 0
    started = time.perf_counter()
    for messages, seed in zip(batch, seeds):
        rendered = formatter.render(messages)
        ids = llama.tokenize(rendered.text.encode("utf-8"), add_bos=rendered.add_bos, special=True)
        out = llama.create_completion(prompt=ids, max_tokens=max_tokens, temperature=0.0,
                                      seed=seed, grammar=grammar, stop=rendered.stop)
        tokens += out["usage"]["completion_tokens"]
    return tokens, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=12)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import llama_cpp

    from dlgforge_core.llm.client import _seed

    cfg = load_config(make_config(args.max_tokens))
    batch = prompts(args.requests)
    seeds = [_seed(cfg, f"b{i}") for i in range(len(batch))]
    settings = engine_settings(cfg)
    llama = llama_cpp.Llama(model_path=settings.model_path, n_ctx=settings.n_ctx,
                            n_threads=settings.n_threads, n_threads_batch=settings.n_threads,
                            n_batch=settings.n_batch, verbose=False)
    formatter = PromptFormatter(llama)
    schema = schema_spec(QuestionReply).schema
    grammar = json_grammar(constrain_schema(schema, max_string_chars(args.max_tokens, schema)))
    prompt_lengths = [len(llama.tokenize(formatter.render(m).text.encode(), special=True)) for m in batch]
    print(f"model: {Path(settings.model_path).name}, threads: {settings.n_threads}, "
          f"requests: {len(batch)}, prompt tokens: {min(prompt_lengths)}-{max(prompt_lengths)}, "
          f"max_tokens: {args.max_tokens}")

    bare_round(llama, formatter, grammar, batch[:2], args.max_tokens, seeds[:2])  # warm-up
    asyncio.run(pipeline_round(cfg, batch[:2], -1))
    bare_rates, pipe_rates, free_rates = [], [], []
    for run in range(args.rounds):
        tokens, seconds = bare_round(llama, formatter, grammar, batch, args.max_tokens, seeds)
        bare_rates.append(tokens / seconds)
        print(f"round {run + 1}: bare llama.cpp loop   {tokens:5d} tokens in {seconds:6.1f} s = {tokens / seconds:6.1f} tok/s")
        tokens, seconds = asyncio.run(pipeline_round(cfg, batch, run))
        pipe_rates.append(tokens / seconds)
        print(f"round {run + 1}: pipeline (LLMClient)  {tokens:5d} tokens in {seconds:6.1f} s = {tokens / seconds:6.1f} tok/s")
    tokens, seconds = bare_round(llama, formatter, None, batch, args.max_tokens, seeds)
    free_rates.append(tokens / seconds)
    bare, pipe = statistics.median(bare_rates), statistics.median(pipe_rates)
    print(f"bare loop without grammar (reference): {free_rates[0]:.1f} tok/s")
    print(f"ratio pipeline / bare (same grammar): {pipe / bare:.3f}  (target >= 0.9)")
    print(f"ratio pipeline / bare without grammar: {pipe / free_rates[0]:.3f}  (informational)")


if __name__ == "__main__":
    main()
