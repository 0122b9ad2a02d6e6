"""A loopback stub of the Hugging Face Hub HTTP API, for push tests with the real client.

It implements only what the installed ``huggingface_hub`` calls for ``create_repo`` and
``create_commit`` (read from the client code): ``POST /api/repos/create``,
``POST /api/validate-yaml``, ``POST /api/<type>s/<repo>/preupload/<rev>`` (every file
"regular", so contents travel base64-encoded inside the commit),
``POST /api/<type>s/<repo>/commit/<rev>`` (NDJSON) and, for ``list_repo_files``,
``GET /api/<type>s/<repo>/tree/<rev>`` (one page, files only). Point the client at it with
``HF_ENDPOINT=<hub.endpoint>``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class Commit:
    """One commit the stub received."""

    oid: str
    summary: str
    description: str
    added: dict[str, bytes]
    deleted: list[str]


@dataclass
class Repo:
    """A repository held in memory."""

    repo_id: str
    repo_type: str
    visibility: str | None
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[Commit] = field(default_factory=list)


class FakeHub:
    """The stub server; use as a context manager. ``token`` is the only accepted token.

    ``echo_credentials``: a careless server that repeats the rejected Authorization header in
    its 401 message (to test that a client never prints what the server echoes back).
    """

    def __init__(self, token: str, echo_credentials: bool = False) -> None:
        self._token = token
        self._echo = echo_credentials
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str, bool]] = []   # (method, path, authorized)
        self.endpoint = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "FakeHub":
        """Serve on a free loopback port from a background thread."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self._app(), log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake hub failed to start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> "FakeHub":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _app(self) -> Starlette:
        return Starlette(routes=[
            Route("/api/repos/create", self._create_repo, methods=["POST"]),
            Route("/api/validate-yaml", self._validate_yaml, methods=["POST"]),
            Route("/api/{kind}/{namespace}/{name}/preupload/{revision}", self._preupload, methods=["POST"]),
            Route("/api/{kind}/{namespace}/{name}/commit/{revision}", self._commit, methods=["POST"]),
            Route("/api/{kind}/{namespace}/{name}/tree/{revision}", self._tree, methods=["GET"]),
        ])

    def _authorized(self, request: Request) -> bool:
        ok = request.headers.get("authorization") == f"Bearer {self._token}"
        self.requests.append((request.method, request.url.path, ok))
        self._last_auth = request.headers.get("authorization", "")
        return ok

    def _error(self, status: int, message: str) -> JSONResponse:
        if status == 401 and self._echo:
            message = f"{message}: {getattr(self, '_last_auth', '')} is not a valid token"
        return JSONResponse({"error": message}, status_code=status, headers={"X-Error-Message": message})

    async def _create_repo(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return self._error(401, "Invalid credentials")
        body = await request.json()
        repo_id = f"{body.get('organization')}/{body['name']}" if body.get("organization") else body["name"]
        repo_type = body.get("type") or "model"
        url = f"{self.endpoint}/{'' if repo_type == 'model' else repo_type + 's/'}{repo_id}"
        if repo_id in self.repos:
            return JSONResponse({"error": "You already created this repo", "url": url}, status_code=409)
        self.repos[repo_id] = Repo(repo_id, repo_type, body.get("visibility"))
        return JSONResponse({"url": url, "name": repo_id})

    async def _validate_yaml(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return self._error(401, "Invalid credentials")
        content = (await request.json()).get("content", "")
        try:
            if content.startswith("---\n"):
                yaml.safe_load(content.split("---\n", 2)[1])
        except (yaml.YAMLError, IndexError) as err:
            return JSONResponse({"errors": [{"message": str(err)}]}, status_code=400)
        return JSONResponse({"errors": [], "warnings": []})

    def _repo(self, request: Request) -> Repo | None:
        return self.repos.get(f"{request.path_params['namespace']}/{request.path_params['name']}")

    async def _preupload(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return self._error(401, "Invalid credentials")
        if self._repo(request) is None:
            return JSONResponse({"error": "Repository not found"}, status_code=404,
                                headers={"X-Error-Code": "RepoNotFound"})
        files = (await request.json()).get("files", [])
        return JSONResponse({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                                        "oid": None} for f in files]})

    async def _tree(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return self._error(401, "Invalid credentials")
        repo = self._repo(request)
        if repo is None or f"{repo.repo_type}s" != request.path_params["kind"]:
            return JSONResponse({"error": "Repository not found"}, status_code=404,
                                headers={"X-Error-Code": "RepoNotFound"})
        return JSONResponse([{"type": "file", "path": path, "size": len(data),
                              "oid": hashlib.sha1(data).hexdigest()} for path, data in sorted(repo.files.items())])

    async def _commit(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return self._error(401, "Invalid credentials")
        repo = self._repo(request)
        if repo is None:
            return JSONResponse({"error": "Repository not found"}, status_code=404,
                                headers={"X-Error-Code": "RepoNotFound"})
        header: dict[str, Any] = {}
        added: dict[str, bytes] = {}
        deleted: list[str] = []
        for line in (await request.body()).splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            if item["key"] == "header":
                header = item["value"]
            elif item["key"] == "file":
                added[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            elif item["key"] == "deletedFile":
                deleted.append(item["value"]["path"])
            else:
                return self._error(400, f"unsupported commit operation {item['key']}")
        oid = hashlib.sha1(f"{repo.repo_id}:{len(repo.commits)}".encode()).hexdigest()
        repo.commits.append(Commit(oid, header.get("summary", ""), header.get("description", ""), added, deleted))
        repo.files.update(added)
        for path in deleted:
            repo.files.pop(path, None)
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        return JSONResponse({"commitUrl": f"{self.endpoint}/{prefix}{repo.repo_id}/commit/{oid}",
                             "commitOid": oid, "pullRequestUrl": None})
