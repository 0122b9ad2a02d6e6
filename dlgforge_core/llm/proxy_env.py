"""Which proxy a request goes through: ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` and
``NO_PROXY`` from the environment, read the way the SDK's default HTTP client reads them.

- ``http_proxy`` / ``https_proxy`` / ``all_proxy`` (lower case wins over upper case, as in
  ``urllib``); a value without a scheme means ``http://``; ``all_proxy`` applies to both
  schemes when the scheme's own variable is unset.
- ``NO_PROXY`` is a comma-separated list: ``*`` turns proxies off; an IP address (or a CIDR
  network such as ``10.0.0.0/8``) matches that address; ``localhost`` matches itself; a
  name matches itself and its subdomains, and a name with a leading dot only its subdomains;
  ``name:port`` matches that port only; ``scheme://host`` that scheme only.

Read once per transport (when the backend is built), not per request.
"""

from __future__ import annotations

import ipaddress
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class Proxy:
    """One proxy server: where to connect, and the ``Proxy-Authorization`` it needs."""

    scheme: str
    host: str
    port: int
    authorization: bytes | None = None

    @classmethod
    def parse(cls, value: str) -> "Proxy":
        """``[scheme://][user:password@]host[:port]`` (port default 80 / 443)."""
        parts = urlsplit(value if "://" in value else f"http://{value}")
        if not parts.hostname:
            raise ValueError(f"proxy URL without a host: {value!r}")
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
        auth = None
        if parts.username is not None:
            import base64

            token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            auth = b"Basic " + base64.b64encode(token)
        return cls(scheme, parts.hostname, port, auth)


@dataclass(frozen=True)
class _Bypass:
    scheme: str | None
    host: str | None  # a name (lower case) or None for a network
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    port: int | None
    subdomains_only: bool

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if self.scheme is not None and self.scheme != scheme:
            return False
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            try:
                return ipaddress.ip_address(host) in self.network
            except ValueError:
                return False
        name = host.lower().rstrip(".")
        if self.subdomains_only:
            return name.endswith("." + self.host)
        return name == self.host or name.endswith("." + self.host)


def _bypass(entry: str) -> _Bypass | None:
    scheme = None
    if "://" in entry:
        scheme, entry = entry.split("://", 1)
        scheme = scheme.lower()
        scheme = None if scheme == "all" else scheme
    entry = entry.strip().rstrip("/")
    if not entry:
        return None
    try:  # an address or a network, maybe IPv6 in brackets
        return _Bypass(scheme, None, ipaddress.ip_network(entry.strip("[]"), strict=False), None, False)
    except ValueError:
        pass
    host, port = entry, None
    if entry.startswith("["):  # [v6]:port
        inner, _, rest = entry[1:].partition("]")
        host, port = inner, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
        try:
            return _Bypass(scheme, None, ipaddress.ip_network(host, strict=False), port, False)
        except ValueError:
            return None
    name, sep, tail = entry.rpartition(":")
    if sep and tail.isdigit():
        host, port = name, int(tail)
    try:
        return _Bypass(scheme, None, ipaddress.ip_network(host, strict=False), port, False)
    except ValueError:
        pass
    host = host.lower().lstrip("*")
    subdomains_only = host.startswith(".")
    host = host.strip(".")
    return _Bypass(scheme, host, None, port, subdomains_only) if host else None


class ProxyRules:
    """The proxy (or none) for each request URL, from one snapshot of the environment."""

    def __init__(self, proxies: Mapping[str, Proxy], bypass: list[_Bypass], bypass_all: bool = False):
        self.proxies = dict(proxies)
        self.bypass = bypass
        self.bypass_all = bypass_all

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ProxyRules":
        """Rules from ``environ`` (default: the process environment)."""
        if environ is None:
            found = urllib.request.getproxies_environment()
        else:  # the same precedence as urllib: lower case over upper case
            found = {}
            for name, value in environ.items():
                if value and name.lower().endswith("_proxy"):
                    key = name.lower()[:-6]
                    if name.islower() or key not in found:
                        found[key] = value
        proxies: dict[str, Proxy] = {}
        for scheme in ("http", "https"):
            value = found.get(scheme) or found.get("all")
            if value:
                proxies[scheme] = Proxy.parse(value)
        entries = [e.strip() for e in (found.get("no") or "").split(",") if e.strip()]
        rules = [rule for rule in map(_bypass, entries) if rule is not None]
        return cls(proxies, rules, bypass_all="*" in entries)

    def proxy_for(self, scheme: str, host: str, port: int) -> Proxy | None:
        """The proxy a request to ``scheme://host:port`` goes through, or None (direct)."""
        proxy = self.proxies.get(scheme)
        if proxy is None or self.bypass_all:
            return None
        host = host.strip("[]")
        if any(rule.matches(scheme, host, port) for rule in self.bypass):
            return None
        return proxy
