"""The embedded backend: llama.cpp in-process on a GGUF model, no server and no key.

One ``llama_cpp.Llama`` is loaded per process and shared by the three agents. Requests are
served first-in first-out by a single worker thread, so the asyncio event loop never runs
model code and no agent can starve another. Structured replies are constrained by a grammar
built from the request's JSON schema, which lets even a small base model return JSON that
parses; an empty or degenerate reply is reported as retryable, like any other backend.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import json
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from dlgforge_core.cpu import cpu_flags
from dlgforge_core.errors import LLMSetupError
from dlgforge_core.llm.backends import (
    ChatBackend,
    ChatRequest,
    ChatResponse,
    FatalBackendError,
    RetryableBackendError,
)
from dlgforge_core.llm.local_grammar import GrammarMask, constrain_schema, json_gbnf, max_string_chars, trim_cut_text
from dlgforge_core.llm.local_model import resolve_model_path
from dlgforge_core.llm.local_prompts import is_completion

if TYPE_CHECKING:  # pragma: no cover - typing only
    from dlgforge_core.config import DlgforgeConfig

_MIN_COMPLETION_TOKENS = 16  # below this the prompt is considered too long for n_ctx
_RUN_LIMIT = 16  # the same token this many times in a row is degenerate text
_FALLBACK_STOPS = ["<end_of_turn>", "<|im_end|>", "<|eot_id|>", "</s>", "\nUser:"]


def _import_llama_cpp():
    try:
        import llama_cpp
    except ImportError:
        raise LLMSetupError(
            "llm.backend: local needs llama-cpp-python: pip install 'dlgforge[local]'"
        ) from None
    return llama_cpp


@dataclass(frozen=True)
class EngineSettings:
    """What identifies one loaded model: a second backend with the same settings shares it."""

    model_path: str
    n_ctx: int
    n_threads: int
    n_batch: int


class LocalEngine:
    """One loaded model plus the worker thread that runs its jobs in arrival order."""

    def __init__(self, settings: EngineSettings):
        llama_cpp = _import_llama_cpp()
        self.settings = settings
        try:
            with _without_amx_buffers(cpu_has_amx()):
                self.llama = llama_cpp.Llama(
                    model_path=settings.model_path,
                    n_ctx=settings.n_ctx,
                    n_threads=settings.n_threads,
                    n_threads_batch=settings.n_threads,
                    n_batch=settings.n_batch,
                    verbose=False,
                )
        except ValueError as err:
            raise LLMSetupError(f"llm.local.model_path: cannot load {settings.model_path}: {err}") from None
        self.formatter = PromptFormatter(self.llama)
        self._grammars: dict[tuple[str, int], str] = {}
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="dlgforge-local-llm", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[["LocalEngine"], Any]) -> concurrent.futures.Future:
        """Queue ``job(engine)`` behind every job already waiting; return its future."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((job, future))
        return future

    def close(self) -> None:
        """Stop the worker after the jobs already queued, then free the model."""
        self._jobs.put(None)
        self._thread.join(timeout=30)
        self.llama.close()

    def grammar_mask(self, schema: dict, max_chars: int) -> GrammarMask:
        """A fresh grammar mask for one generation (GBNF cached; only called on the worker)."""
        key = (json.dumps(schema, sort_keys=True), max_chars)
        if key not in self._grammars:
            self._grammars[key] = json_gbnf(constrain_schema(schema, max_chars))
        return GrammarMask(self.llama, self._grammars[key], self.llama.token_eos())

    def _serve(self) -> None:
        while (item := self._jobs.get()) is not None:
            job, future = item
            if not future.set_running_or_notify_cancel():
                continue  # the caller gave up while it waited in the queue
            try:
                future.set_result(job(self))
            except BaseException as err:  # delivered to the awaiting coroutine
                future.set_exception(err)


def cpu_has_amx() -> bool:
    """True when the CPU advertises Intel AMX (``amx_tile`` in ``/proc/cpuinfo``)."""
    return "amx_tile" in cpu_flags().split()


