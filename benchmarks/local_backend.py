"""Tokens/s of the embedded backend through the pipeline's client vs a bare llama.cpp loop.

Both sides run the same model file, the same rendered prompts (the quickstart's documents,
in the agents' prompt shape), the same grammar, ``max_tokens`` and seed, in the same process
and run, alternating rounds so machine noise hits both. The pipeline side is
``LLMClient.structured`` on ``llm.backend: local`` with the cache off and every request in
flight at once (as the engine issues them); the bare side calls
``llama_cpp.Llama.create_completion`` in a loop. The ratio is pipeline ÷ bare (target >= 0.9).
For reference it also prints the bare loop with llama.cpp's own ``grammar=`` sampler (what a
plain llama.cpp user would run) and with no grammar at all.

    .venv/bin/python benchmarks/local_backend.py [--requests 6] [--max-tokens 64] [--rounds 2]
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

import llama_cpp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dlgforge_core.config import load_config  # noqa: E402
from dlgforge_core.generation.prompts import generator_messages  # noqa: E402
from dlgforge_core.generation.replies import QuestionReply  # noqa: E402
from dlgforge_core.llm.client import LLMClient  # noqa: E402
from dlgforge_core.llm.local import PromptFormatter, engine_settings  # noqa: E402
from dlgforge_core.llm.local_grammar import (  # noqa: E402
    GrammarMask,
    constrain_schema,
    json_gbnf,
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


def bare_round(llama, formatter, batch, max_tokens: int, seeds: list[int | None],
               grammar=None, gbnf: str | None = None) -> tuple[int, float]:
    """Completion tokens and seconds of a plain create_completion loop on the same prompts.

    ``gbnf``: constrain with the backend's grammar mask; ``grammar``: with llama.cpp's own
    grammar sampler; neither: free text.
    """
    tokens = 0
    started = time.perf_counter()
    for messages, seed in zip(batch, seeds):
        rendered = formatter.render(messages)
        ids = llama.tokenize(rendered.text.encode("utf-8"), add_bos=rendered.add_bos, special=True)
        mask = GrammarMask(llama, gbnf, llama.token_eos()) if gbnf else None
        processors = llama_cpp.LogitsProcessorList([mask]) if mask else None
        out = llama.create_completion(prompt=ids, max_tokens=max_tokens, temperature=0.0, seed=seed,
                                      grammar=grammar, logits_processor=processors, stop=rendered.stop)
        if mask:
            mask.close()
        tokens += out["usage"]["completion_tokens"]
    return tokens, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from dlgforge_core.llm.cache import request_seed

    cfg = load_config(make_config(args.max_tokens))
    batch = prompts(args.requests)
    seeds = [request_seed(cfg.run.seed, f"b{i}") for i in range(len(batch))]
    settings = engine_settings(cfg)
    llama = llama_cpp.Llama(model_path=settings.model_path, n_ctx=settings.n_ctx,
                            n_threads=settings.n_threads, n_threads_batch=settings.n_threads,
                            n_batch=settings.n_batch, verbose=False)
    formatter = PromptFormatter(llama)
    schema = schema_spec(QuestionReply).schema
    tight = constrain_schema(schema, max_string_chars(args.max_tokens, schema))
    gbnf, grammar = json_gbnf(tight), json_grammar(tight)
    lengths = [len(llama.tokenize(formatter.render(m).text.encode(), special=True)) for m in batch]
    print(f"model: {Path(settings.model_path).name}, threads: {settings.n_threads}, "
          f"requests: {len(batch)}, prompt tokens: {min(lengths)}-{max(lengths)}, max_tokens: {args.max_tokens}")

    bare_round(llama, formatter, batch[:1], args.max_tokens, seeds[:1], gbnf=gbnf)  # warm-up
    asyncio.run(pipeline_round(cfg, batch[:1], -1))
    rates: dict[str, list[float]] = {"mask": [], "pipeline": []}
    for run in range(args.rounds):
        for name in ("mask", "pipeline"):
            if name == "mask":
                tokens, seconds = bare_round(llama, formatter, batch, args.max_tokens, seeds, gbnf=gbnf)
            else:
                tokens, seconds = asyncio.run(pipeline_round(cfg, batch, run))
            rates[name].append(tokens / seconds)
            print(f"round {run + 1}: {LABELS[name]:<44} {tokens:5d} tokens in {seconds:6.1f} s = {tokens / seconds:6.2f} tok/s")
    for name, kwargs in (("grammar", {"grammar": grammar}), ("free", {})):
        tokens, seconds = bare_round(llama, formatter, batch, args.max_tokens, seeds, **kwargs)
        rates[name] = [tokens / seconds]
        print(f"reference: {LABELS[name]:<44} {tokens:5d} tokens in {seconds:6.1f} s = {tokens / seconds:6.2f} tok/s")
    pipe = statistics.median(rates["pipeline"])
    print(f"ratio pipeline / bare loop, same grammar mask:        {pipe / statistics.median(rates['mask']):.3f}  (target >= 0.9)")
    print(f"ratio pipeline / bare loop, llama.cpp grammar sampler: {pipe / rates['grammar'][0]:.3f}")
    print(f"ratio pipeline / bare loop, no grammar (free text):    {pipe / rates['free'][0]:.3f}")


LABELS = {
    "mask": "bare llama.cpp loop (same grammar mask)",
    "pipeline": "pipeline (LLMClient.structured, local)",
    "grammar": "bare llama.cpp loop (grammar= sampler)",
    "free": "bare llama.cpp loop (no grammar)",
}


if __name__ == "__main__":
    main()
