"""Loopback HTTP helpers for transport tests: a forward proxy that records what it forwarded,
and a server that answers every request with a redirect.

Both run an asyncio server on their own event loop in a background thread (real sockets),
and are context managers whose ``url`` is ``http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Forwarded:
    """One request the proxy carried: its request line target and headers as received."""

    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head[:-4].decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    length = next((int(v) for n, v in headers if n.lower() == "content-length"), 0)
    body = await reader.readexactly(length) if length else b""
    return method, target, headers, body


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    """One whole response (Content-Length or chunked framing), as raw bytes."""
    head = await reader.readuntil(b"\r\n\r\n")
    names = {}
    for line in head[:-4].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        names[name.strip().lower()] = value.strip()
    if b"content-length" in names:
        return head + await reader.readexactly(int(names[b"content-length"]))
    if names.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts = [head]
        while True:
            size_line = await reader.readuntil(b"\r\n")
            parts.append(size_line)
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                parts.append(await reader.readuntil(b"\r\n"))
                return b"".join(parts)
            parts.append(await reader.readexactly(size + 2))
    return head + await reader.read()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


class _LoopServer:
    """An asyncio server on a background thread's loop."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.url = ""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve the requests of one client connection until it closes or ``_respond`` ends it."""
        try:
            while (request := await _read_request(reader)) is not None:
                if not await self._respond(request, reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def _respond(self, request: tuple, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> bool:
        """Answer one ``(method, target, headers, body)`` request; False ends the connection."""
        return False

    def __enter__(self):
        self._thread.start()

        async def start():
            return await asyncio.start_server(self._handle, "127.0.0.1", 0)

        self._server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop():
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class ForwardProxy(_LoopServer):
    """A plain-HTTP forward proxy: takes absolute-form requests, forwards them to the origin
    (one upstream connection per request) and relays the response; a ``CONNECT host:port``
    opens a byte tunnel (HTTPS). ``forwarded`` lists what it carried; ``require_auth`` (a
    ``Proxy-Authorization`` value) answers 407 to others."""

    def __init__(self, require_auth: str | None = None) -> None:
        super().__init__()
        self.forwarded: list[Forwarded] = []
        self.require_auth = require_auth

    async def _respond(self, request: tuple, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> bool:
        method, target, headers, body = request
        seen = dict(headers)
        self.forwarded.append(Forwarded(method, target, seen))
        if self.require_auth and seen.get("Proxy-Authorization") != self.require_auth:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                         b"Content-Length: 0\r\n\r\n")
            await writer.drain()
            return True
        if method == "CONNECT":  # a tunnel (HTTPS): relay bytes both ways from now on
            host, _, port = target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            return False
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return True
        up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {path} HTTP/1.1"]
        lines += [f"{n}: {v}" for n, v in headers
                  if n.lower() not in ("proxy-authorization", "connection")]
        lines.append("Connection: close")
        up_writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        response = await _read_response(up_reader)
        up_writer.close()
        writer.write(response)
        await writer.drain()
        return True


class Redirector(_LoopServer):
    """Answers every request with ``status`` and ``Location: <location>`` (recording each
    request's method, path and body in ``seen``)."""

    def __init__(self, location: str, status: int = 307) -> None:
        super().__init__()
        self.location, self.status = location, status
        self.seen: list[tuple[str, str, bytes]] = []

    async def _respond(self, request: tuple, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> bool:
        method, target, _, body = request
        self.seen.append((method, target, body))
        writer.write(f"HTTP/1.1 {self.status} Redirect\r\nLocation: {self.location}\r\n"
                     "Content-Length: 0\r\n\r\n".encode("latin-1"))
        await writer.drain()
        return True
