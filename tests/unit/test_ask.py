from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.unit.conftest import Harness


@pytest.fixture
def loaded(harness: Harness) -> Harness:
    harness.ingest("test")
    return harness


def test_price_question(loaded: Harness) -> None:
    resp = loaded.client.post("/api/ask", json={"query": "What is the price of Bitcoin?"})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["type"] == "price" and body["coin"] == "bitcoin"
    assert body["answer"].startswith("Bitcoin (BIT) is at $101.00")
    assert body["data"]["price"] == 101.0


def test_trend_question_reads_history(loaded: Harness) -> None:
    body = loaded.client.post("/api/ask", json={"query": "Show me the 7-day trend of Ethereum"})
    reply = body.get_json()
    assert reply["type"] == "trend" and reply["coin"] == "ethereum"
    assert reply["data"]["days"] == 7


def test_symbol_from_upstream_is_recognised(loaded: Harness) -> None:
    reply = loaded.client.post("/api/ask", json={"query": "market cap of eth"}).get_json()
    assert reply["type"] == "market_cap" and reply["coin"] == "ethereum"


def test_unrelated_question_gets_help(loaded: Harness) -> None:
    reply = loaded.client.post("/api/ask", json={"query": "what is the best method?"}).get_json()
    assert reply["type"] == "help" and reply["coin"] is None
    assert reply["data"]["examples"]


@pytest.fixture(scope="module")
def refusing(module_make_harness: Callable[..., Harness]) -> Harness:
    """One app for the module's refused requests: a 4xx stores nothing (19 asks, under 30/min)."""
    return module_make_harness()


def test_question_before_any_data(harness: Harness) -> None:
    reply = harness.client.post("/api/ask", json={"query": "bitcoin price"}).get_json()
    assert reply["type"] == "price" and "no data" in reply["answer"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"not json", "must be JSON"),
        (b"", "must be JSON"),
        (b"[1, 2]", "object"),
        (b'{"q": "x"}', "object"),
        (b'{"query": 5}', "non-empty string"),
        (b'{"query": "   "}', "non-empty string"),
        (b'{"query": null}', "non-empty string"),
        (b'{"query": "' + b"a" * 400 + b'"}', "at most 300"),
        (b"[" * 2000 + b"]" * 2000, "JSON"),
        (b"\xff\xfe", "JSON"),
    ],
)
def test_bad_bodies_are_400(refusing: Harness, body: bytes, words: str) -> None:
    resp = refusing.client.post("/api/ask", data=body, content_type="application/json")
    assert resp.status_code == 400
    assert words in resp.get_json()["error"]


def test_large_body_is_json_413(refusing: Harness) -> None:
    resp = refusing.client.post("/api/ask", json={"query": "x" * 10_000})
    assert resp.status_code == 413
    assert resp.get_json() == {"error": "request body too large"}


def test_get_is_405(refusing: Harness) -> None:
    assert refusing.client.get("/api/ask").status_code == 405


BLANKS = [" ", "\t\n", "\x1d\x1e", "\x1c\x1f ", "\x85", "\u2028\u3000", "\ufeff", "\xa0"]
"""Queries with no character to read: blank by Python's `str.isspace`, Unicode's White_Space or
ECMAScript's `\\s` (schema validators), so the server and the OpenAPI document agree."""


@pytest.mark.parametrize("query", BLANKS)
def test_a_blank_query_is_a_400_and_the_document_says_so(refusing: Harness, query: str) -> None:
    import jsonschema_rs

    resp = refusing.client.post("/api/ask", json={"query": query})
    assert resp.status_code == 400
    assert resp.get_json() == {"error": '"query" must be a non-empty string'}
    spec = refusing.client.get("/openapi.json").get_json()
    pattern = spec["components"]["schemas"]["AskRequest"]["properties"]["query"]["pattern"]
    assert not jsonschema_rs.is_valid({"type": "string", "pattern": pattern}, query)
