"""A lean HTTP/1.1 keep-alive client for the ``openai`` SDK, for plain-http endpoints.

The general-purpose HTTP stack under the SDK spends milliseconds of CPU per request: the
connection pool polls every idle socket and runs an event state machine, and the client
re-parses the URL, re-merges default headers, cookies and query parameters and walks its
auth and redirect layers for every request. At hundreds of requests per second against a
local vLLM or LM Studio server that, not the server, becomes the limit.

- ``FastHTTPTransport`` sends a buffered request on a reused asyncio stream and reads one
  response (Content-Length, chunked, or until close).
- ``FastHTTPClient`` is the SDK's ``http_client``: it builds each request from what the SDK
  already prepared (absolute URL, full header list, JSON body), reusing the parsed URL, and
  hands it straight to the transport. Anything it does not handle (query parameters, files,
  cookies, auth, streaming) goes through the stock client code.

The SDK on top is unchanged: it still builds the body and headers, maps errors and parses
replies. Used for ``http://`` endpoints; ``https://`` endpoints keep the default client (TLS).

Like the SDK's default client it honours ``HTTP_PROXY`` / ``ALL_PROXY`` and ``NO_PROXY``
(read once, when the transport is built; see ``proxy_env``): a proxied request goes to the
proxy with the absolute URL as its request target (and ``Proxy-Authorization`` when the
proxy URL carries credentials). It follows redirects as the SDK's client does: 301/302
turn a POST into a GET and 303 anything but HEAD into a GET (body dropped); 307/308 keep
the method and body; ``Authorization`` is dropped when the redirect leaves the origin; at
most 20 hops. A redirect to ``https://`` (or any request this transport cannot carry) is
sent by a stock client built on first need, which also honours ``HTTPS_PROXY`` (CONNECT).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

from dlgforge_core.llm.proxy_env import Proxy, ProxyRules
from dlgforge_core.llm.sdk_httpx import httpx as _httpx


_MAX_HEADER_BYTES = 64 * 1024
_MAX_CACHED_URLS = 64
_CLIENT_DEFAULT = _httpx.USE_CLIENT_DEFAULT
_SKIP_REQUEST_HEADERS = {b"accept-encoding", b"connection"}
_MAX_REDIRECTS = 20
_REDIRECTS = (301, 302, 303, 307, 308)


def fast_http_usable(base_url: str, rules: ProxyRules | None = None) -> bool:
    """Whether ``FastHTTPTransport`` can carry requests to ``base_url``: an ``http://`` URL,
    reached directly or through a plain-HTTP proxy."""
    parts = _httpx.URL(base_url)
    if parts.scheme != "http":
        return False
    proxy = (rules or ProxyRules.from_env()).proxy_for("http", parts.host, parts.port or 80)
    return proxy is None or proxy.scheme == "http"


class _Conn:
    """One open keep-alive connection."""

    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


class _StaleConnection(Exception):
    """A reused connection was closed by the server before it answered."""


class FastHTTPTransport(_httpx.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 over asyncio streams; at most ``max_idle`` idle connections kept
    per host (the caller caps requests in flight)."""

    def __init__(self, max_idle: int = 64, proxies: ProxyRules | None = None):
        self.max_idle = max_idle
        self.proxies = proxies if proxies is not None else ProxyRules.from_env()
        self._idle: dict[tuple[str, int], list[_Conn]] = defaultdict(list)

    async def handle_async_request(self, request: _httpx.Request) -> _httpx.Response:
        """Send ``request`` and return the whole response (body read)."""
        if request.url.scheme != "http":
            raise _httpx.UnsupportedProtocol("FastHTTPTransport serves http:// only",
                                             request=request)
        timeout = (request.extensions.get("timeout") or {}).get("read")
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                response = await self._exchange(request)
        except TimeoutError:
            raise _httpx.ReadTimeout("timed out waiting for the response",
                                     request=request) from None
        response.elapsed = timedelta(seconds=time.perf_counter() - started)
        return response

    async def aclose(self) -> None:
        """Close idle connections."""
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    async def _exchange(self, request: _httpx.Request) -> _httpx.Response:
        url = request.url
        proxy = self.proxies.proxy_for("http", url.host, url.port or 80)
        if proxy is None:
            key = (url.host, url.port or 80)
        elif proxy.scheme == "http":
            key = (proxy.host, proxy.port)  # one pool of connections to the proxy
        else:
            raise _httpx.UnsupportedProtocol(f"FastHTTPTransport cannot use a {proxy.scheme}:// "
                                             "proxy", request=request)
        payload = _serialize(request, await request.aread(), proxy)
        conn, reused = await self._connection(key, request)
        try:
            try:
                status, headers, body, keep = await _roundtrip(conn, payload, reused)
            except _StaleConnection:
                conn.close()
                conn = await _open(key, request)
                status, headers, body, keep = await _roundtrip(conn, payload, False)
        except BaseException:
            conn.close()  # a half-read response leaves the stream unusable
            raise
        if keep and len(self._idle[key]) < self.max_idle:
            self._idle[key].append(conn)
        else:
            conn.close()
        return _httpx.Response(status, headers=headers, content=body, request=request,
                               extensions={"http_version": b"HTTP/1.1"})

    async def _connection(self, key: tuple[str, int],
                          request: _httpx.Request) -> tuple[_Conn, bool]:
        idle = self._idle[key]
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn, True
            conn.close()
        return await _open(key, request), False


