"""Pre-flight of a single `openai` endpoint: reachable, key accepted; hosted-provider quirks."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dlgforge_core.errors import LLMSetupError
from tests.fake_llm import FakeLLMServer
from tests.llm.helpers import SECRET_KEY, QuestionReply, ask, run


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class _Fixed(ThreadingHTTPServer):
    """Answers every GET with one status (a server without /models, or a failing one)."""

    def __init__(self, status: int):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                outer.paths.append(self.path)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


def test_closed_port_is_one_line_naming_the_url(make_cfg):
    url = _closed_port_url()
    with pytest.raises(LLMSetupError) as err:
        run(lambda client: client.check(), make_cfg(url))
    assert str(err.value) == f"llm.base_url: {url} is unreachable (connection refused: ConnectError)"


def test_rejected_key_is_a_bad_key_line_without_the_key(make_cfg):
    with FakeLLMServer(api_key="the-right-one") as srv:
        with pytest.raises(LLMSetupError) as err:
            run(lambda client: client.check(), make_cfg(srv.base_url))
        assert srv.requests == []
    assert str(err.value) == (f"llm.api_key: {srv.base_url} rejected the API key "
                              "(HTTP 401 on GET /models)")
    assert SECRET_KEY not in str(err.value)


def test_agent_override_is_the_key_named(make_cfg):
    url = _closed_port_url()
    with FakeLLMServer() as srv:
        cfg = make_cfg(srv.base_url, agents={"kb_responder": {"base_url": url}})
        with pytest.raises(LLMSetupError, match=rf"^llm\.agents\.kb_responder\.base_url: {url} is unreachable"):
            run(lambda client: client.check(), cfg)


def test_server_without_models_route_counts_as_reachable(make_cfg):
    server = _Fixed(404)
    try:
        run(lambda client: client.check(), make_cfg(server.base_url))
    finally:
        server.shutdown()
    assert server.paths == ["/v1/models"]


def test_a_5xx_on_models_is_a_warning_and_the_run_goes_on(make_cfg, capsys):
    server = _Fixed(503)
    try:
        run(lambda client: client.check(), make_cfg(server.base_url))
    finally:
        server.shutdown()
    assert f"warning: {server.base_url} answered HTTP 503 on GET /models; going on" in capsys.readouterr().err


def test_healthy_endpoint_passes_the_check_and_serves(make_cfg):
    with FakeLLMServer() as srv:
        async def twice_then_ask(client):
            await client.check()
            await client.check()
            return await client.structured("qa_generator", ask(1), QuestionReply)
        reply = run(twice_then_ask, make_cfg(srv.base_url))
        assert reply.value.question and len(srv.requests) == 1
