"""A loopback OpenAI-compatible ``/v1/embeddings`` server backed by the real MiniLM model."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


class EmbeddingServer:
    """Serves ``POST /v1/embeddings`` on 127.0.0.1; records each request's inputs."""

    def __init__(self, model, api_key: str = "test-key") -> None:
        self.model, self.api_key = model, api_key
        self.requests: list[list[str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "EmbeddingServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _embed(self, body: dict) -> dict:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        with self._lock:
            self.requests.append(inputs)
            vectors = self.model.encode(inputs, convert_to_numpy=True)
        data = []
        for index, vector in enumerate(np.asarray(vectors, dtype=np.float32)):
            embedding = base64.b64encode(vector.tobytes()).decode() \
                if body.get("encoding_format") == "base64" else vector.tolist()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        return {"object": "list", "data": data, "model": body.get("model", ""),
                "usage": {"prompt_tokens": 0, "total_tokens": 0}}

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.headers.get("Authorization") != f"Bearer {outer.api_key}":
                    return self._reply(401, {"error": {"message": "bad key"}})
                if self.path != "/v1/embeddings":
                    return self._reply(404, {"error": {"message": "not found"}})
                self._reply(200, outer._embed(body))

            def _reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        return Handler
