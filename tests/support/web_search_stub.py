"""A loopback web search server for tests: the SearxNG, Tavily and Serper shapes on one port.

``GET /search?q=..&format=json`` answers like SearxNG (``results[].url/title/content``),
``POST /search`` with ``{"query", "max_results"}`` like Tavily (the same result list, cut to
``max_results``), ``POST /search`` with ``{"q", "num"}`` like Serper (``organic[].link``).
Every request is recorded with its headers (to check the Bearer key);
``fail_next(503)`` answers the next requests with an error, ``delay`` makes every answer
hang that many seconds (to drive client timeouts).

    with WebSearchStub() as stub:
        stub.base_url          # "http://127.0.0.1:<port>"
        stub.requests          # list[StubRequest]
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_RESULTS: list[dict[str, str]] = [
    {"url": "https://help.example.test/refund-window",
     "title": "Refund window explained",
     "content": "Card refunds usually appear on the statement within ten banking days."},
    {"url": "https://help.example.test/invoice-email",
     "title": "Where invoices are sent",
     "content": "Invoices go to the billing contact's address on file."},
    {"url": "https://help.example.test/two-factor-keys",
     "title": "Hardware keys for two-factor login",
     "content": "FIDO2 security keys can be registered as a second factor."},
    {"url": "https://help.example.test/shipping-regions",
     "title": "Shipping regions",
     "content": "Remote regions may add two days to delivery."},
]


@dataclass
class StubRequest:
    """One request as the stub saw it (header names lowercased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any] | None = None
    status: int = 200


@dataclass
class _Plan:
    failures: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_failure(self) -> int | None:
        with self.lock:
            return self.failures.pop(0) if self.failures else None


class WebSearchStub:
    """The stub server; a context manager serving from a background thread."""

    def __init__(self, results: list[dict[str, str]] | None = None, delay: float = 0.0) -> None:
        self.results = list(DEFAULT_RESULTS if results is None else results)
        self.delay = delay
        self.requests: list[StubRequest] = []
        self._plan = _Plan()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def fail_next(self, status: int = 503, count: int = 1) -> None:
        """Answer the next ``count`` requests with HTTP ``status``."""
        with self._plan.lock:
            self._plan.failures.extend([status] * count)

    def start(self) -> "WebSearchStub":
        """Bind a loopback port and serve until ``stop``."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="web-search-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (requests still hanging in ``delay`` are abandoned)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "WebSearchStub":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, request: StubRequest) -> tuple[int, dict[str, Any]]:
        """The status and JSON body for ``request`` (recorded first)."""
        self.requests.append(request)
        if self.delay:
            time.sleep(self.delay)
        failure = self._plan.next_failure()
        if failure is not None:
            request.status = failure
            return failure, {"error": "injected failure"}
        if request.method == "GET":
            return 200, {"query": request.query.get("q", ""), "results": list(self.results)}
        body = request.body or {}
        if "q" in body:  # the Serper shape: {q, num} -> organic[].link/title/snippet
            limit = int(body.get("num") or len(self.results))
            organic = [{"title": r["title"], "link": r["url"], "snippet": r["content"]}
                       for r in self.results[:limit]]
            return 200, {"searchParameters": {"q": body["q"]}, "organic": organic}
        limit = int(body.get("max_results") or len(self.results))
        return 200, {"query": body.get("query", ""), "results": self.results[:limit]}


def _handler_for(stub: WebSearchStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            self._serve(None)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {"_invalid": raw.decode("utf-8", "replace")}
            self._serve(body)

        def _serve(self, body: dict[str, Any] | None) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = StubRequest(self.command, parts.path, query, headers, body)
            if parts.path != "/search":
                status, payload = 404, {"error": "not found"}
                request.status = status
                stub.requests.append(request)
            else:
                status, payload = stub.answer(request)
            data = json.dumps(payload).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    return Handler
