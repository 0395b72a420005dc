"""Webhooks: the signature, the destination rules (no SSRF), and one pinned POST.

A destination is checked when an alert is created and again at every connection: the host is
resolved, every address it resolves to must be public, and the POST connects to the checked
address itself (urllib3 pool on the IP, with the Host header and, for https, the SNI name and
certificate check of the original host), so a DNS answer that changes between the check and the
connection cannot reach a private address. ALERT_WEBHOOK_ALLOW_PRIVATE=true lifts the address
rule (local receivers, tests); the scheme and credential rules always hold.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import certifi
import urllib3

from cryptostats.errors import ConfigError

SIGNATURE_HEADER = "X-Cryptostats-Signature"
EVENT_ID_HEADER = "X-Cryptostats-Event-Id"

MAX_URL_CHARS = 2048

CONNECT_TIMEOUT_SECONDS = 3.0
"""Longest wait for a receiver to accept the connection."""

READ_TIMEOUT_SECONDS = 5.0
"""Longest wait for a receiver's answer: a slower one is a failed attempt, retried later."""

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
"""Cloud metadata services (AWS/GCP/Azure, AWS IPv6, Alibaba)."""

Resolver = Callable[[str, int], list[str]]
"""host, port -> the addresses it resolves to."""


class UnsafeWebhook(Exception):
    """A webhook URL that is malformed or points where the service may not connect."""


@dataclass(frozen=True)
class WebhookSettings:
    """Whether webhooks may reach private addresses."""

    allow_private: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WebhookSettings:
        """Read ALERT_WEBHOOK_ALLOW_PRIVATE (true/false), raising ConfigError otherwise."""
        raw = environ.get("ALERT_WEBHOOK_ALLOW_PRIVATE", "").strip().lower() or "false"
        if raw not in ("true", "false"):
            raise ConfigError("ALERT_WEBHOOK_ALLOW_PRIVATE", f"{raw!r} is not true or false")
        return cls(allow_private=raw == "true")


def sign(secret: str, body: bytes) -> str:
    """Return the signature header value: sha256=<hex HMAC-SHA256 of the body>."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def resolve(host: str, port: int) -> list[str]:
    """Return every address a host resolves to (empty when it does not)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Destination:
    """A checked webhook target: where to connect and what to send as Host."""

    scheme: str
    host: str
    port: int
    target: str
    """Path and query."""
    address: str
    """The checked address to connect to."""


def check_url(url: str) -> None:
    """Raise UnsafeWebhook unless the URL is http(s), with a host and no credentials."""
    if len(url) > MAX_URL_CHARS:
        raise UnsafeWebhook(f"webhook URL longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UnsafeWebhook("webhook is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeWebhook("webhook must be an http or https URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeWebhook("webhook URL must not carry credentials")
    if not parts.hostname or any(c.isspace() for c in url):
        raise UnsafeWebhook("webhook URL needs a host (and no spaces)")


def destination(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> Destination:
    """Check a URL and the addresses of its host; return where to connect."""
    check_url(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolver(host, port)
    if not addresses:
        raise UnsafeWebhook(f"webhook host {host[:80]!r} does not resolve")
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise UnsafeWebhook(
                    "webhook host resolves to a loopback, private, link-local or metadata "
                    "address (ALERT_WEBHOOK_ALLOW_PRIVATE=true allows it)"
                )
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme, host, port, target, addresses[0])


def is_public(address: str) -> bool:
    """Whether an address is a public one (not loopback, private, link-local, metadata...)."""
    try:
        ip: Any = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    ip = getattr(ip, "ipv4_mapped", None) or ip
    return bool(ip.is_global) and ip not in METADATA_ADDRESSES and not ip.is_multicast


@dataclass(frozen=True)
class Attempt:
    """The outcome of one POST: the status (None when no answer) or the error."""

    status: int | None
    error: str = ""

    @property
    def delivered(self) -> bool:
        """Whether the receiver accepted it (2xx)."""
        return self.status is not None and 200 <= self.status < 300


def post(
    url: str,
    body: bytes,
    *,
    secret: str,
    event_id: str,
    allow_private: bool,
    resolver: Resolver = resolve,
    ca_certs: str | None = None,
) -> Attempt:
    """POST a signed event to a checked, pinned destination; never raise, never follow redirects.

    `ca_certs` defaults to certifi's bundle (tests pass their own authority).
    """
    try:
        dest = destination(url, allow_private=allow_private, resolver=resolver)
    except UnsafeWebhook as exc:
        return Attempt(None, f"refused: {exc}")
    default_port = 443 if dest.scheme == "https" else 80
    host_header = f"[{dest.host}]" if ":" in dest.host else dest.host  # an IPv6 literal
    if dest.port != default_port:
        host_header = f"{host_header}:{dest.port}"
    headers = {
        "Host": host_header,
        "Content-Type": "application/json",
        "User-Agent": "cryptostats-webhooks/1",
        EVENT_ID_HEADER: event_id,
        SIGNATURE_HEADER: sign(secret, body),
    }
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS)
    pool: urllib3.HTTPConnectionPool
    if dest.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            dest.address,
            dest.port,
            timeout=timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_certs or certifi.where(),
            server_hostname=dest.host,
            assert_hostname=dest.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(dest.address, dest.port, timeout=timeout, retries=False)
    try:
        response = pool.urlopen(
            "POST", dest.target, body=body, headers=headers, redirect=False, preload_content=False
        )
        response.read(1024, decode_content=False)  # drain a little; the answer does not matter
        response.release_conn()
        return Attempt(response.status)
    except urllib3.exceptions.HTTPError as exc:
        return Attempt(None, type(exc).__name__)
    finally:
        pool.close()
