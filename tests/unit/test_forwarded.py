"""X-Forwarded-For is believed from the trusted proxies only (api_server.forwarded)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest

from api_server.forwarded import TrustedProxies
from cryptostats.config import Settings, parse_networks
from cryptostats.errors import ConfigError

PROXY = "10.0.0.5"


def seen_by_app(trusted: str, peer: str, headers: dict[str, str]) -> dict[str, str]:
    """Run one request through the middleware; return what the app saw."""
    seen: dict[str, str] = {}

    def app(environ: dict[str, str], start_response: Callable[..., object]) -> list[bytes]:
        seen.update(environ)
        return []

    middleware = TrustedProxies(app, parse_networks("TRUSTED_PROXIES", trusted))
    environ = {"REMOTE_ADDR": peer, "wsgi.url_scheme": "http", **headers}
    middleware(environ, lambda *args: None)
    return seen


def test_a_trusted_proxy_names_the_client() -> None:
    seen = seen_by_app(
        "10.0.0.0/24",
        PROXY,
        {"HTTP_X_FORWARDED_FOR": "203.0.113.7", "HTTP_X_FORWARDED_PROTO": "https"},
    )
    assert seen["REMOTE_ADDR"] == "203.0.113.7"
    assert seen["wsgi.url_scheme"] == "https"
    assert seen["cryptostats.proxy_addr"] == PROXY


def test_an_untrusted_peer_cannot_pick_its_address() -> None:
    seen = seen_by_app(
        "10.0.0.0/24",
        "198.51.100.9",
        {"HTTP_X_FORWARDED_FOR": "203.0.113.7", "HTTP_X_FORWARDED_PROTO": "https"},
    )
    assert seen["REMOTE_ADDR"] == "198.51.100.9"
    assert seen["wsgi.url_scheme"] == "http"
    assert "HTTP_X_FORWARDED_FOR" not in seen, "later code must not read a spoofable header"


def test_no_trusted_proxy_by_default_believes_nobody() -> None:
    assert Settings.from_env({}).trusted_proxies == ()
    seen = seen_by_app("", "127.0.0.1", {"HTTP_X_FORWARDED_FOR": "203.0.113.7"})
    assert seen["REMOTE_ADDR"] == "127.0.0.1"


def test_a_client_prepending_addresses_is_not_believed() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4"; a trusted hop appended the real address.
    seen = seen_by_app("10.0.0.0/24", PROXY, {"HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.7"})
    assert seen["REMOTE_ADDR"] == "203.0.113.7"


def test_trusted_hops_are_skipped_from_the_right() -> None:
    seen = seen_by_app("10.0.0.0/24", PROXY, {"HTTP_X_FORWARDED_FOR": "203.0.113.7, 10.0.0.9"})
    assert seen["REMOTE_ADDR"] == "203.0.113.7"


def test_garbage_in_the_header_stops_the_walk() -> None:
    seen = seen_by_app("10.0.0.0/24", PROXY, {"HTTP_X_FORWARDED_FOR": "evil, 203.0.113.7"})
    assert seen["REMOTE_ADDR"] == "203.0.113.7"
    seen = seen_by_app("10.0.0.0/24", PROXY, {"HTTP_X_FORWARDED_FOR": "not-an-ip"})
    assert seen["REMOTE_ADDR"] == PROXY


def test_ipv4_mapped_peer_is_matched_as_ipv4() -> None:
    seen = seen_by_app("10.0.0.0/24", f"::ffff:{PROXY}", {"HTTP_X_FORWARDED_FOR": "203.0.113.7"})
    assert seen["REMOTE_ADDR"] == "203.0.113.7"


def test_settings_parse_addresses_and_networks() -> None:
    settings = Settings.from_env({"TRUSTED_PROXIES": "172.28.0.10, fd00::/8"})
    assert settings.trusted_proxies == (
        ipaddress.ip_network("172.28.0.10/32"),
        ipaddress.ip_network("fd00::/8"),
    )


def test_a_bad_network_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        Settings.from_env({"TRUSTED_PROXIES": "10.0.0.0/33"})
