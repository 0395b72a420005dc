"""Believe X-Forwarded-For/-Proto only from the trusted proxies (TRUSTED_PROXIES).

A request whose peer is a trusted proxy gets, as REMOTE_ADDR, the nearest address in its
X-Forwarded-For that is not itself a trusted proxy, and its scheme from X-Forwarded-Proto. From
any other peer both headers are dropped, so nothing later (the access log, per-address rate
limits) can be fooled by a client naming its own address. With no trusted proxy (the default),
every request keeps its peer's address and the headers are always dropped.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PEER = "REMOTE_ADDR"
FORWARDED_FOR = "HTTP_X_FORWARDED_FOR"
FORWARDED_PROTO = "HTTP_X_FORWARDED_PROTO"
"""WSGI environ keys of the headers a proxy sets."""

PROXY_ADDR = "cryptostats.proxy_addr"
"""Environ key keeping the trusted proxy's own address once REMOTE_ADDR is replaced."""


class TrustedProxies:
    """WSGI middleware applying X-Forwarded-* from trusted peers only."""

    def __init__(self, app: Callable[..., Any], networks: Iterable[Network]) -> None:
        self.app = app
        self.networks = tuple(networks)

    def trusted(self, address: str | None) -> bool:
        """Return whether an address belongs to a trusted proxy."""
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)

    def client_address(self, peer: str, forwarded_for: str) -> str:
        """Walk X-Forwarded-For from the right past trusted hops; return the client's address."""
        client = peer
        for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
            if not _is_address(hop):
                break
            client = hop
            if not self.trusted(hop):
                break
        return client

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        peer = environ.get(PEER, "")
        forwarded_for = environ.pop(FORWARDED_FOR, None)
        forwarded_proto = environ.pop(FORWARDED_PROTO, None)
        if self.trusted(peer):
            if forwarded_for:
                environ[PROXY_ADDR] = peer
                environ[PEER] = self.client_address(peer, forwarded_for)
            proto = (forwarded_proto or "").rpartition(",")[2].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        return self.app(environ, start_response)


def trust_proxies(app: Flask, networks: Iterable[Network]) -> None:
    """Wrap the app's WSGI callable so it sees client addresses through these proxies."""
    app.wsgi_app = TrustedProxies(app.wsgi_app, networks)  # type: ignore[method-assign]


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