async def _open(key: tuple[str, int], request: _httpx.Request) -> _Conn:
    """A new connection, within the request's connect timeout (when it has one)."""
    limit = (request.extensions.get("timeout") or {}).get("connect")
    try:
        async with asyncio.timeout(limit):
            reader, writer = await asyncio.open_connection(key[0], key[1], limit=_MAX_HEADER_BYTES)
    except TimeoutError as err:  # our limit, or the system's own connect timeout
        text = f"no connection within {limit:g}s" if limit is not None else str(err) or "connect timed out"
        raise _httpx.ConnectTimeout(text, request=request) from None
    except OSError as err:
        raise _httpx.ConnectError(str(err) or type(err).__name__, request=request) from None
    return _Conn(reader, writer)


def _serialize(request: _httpx.Request, body: bytes, proxy: Proxy | None = None) -> bytes:
    url = request.url
    target = url.raw_path
    if proxy is not None:  # absolute-form request target (RFC 9112 3.2.2)
        target = url.raw_scheme + b"://" + url.netloc + target
    lines = [request.method.encode() + b" " + target + b" HTTP/1.1"]
    for name, value in request.headers.raw:
        if name.lower() not in _SKIP_REQUEST_HEADERS:
            lines.append(name + b": " + value)
    if proxy is not None and proxy.authorization is not None:
        lines.append(b"Proxy-Authorization: " + proxy.authorization)
    # identity: the body is handed to the SDK as is, so it must not be compressed
    lines.append(b"Accept-Encoding: identity")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def _roundtrip(conn: _Conn, payload: bytes,
                     reused: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
    try:
        conn.writer.write(payload)
        head = await conn.reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as err:
        if reused and not err.partial:
            raise _StaleConnection() from None
        raise _httpx.RemoteProtocolError("server closed the connection") from None
    except (ConnectionError, asyncio.LimitOverrunError) as err:
        if reused and isinstance(err, ConnectionError):
            raise _StaleConnection() from None
        raise _httpx.RemoteProtocolError(f"bad response: {type(err).__name__}") from None
    status, headers = _parse_head(head)
    names = {name.lower(): value for name, value in headers}
    keep = names.get(b"connection", b"").lower() != b"close"
    try:
        if b"content-length" in names:
            body = await conn.reader.readexactly(int(names[b"content-length"]))
        elif names.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = await _read_chunked(conn.reader)
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:
            body, keep = await conn.reader.read(), False
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        raise _httpx.RemoteProtocolError("incomplete response body") from None
    return status, headers, body, keep


def _parse_head(head: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise _httpx.RemoteProtocolError("malformed status line")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers.append((name.strip(), value.strip()))
    return int(parts[1]), headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


class FastHTTPClient(_httpx.AsyncClient):
    """The SDK's HTTP client on a ``FastHTTPTransport``: plain requests skip the stock
    client's per-request merging and layers; every other kind takes the stock path."""

    def __init__(self, transport: FastHTTPTransport, **options: Any):
        options.setdefault("follow_redirects", True)  # as the SDK's default client does
        super().__init__(transport=transport, **options)
        self._fast = transport
        self._urls: dict[str, _httpx.URL] = {}
        self._stock: _httpx.AsyncClient | None = None

    def build_request(self, method: str, url: Any, *, content: Any = None, data: Any = None,
                      files: Any = None, json: Any = None, params: Any = None,
                      headers: Any = None, cookies: Any = None,
                      timeout: Any = _CLIENT_DEFAULT,
                      extensions: Any = None) -> _httpx.Request:
        """A request from the SDK's prepared parts (the stock path for anything else)."""
        target = self._absolute_url(url)
        if (target is None or data is not None or files or json is not None
                or params or cookies or self.cookies or self.params):
            return super().build_request(
                method, url, content=content, data=data, files=files, json=json,
                params=params, headers=headers, cookies=cookies, timeout=timeout,
                extensions=extensions)
        if timeout is _CLIENT_DEFAULT:
            timeout = self.timeout
        extensions = {"timeout": _httpx.Timeout(timeout).as_dict(), **(extensions or {})}
        return _httpx.Request(method, target, content=content, headers=headers,
                              extensions=extensions)

    def _absolute_url(self, url: Any) -> _httpx.URL | None:
        """``url`` parsed once and remembered; None unless it is an absolute URL string
        (a relative one needs the stock client's joining with ``base_url``)."""
        if not isinstance(url, str):
            return None
        target = self._urls.get(url)
        if target is None:
            target = _httpx.URL(url)
            if not target.is_absolute_url:
                return None
            if len(self._urls) < _MAX_CACHED_URLS:
                self._urls[url] = target
        return target

    async def send(self, request: _httpx.Request, *, stream: bool = False,
                   auth: Any = _CLIENT_DEFAULT,
                   follow_redirects: Any = _CLIENT_DEFAULT) -> _httpx.Response:
        """Hand ``request`` to the transport (the response arrives fully read), following
        redirects unless told not to."""
        if stream or auth is not _CLIENT_DEFAULT or self.auth is not None:
            return await super().send(request, stream=stream, auth=auth,
                                      follow_redirects=follow_redirects)
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        follow = self.follow_redirects if follow_redirects is _CLIENT_DEFAULT else follow_redirects
        history: list[_httpx.Response] = []
        while True:
            response = await self._send_one(request)
            if not (follow and response.status_code in _REDIRECTS
                    and "location" in response.headers):
                response.history = list(history)
                return response
            if len(history) >= _MAX_REDIRECTS:
                raise _httpx.TooManyRedirects("Exceeded maximum allowed redirects.",
                                              request=request)
            history.append(response)
            request = _redirect_request(request, response)

    async def _send_one(self, request: _httpx.Request) -> _httpx.Response:
        if request.url.scheme == "http":
            response = await self._fast.handle_async_request(request)
            response.request = request
            return response
        if self._stock is None:  # https:// (a redirect there): the stock client, env proxies
            self._stock = _httpx.AsyncClient(timeout=self.timeout, follow_redirects=False,
                                             trust_env=True)
        return await self._stock.send(request, follow_redirects=False)

    async def aclose(self) -> None:
        """Close the connections, and the stock client if one was built."""
        if self._stock is not None:
            await self._stock.aclose()
        await super().aclose()


def _same_origin(a: _httpx.URL, b: _httpx.URL) -> bool:
    ports = {"http": 80, "https": 443}
    return (a.scheme == b.scheme and a.host == b.host
            and (a.port or ports.get(a.scheme)) == (b.port or ports.get(b.scheme)))


def _redirect_request(request: _httpx.Request, response: _httpx.Response) -> _httpx.Request:
    """The request a redirect response asks for (the rules of the SDK's default client)."""
    status = response.status_code
    method = request.method
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method = "GET"
    try:
        url = request.url.join(response.headers["location"])
    except _httpx.InvalidURL as err:
        raise _httpx.RemoteProtocolError(f"invalid redirect location: {err}",
                                         request=request) from None
    if url.fragment == "" and request.url.fragment:
        url = url.copy_with(fragment=request.url.fragment)
    headers = _httpx.Headers(request.headers)
    headers.pop("host", None)  # recomputed for the new URL
    if not _same_origin(url, request.url):
        headers.pop("authorization", None)
    content: bytes | None = request.content
    if method != request.method:  # the body does not follow a change to GET
        content = None
        headers.pop("content-length", None)
        headers.pop("transfer-encoding", None)
    return _httpx.Request(method, url, headers=headers, content=content,
                          extensions=request.extensions)
