"""Pre-flight health checks: is an OpenAI-compatible endpoint reachable, and is its key good?

One probe is ``GET <base_url>/models`` with the endpoint's own key and a short timeout, made
before the first conversation. What it means:

- connection refused, DNS failure, TLS failure, no answer in time, HTTP 5xx: the endpoint is
  down;
- HTTP 401/403: it answers but rejects the key;
- anything else (200, a server without ``/models`` answering 404, 405, 429...): reachable.

A single ``openai`` endpoint that cannot be reached or rejects its key stops the run with one
line naming the URL (``LLMSetupError``; a 5xx there is only a warning: hosted providers have
hiccups, and the requests retry); a router reports its bad endpoints and goes on with the
healthy ones (see ``llm/router.py``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from dlgforge_core.errors import LLMSetupError
from dlgforge_core.llm.sdk_httpx import httpx

PROBE_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass(frozen=True)
class Health:
    """The outcome of one probe. ``cause`` is empty when the endpoint is usable."""

    url: str
    status: int | None = None
    cause: str = ""
    bad_key: bool = False

    @property
    def ok(self) -> bool:
        return not self.cause

    def line(self, name: str) -> str:
        """``<config key>: <url> <what is wrong>``, one line, no secret."""
        if self.bad_key:
            return f"{name}: {self.url} rejected the API key (HTTP {self.status} on GET /models)"
        return f"{name}: {self.url} is unreachable ({self.cause})"


async def probe(http: httpx.AsyncClient, base_url: str, api_key: str | None,
                display: str | None = None) -> Health:
    """Probe one endpoint (``display`` is the URL to report: no credentials in it)."""
    url = display or base_url
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = await http.get(base_url.rstrip("/") + "/models", headers=headers)
    except httpx.TimeoutException as err:
        limit = PROBE_TIMEOUT.connect if isinstance(err, httpx.ConnectTimeout) else PROBE_TIMEOUT.read
        return Health(url, cause=f"no answer within {limit:g}s: {type(err).__name__}")
    except httpx.HTTPError as err:
        return Health(url, cause=_describe(err))
    status = response.status_code
    if status in (401, 403):
        return Health(url, status, cause=f"HTTP {status}", bad_key=True)
    if status >= 500:
        return Health(url, status, cause=f"HTTP {status} on GET /models")
    return Health(url, status)


async def probe_many(targets: list[tuple[str, str | None, str]]) -> list[Health]:
    """Probe ``(base_url, api_key, display_url)`` targets at once, in order.

    Plain-``http://`` endpoints are probed over ``FastHTTPTransport`` (as their requests will
    be sent): the general HTTP stack's first request loads its async backend (~0.1 s).
    """
    import asyncio

    from dlgforge_core.llm.fast_http import FastHTTPTransport, fast_http_usable

    lean = all(fast_http_usable(url) for url, _, _ in targets)
    transport = FastHTTPTransport(max_idle=len(targets)) if lean else None
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT, transport=transport) as http:
        return list(await asyncio.gather(*(probe(http, url, key, shown)
                                           for url, key, shown in targets)))


async def preflight(backend: Any, settings: Any, cfg: Any, agent: str) -> None:
    """The pre-flight of the backend serving ``agent`` (once per backend object).

    A router checks its own endpoints; an HTTP backend (``openai``) is probed here and a bad
    one raises ``LLMSetupError`` naming the config key, the URL and the cause; other backends
    (the embedded model) have nothing to reach.
    """
    if getattr(backend, "_preflight_done", False):
        return
    check = getattr(backend, "check", None)
    if check is not None:
        await check()
    elif getattr(backend, "base_url", None):
        [health] = await probe_many([(backend.base_url, settings.api_key, backend.endpoint)])
        if not health.ok and health.status is not None and not health.bad_key:
            # it answered, with a 5xx: a hosted provider's hiccup is the retries' job
            print(f"warning: {backend.endpoint} answered HTTP {health.status} on GET /models; "
                  "going on", file=sys.stderr, flush=True)
        elif not health.ok:
            overrides = getattr(cfg.llm.agents, agent)
            if health.bad_key:
                name = f"llm.agents.{agent}.api_key" if overrides.api_key else "llm.api_key"
            else:
                name = f"llm.agents.{agent}.base_url" if overrides.base_url else "llm.base_url"
            raise LLMSetupError(health.line(name))
    backend._preflight_done = True


def _describe(err: httpx.HTTPError) -> str:
    """A short cause: ``connection refused``, ``name not resolved``... plus the error class."""
    text = " ".join(str(err).split()).lower()
    cause: BaseException | None = err
    for _ in range(8):  # the socket error sits a few links down the chain
        cause = cause.__cause__ or cause.__context__ if cause is not None else None
        if isinstance(cause, OSError) and cause.errno is not None:
            text += " " + os.strerror(cause.errno).lower()
            break
    for words, cause in (("refused", "connection refused"),
                         ("[errno 111]", "connection refused"),  # every address of a host refused
                         ("name or service not known", "host name not resolved"),
                         ("nodename nor servname", "host name not resolved"),
                         ("temporary failure in name resolution", "host name not resolved"),
                         ("certificate", "TLS certificate rejected"),
                         ("unreachable", "network unreachable")):
        if words in text:
            return f"{cause}: {type(err).__name__}"
    detail = str(err).strip().splitlines()[0][:120] if str(err).strip() else ""
    return f"{type(err).__name__}: {detail}" if detail else type(err).__name__
