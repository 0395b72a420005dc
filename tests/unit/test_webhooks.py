"""Webhook signatures and destination rules (no SSRF) (POSTs over sockets: tests/integration)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from api_server.webhooks import (
    UnsafeWebhook,
    WebhookSettings,
    destination,
    is_public,
    sign,
)
from cryptostats.errors import ConfigError

PUBLIC = "93.184.215.14"


def test_signature_is_hmac_sha256_of_the_raw_body_keyed_by_the_secret() -> None:
    body = b'{"id":"x"}'
    expected = hmac.new(b"whsec_abc", body, hashlib.sha256).hexdigest()
    assert sign("whsec_abc", body) == f"sha256={expected}"
    assert sign("whsec_abd", body) != sign("whsec_abc", body)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example/x",
        "file:///etc/passwd",
        "https://user:pw@hooks.example/x",
        "https://user@hooks.example/x",
        "https:///nohost",
        "http://hooks.example:99999/x",
        "not a url",
        "https://" + "a" * 2050 + ".example/",
    ],
)
def test_malformed_or_credentialed_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeWebhook):
        destination(url, allow_private=True, resolver=lambda h, p: [PUBLIC])


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "100.64.0.1",
        "224.0.0.1",
    ],
)
def test_private_loopback_link_local_and_metadata_addresses_are_not_public(address: str) -> None:
    assert not is_public(address)
    with pytest.raises(UnsafeWebhook, match="ALERT_WEBHOOK_ALLOW_PRIVATE"):
        destination("https://hooks.example/x", allow_private=False, resolver=lambda h, p: [address])


def test_every_resolved_address_is_checked() -> None:
    with pytest.raises(UnsafeWebhook):
        destination(
            "https://hooks.example/x",
            allow_private=False,
            resolver=lambda h, p: [PUBLIC, "10.0.0.1"],
        )
    dest = destination(
        "https://hooks.example:8443/a?b=1", allow_private=False, resolver=lambda h, p: [PUBLIC]
    )
    assert (dest.address, dest.port, dest.target, dest.host) == (
        PUBLIC,
        8443,
        "/a?b=1",
        "hooks.example",
    )


def test_an_unresolvable_host_is_refused() -> None:
    with pytest.raises(UnsafeWebhook, match="does not resolve"):
        destination("https://hooks.example/x", allow_private=True, resolver=lambda h, p: [])


def test_allow_private_setting() -> None:
    assert WebhookSettings.from_env({}).allow_private is False
    assert WebhookSettings.from_env({"ALERT_WEBHOOK_ALLOW_PRIVATE": "TRUE"}).allow_private
    with pytest.raises(ConfigError, match="ALERT_WEBHOOK_ALLOW_PRIVATE"):
        WebhookSettings.from_env({"ALERT_WEBHOOK_ALLOW_PRIVATE": "yes"})
