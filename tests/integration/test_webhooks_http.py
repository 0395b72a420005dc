"""The webhook POST over real sockets: signing and pinning to a local receiver, timeouts, TLS.

These talk to a WebhookReceiver listening on 127.0.0.1, so they live here rather than in tests/unit
(issue 9); signatures and destination rules without sockets stay in tests/unit/test_webhooks.py.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from api_server import webhooks
from api_server.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, post, sign
from cryptostats_dev.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    found = WebhookReceiver().start()
    yield found
    found.stop()


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