@contextlib.contextmanager
def _without_amx_buffers(active: bool):
    """Load the model without llama.cpp's extra CPU buffer types (AMX, repacked weights).

    A llama.cpp built on an AMX CPU multiplies through AMX tiles, and virtual machines that
    advertise AMX without enabling its register state (Firecracker, some cloud VMs) crash
    with a segmentation fault on the first decode. ``Llama`` does not expose the model's
    ``use_extra_bufts`` flag, so its default parameters are adjusted while it loads (under
    the engines lock: one load at a time).
    """
    if not active:
        yield
        return
    import llama_cpp.llama_cpp as low

    default = low.llama_model_default_params

    def params():
        value = default()
        value.use_extra_bufts = False
        return value

    low.llama_model_default_params = params
    try:
        yield
    finally:
        low.llama_model_default_params = default


_engines: dict[EngineSettings, LocalEngine] = {}
_engines_lock = threading.Lock()


def get_engine(settings: EngineSettings) -> LocalEngine:
    """The process-wide engine for these settings, loading the model on first use."""
    with _engines_lock:
        engine = _engines.get(settings)
        if engine is None:
            engine = _engines[settings] = LocalEngine(settings)
        return engine


@atexit.register
def _close_engines() -> None:
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.close()


def engine_settings(cfg: "DlgforgeConfig") -> EngineSettings:
    """Resolve the model file (fail fast) and the engine's sizes from ``llm.local``."""
    local = cfg.llm.local
    model_path = resolve_model_path(cfg)
    # Half the logical CPUs (llama.cpp's own default): its threads spin while they wait, so
    # more threads than physical cores, or than the cores left free, slow it down a lot.
    n_threads = local.n_threads or max(1, (os.cpu_count() or 2) // 2)
    return EngineSettings(
        model_path=str(model_path),
        n_ctx=local.n_ctx,
        n_threads=n_threads,
        n_batch=min(local.n_batch or 512, local.n_ctx),
    )


def get_local_backend(cfg: "DlgforgeConfig") -> ChatBackend:
    """Build the ``local`` backend; the model file is checked and loaded before returning."""
    engine = get_engine(engine_settings(cfg))
    return LocalBackend(engine, max_tokens=cfg.llm.local.max_tokens)


class LocalBackend:
    """``ChatBackend`` over the shared engine: each request is one job on its FIFO queue."""

    native_structured = True

    def __init__(self, engine: LocalEngine, max_tokens: int = 512):
        self.engine = engine
        self.max_tokens = max_tokens
        self.endpoint = f"local:{Path(engine.settings.model_path).name}"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Generate one reply on the worker thread and wait for it without blocking the loop."""
        future = self.engine.submit(lambda engine: self._generate(engine, request))
        return await asyncio.wrap_future(future)

    async def aclose(self) -> None:
        """Nothing to release per backend: the engine is shared and lives for the process."""

    def _generate(self, engine: LocalEngine, request: ChatRequest) -> ChatResponse:
        llama = engine.llama
        prompt = engine.formatter.render(request.messages)
        tokens = llama.tokenize(prompt.text.encode("utf-8"), add_bos=prompt.add_bos, special=True)
        room = engine.settings.n_ctx - len(tokens)
        if room < _MIN_COMPLETION_TOKENS:
            raise FatalBackendError(
                f"prompt of {len(tokens)} tokens does not fit llm.local.n_ctx={engine.settings.n_ctx}"
            )
        max_tokens = min(request.max_tokens or self.max_tokens, self.max_tokens, room)
        mask = None
        max_chars = max_string_chars(max_tokens, request.json_schema) if request.json_schema is not None else 0
        if request.json_schema is not None:
            mask = engine.grammar_mask(request.json_schema, max_chars)
        deadline = time.monotonic() + request.timeout if request.timeout else None
        llama_cpp = _import_llama_cpp()
        try:
            result = llama.create_completion(
                prompt=tokens,
                max_tokens=max_tokens,
                temperature=request.temperature,
                top_p=request.top_p,
                seed=request.seed,
                logits_processor=llama_cpp.LogitsProcessorList([mask]) if mask else None,
                stop=prompt.stop,
                stopping_criteria=_deadline_criteria(deadline),
            )
        finally:
            if mask is not None:
                mask.close()
        if deadline is not None and time.monotonic() > deadline:
            raise RetryableBackendError("timeout", f"local generation exceeded {request.timeout} s")
        choice = result["choices"][0]
        text = choice["text"]
        if is_degenerate(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)):
            raise RetryableBackendError("empty", "empty or degenerate reply from the local model")
        usage = result["usage"]
        finish = choice.get("finish_reason")
        if mask is not None:  # a text field the length cap cut: back to its last full sentence
            text, cut = trim_cut_text(text, request.json_schema, max_chars)
            if cut:
                finish = "length"  # cut inside its first sentence: the JSON closed only because of the cap
        return ChatResponse(
            text=text,
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            endpoint=self.endpoint,
            finish_reason=finish,
        )


def _deadline_criteria(deadline: float | None):
    if deadline is None:
        return None
    llama_cpp = _import_llama_cpp()
    return llama_cpp.StoppingCriteriaList([lambda _ids, _logits: time.monotonic() > deadline])


def is_degenerate(token_ids: list[int]) -> bool:
    """True for text that no retry policy should accept: empty, or one token looping.

    A reply is degenerate when it has no tokens, when one token repeats ``_RUN_LIMIT``
    times in a row, or when a long reply uses almost no distinct tokens.
    """
    if not token_ids:
        return True
    run = longest = 1
    for previous, current in zip(token_ids, token_ids[1:]):
        run = run + 1 if current == previous else 1
        longest = max(longest, run)
    if longest >= _RUN_LIMIT:
        return True
    return len(token_ids) >= 48 and len(set(token_ids)) * 10 < len(token_ids)


@dataclass
class RenderedPrompt:
    """A prompt string ready to tokenize, and the stop strings of its format."""

    text: str
    add_bos: bool
    stop: list[str]


class PromptFormatter:
    """Render chat messages with the model's own chat template (any GGUF file works)."""

    def __init__(self, llama: Any):
        self._bos = _token_text(llama, llama.token_bos())
        self._eos = _token_text(llama, llama.token_eos())
        template = llama.metadata.get("tokenizer.chat_template")
        self._template = None
        if template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            self._template = Jinja2ChatFormatter(
                template=template, eos_token=self._eos, bos_token=self._bos,
                add_generation_prompt=True,
            )

    def render(self, messages: list[dict[str, str]]) -> RenderedPrompt:
        """Fold system text into the first user turn and merge same-role neighbours, then render.

        Templates of small chat models often reject a system role or two user turns in a row;
        the normalized list is accepted by all of them. A completion-style prompt (few-shot
        text for a base model, see ``local_prompts``) is used as it is, with no template.
        """
        if is_completion(messages):
            return RenderedPrompt(messages[0]["content"], True, ["\n\n"])
        turns = normalize_messages(messages)
        if self._template is None:
            text = "".join(f"{'User' if t['role'] == 'user' else 'Assistant'}: {t['content']}\n" for t in turns)
            return RenderedPrompt(text + "Assistant:", True, list(_FALLBACK_STOPS))
        rendered = self._template(messages=turns)
        stops = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop] if rendered.stop else []
        add_bos = not (self._bos and rendered.prompt.startswith(self._bos))
        return RenderedPrompt(rendered.prompt, add_bos, [s for s in stops if s] + ["<end_of_turn>"])


def normalize_messages(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """System text goes first in the first user message; consecutive same roles merge."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system" and m["content"])
    turns: list[dict[str, str]] = []
    for message in messages:
        if message["role"] == "system":
            continue
        role = "assistant" if message["role"] == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n\n" + message["content"]
        else:
            turns.append({"role": role, "content": message["content"]})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": ""})
    if system:
        turns[0]["content"] = f"{system}\n\n{turns[0]['content']}".rstrip()
    return turns


def _token_text(llama: Any, token: int) -> str:
    if token is None or token < 0:
        return ""
    return llama.detokenize([token], special=True).decode("utf-8", errors="ignore")
