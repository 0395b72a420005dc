"""Webhook signatures, destination rules (no SSRF), and the pinned POST to a local receiver."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from api_server import webhooks
from api_server.webhooks import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    UnsafeWebhook,
    WebhookSettings,
    destination,
    is_public,
    post,
    sign,
)
from cryptostats.errors import ConfigError
from cryptostats_dev.webhook_receiver import WebhookReceiver

PUBLIC = "93.184.215.14"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    found = WebhookReceiver().start()
    yield found
    found.stop()


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


def test_post_signs_and_pins_the_checked_address(receiver: WebhookReceiver) -> None:
    port = receiver.server.server_address[1]
    url = f"http://hooks.example:{port}/hook?x=1"
    attempt = post(
        url,
        b'{"a":1}',
        secret="s3cret",
        event_id="al_1-5",
        allow_private=True,
        resolver=lambda h, p: ["127.0.0.1"],
    )
    assert attempt.delivered and attempt.status == 200
    [got] = receiver.received
    assert got.path == "/hook?x=1"
    assert got.headers["Host"] == f"hooks.example:{port}"  # the name, sent to the pinned IP
    assert got.headers[EVENT_ID_HEADER] == "al_1-5"
    assert got.headers[SIGNATURE_HEADER] == sign("s3cret", b'{"a":1}')


def test_a_dns_answer_that_turns_private_is_refused_at_connection_time(
    receiver: WebhookReceiver,
) -> None:
    attempt = post(
        receiver.url.replace("127.0.0.1", "hooks.example"),
        b"{}",
        secret="s",
        event_id="e",
        allow_private=False,
        resolver=lambda h, p: ["127.0.0.1"],
    )
    assert not attempt.delivered and attempt.error.startswith("refused")
    assert receiver.received == []


def test_a_slow_or_failing_receiver_is_a_failed_attempt(
    receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.status = 500
    assert post(receiver.url, b"{}", secret="s", event_id="e", allow_private=True).status == 500
    monkeypatch.setattr(webhooks, "READ_TIMEOUT_SECONDS", 0.2)
    receiver.delay, receiver.status = 1.0, 200
    attempt = post(receiver.url, b"{}", secret="s", event_id="e", allow_private=True)
    assert attempt.status is None and "Timeout" in attempt.error


def test_nothing_listening_is_a_failed_attempt(receiver: WebhookReceiver) -> None:
    url = receiver.url
    receiver.stop()
    attempt = post(url, b"{}", secret="s", event_id="e", allow_private=True)
    assert attempt.status is None and attempt.error


def test_allow_private_setting() -> None:
    assert WebhookSettings.from_env({}).allow_private is False
    assert WebhookSettings.from_env({"ALERT_WEBHOOK_ALLOW_PRIVATE": "TRUE"}).allow_private
    with pytest.raises(ConfigError, match="ALERT_WEBHOOK_ALLOW_PRIVATE"):
        WebhookSettings.from_env({"ALERT_WEBHOOK_ALLOW_PRIVATE": "yes"})


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[WebhookReceiver, str]]:
    """The receiver behind TLS with a self-signed certificate for hooks.example.

    A P-256 key: pinning does not depend on the key type, and it is made in ms, not RSA's 0.3 s.
    """
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1",
         "-subj", "/CN=hooks.example", "-addext", "subjectAltName=DNS:hooks.example",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    found = WebhookReceiver().start()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    found.server.socket = context.wrap_socket(found.server.socket, server_side=True)
    yield found, str(cert)
    found.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_https_is_pinned_to_the_checked_address_with_the_hosts_name_and_certificate(
    tls_receiver: tuple[WebhookReceiver, str],
) -> None:
    receiver, authority = tls_receiver
    port = receiver.server.server_address[1]
    to_loopback = lambda h, p: ["127.0.0.1"]  # noqa: E731
    good = post(f"https://hooks.example:{port}/h", b"{}", secret="s", event_id="e",
                allow_private=True, resolver=to_loopback, ca_certs=authority)  # fmt: skip
    assert good.delivered, good.error
    assert receiver.received[0].headers["Host"] == f"hooks.example:{port}"
    wrong_name = post(f"https://other.example:{port}/h", b"{}", secret="s", event_id="e",
                      allow_private=True, resolver=to_loopback, ca_certs=authority)  # fmt: skip
    assert not wrong_name.delivered and "SSL" in wrong_name.error
    untrusted = post(f"https://hooks.example:{port}/h", b"{}", secret="s", event_id="e",
                     allow_private=True, resolver=to_loopback)  # fmt: skip
    assert not untrusted.delivered and "SSL" in untrusted.error
    assert len(receiver.received) == 1
