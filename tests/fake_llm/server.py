"""A loopback OpenAI-compatible chat server for tests and benchmarks.

It serves ``POST /v1/chat/completions`` and ``GET /v1/models`` from a uvicorn server running
on its own event loop in a background thread, so tests talk to it over real HTTP with the
real ``openai`` client. Replies come from per-agent handlers (the agent is read from the
``X-Dlgforge-Agent`` header, else the model name, else the reply schema); latency is an
``asyncio.sleep`` so hundreds of requests can hang at once; faults are injected from a
seeded RNG or forced one by one.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fake_llm.faults import FakeHTTPError, FaultPlan, Faults
from tests.fake_llm.handlers import DEFAULT_HANDLERS, SCRIPTS, Handler, guess_agent
from tests.fake_llm.records import RecordedRequest
from tests.fake_llm.reply import FakeReply


class FakeLLMServer:
    """The fake endpoint. Use as a context manager; ``base_url`` ends with ``/v1``.

    ``latency``/``jitter`` are seconds (uniform jitter around the latency); ``faults`` a
    ``Faults`` or a dict of rates such as ``{"429": 0.2, "retry_after": 1}`` (its RNG seeded
    by ``seed`` unless the dict names one); ``handlers``
    override the default per-agent handlers (after the named ``script``);
    ``reject_formats`` lists response_format types answered with HTTP 400 (e.g.
    ``("json_schema",)``); ``api_key``, when set, is required as a Bearer token;
    ``chunked`` sends completions with chunked transfer encoding; ``keep_alive_s`` is how
    long an idle connection stays open; ``max_concurrency`` caps the requests served at
    once (the rest queue, as on a server at capacity); ``name`` goes into the default generator's
    questions, so several servers serving one run never repeat each other.
    """

    def __init__(self, latency: float = 0.0, jitter: float = 0.0,
                 faults: Faults | dict | None = None,
                 handlers: dict[str, Handler] | None = None, *,
                 script: str = "default", reject_formats: Iterable[str] = (),
                 api_key: str | None = None, models: Iterable[str] = ("fake-model",),
                 host: str = "127.0.0.1", port: int = 0, seed: int = 0,
                 request_log: str | Path | None = None, chunked: bool = False,
                 keep_alive_s: float = 60.0, name: str = "",
                 max_concurrency: int | None = None):
        if script not in SCRIPTS:
            raise ValueError(f"unknown script {script!r}; known: {sorted(SCRIPTS)}")
        self.latency = latency
        self.jitter = jitter
        if isinstance(faults, dict) and "seed" not in faults:
            faults = {**faults, "seed": seed}
        self.faults = FaultPlan(Faults.coerce(faults))
        self.reject_formats = set(reject_formats)
        self.api_key = api_key
        self.models = list(models)
        self.chunked = chunked
        self.name = name
        self.keep_alive_s = keep_alive_s
        self.max_concurrency = max_concurrency
        self._capacity: asyncio.Semaphore | None = None
        self.requests: list[RecordedRequest] = []
        self.inflight = 0
        self.max_concurrent = 0
        self._handlers: dict[str, Handler] = {**DEFAULT_HANDLERS, **SCRIPTS[script],
                                              **(handlers or {})}
        self._host, self._port = host, port
        self._rng = random.Random(seed)
        self._seq: dict[str, int] = defaultdict(int)
        self._attempts: dict[tuple[str, str | None], int] = defaultdict(int)
        self._log_path = Path(request_log) if request_log else None
        self._log_file: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Event | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- scripting -------------------------------------------------------------------

    def set_handler(self, agent: str, fn: Handler) -> None:
        """Answer ``agent``'s requests with ``fn(request) -> dict | str``."""
        self._handlers[agent] = fn

    def force_faults(self, *kinds: str, agent: str | None = None) -> None:
        """Inject these faults into the next requests (of ``agent`` if given), in order."""
        self.faults.force(kinds, agent)

    def calls(self, agent: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, optionally of one agent only."""
        return [r for r in list(self.requests) if agent is None or r.agent == agent]

    def reset(self) -> None:
        """Forget recorded requests and the concurrency high-water mark."""
        self.requests.clear()
        self.max_concurrent = self.inflight

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> "FakeLLMServer":
        """Bind a loopback port and serve from a background thread until ``stop``."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        port = sock.getsockname()[1]
        self.base_url = f"http://{self._host}:{port}/v1"
        if self._log_path:
            self._log_file = self._log_path.open("a", encoding="utf-8")
        config = uvicorn.Config(self._app(), log_level="warning", access_log=False,
                                lifespan="off", backlog=4096,
                                timeout_keep_alive=self.keep_alive_s,
                                timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"fake-llm-{port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake LLM server failed to start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving; requests hanging in a timeout fault are released first."""
        if self._server is None:
            return
        if self._loop is not None and self._closing is not None:
            self._loop.call_soon_threadsafe(self._closing.set)
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
        self._server = None

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP ------------------------------------------------------------------------

    def _app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/models", self._list_models, methods=["GET"]),
        ])

    def _authorized(self, request: Request) -> bool:
        if self.api_key is None:
            return True
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    async def _list_models(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, "invalid api key")
        data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models]
        return JSONResponse({"object": "list", "data": data})

    async def _chat(self, request: Request) -> Response:
        if self._closing is None:
            self._loop = asyncio.get_running_loop()
            self._closing = asyncio.Event()
        if not self._authorized(request):
            return _error(401, "invalid api key")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "request body is not a JSON object")
        record = self._record(request, body)
        if self.max_concurrency and self._capacity is None:
            self._capacity = asyncio.Semaphore(self.max_concurrency)
        if self._capacity is not None:
            await self._capacity.acquire()
        self.inflight += 1
        self.max_concurrent = max(self.max_concurrent, self.inflight)
        try:
            response = await self._answer(record)
        finally:
            self.inflight -= 1
            if self._capacity is not None:
                self._capacity.release()
        record.status = response.status_code
        self._log(record)
        return response

    def _record(self, request: Request, body: dict[str, Any]) -> RecordedRequest:
        model = str(body.get("model") or "")
        agent = request.headers.get("x-dlgforge-agent")
        if not agent:
            agent = model if model in self._handlers else (guess_agent(body) or model)
        conversation_id = request.headers.get("x-dlgforge-conversation")
        key = (agent, conversation_id)
        record = RecordedRequest(agent=agent, conversation_id=conversation_id, model=model,
                                 body=body, headers=dict(request.headers),
                                 seq=self._seq[agent], attempt=self._attempts[key],
                                 received_at=time.monotonic(), server_name=self.name)
        self._seq[agent] += 1
        self._attempts[key] += 1
        self.requests.append(record)
        return record

    async def _answer(self, record: RecordedRequest) -> Response:
        delay = self.latency + (self._rng.uniform(-self.jitter, self.jitter) if self.jitter else 0)
        if delay > 0:
            await asyncio.sleep(delay)
        fmt_type = (record.response_format or {}).get("type")
        if fmt_type in self.reject_formats:
            return _error(400, f"response_format type {fmt_type!r} is not supported",
                          param="response_format")
        record.fault = self.faults.draw(record.agent)
        if record.fault == "429":
            retry_after = self.faults.faults.retry_after
            headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
            return _error(429, "rate limited", headers=headers)
        if record.fault == "500":
            return _error(500, "injected server error")
        if record.fault == "timeout":
            await self._hang(self.faults.faults.timeout_s)
            return _error(504, "injected timeout")
        try:
            reply = self._handler_for(record.agent)(record)
        except FakeHTTPError as err:
            return _error(err.status, err.message, headers=err.headers)
        extra = reply.message_fields if isinstance(reply, FakeReply) else {}
        finish = reply.finish_reason if isinstance(reply, FakeReply) else "stop"
        reply = reply.content if isinstance(reply, FakeReply) else reply
        text = reply if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False)
        if record.fault == "broken_json":
            text = text[: len(text) // 2]
        if self.chunked:
            payload = json.dumps(_completion(record, text, extra, finish)).encode()
            parts = [payload[i:i + 64] for i in range(0, len(payload), 64)]
            return StreamingResponse(_aiter(parts), media_type="application/json")
        return JSONResponse(_completion(record, text, extra, finish))

    def _handler_for(self, agent: str) -> Handler:
        handler = self._handlers.get(agent)
        if handler is None:
            return lambda record: {"text": f"reply {record.seq}"}
        return handler

    async def _hang(self, seconds: float) -> None:
        assert self._closing is not None
        try:
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    def _log(self, record: RecordedRequest) -> None:
        if self._log_file is None:
            return
        now = time.time()  # wall clock, comparable across processes (start-up benchmarks)
        line = {"agent": record.agent, "conversation_id": record.conversation_id,
                "model": record.model, "status": record.status, "fault": record.fault,
                "attempt": record.attempt,
                "received": round(now - (time.monotonic() - record.received_at), 4),
                "answered": round(now, 4)}
        self._log_file.write(json.dumps(line) + "\n")
        self._log_file.flush()


async def _aiter(parts: list[bytes]):
    for part in parts:
        yield part


def _completion(record: RecordedRequest, text: str, extra: dict[str, Any] | None = None,
                finish: str = "stop") -> dict[str, Any]:
    prompt_tokens = len(record.prompt_text.split())
    completion_tokens = len(text.split())
    return {
        "id": f"chatcmpl-fake-{record.agent}-{record.seq}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": record.model,
        "choices": [{"index": 0, "finish_reason": finish,
                     "message": {"role": "assistant", "content": text, **(extra or {})}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def _error(status: int, message: str, headers: dict[str, str] | None = None,
           param: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error" if status < 500
                      else "server_error", "param": param, "code": None}}
    return JSONResponse(body, status_code=status, headers=headers)
