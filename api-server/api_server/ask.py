"""POST /api/ask: plain-English questions answered by the rule-based assistant."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, json, request
from flask_smorest import Blueprint

from api_server import assistant
from api_server.action_docs import ASK_429
from api_server.app_state import app_state
from api_server.docs import REQUEST_ID_PARAM, header_refs
from api_server.errors import InvalidRequest
from api_server.schemas import NON_BLANK, AskAnswerSchema, AskRequestSchema, ErrorSchema

bp = Blueprint("ask", __name__, description="A rule-based assistant")

MAX_QUERY_CHARS = 300
"""Longest question accepted; even fully \\u-escaped it fits the 4 KiB body limit."""

ERROR_HEADERS = header_refs("X-Request-ID")


@bp.route("/api/ask", methods=["POST"])
@bp.doc(
    parameters=[REQUEST_ID_PARAM],
    requestBody={
        "required": True,
        "content": {"application/json": {"schema": AskRequestSchema}},
    },
)
@bp.alt_response(
    200,
    schema=AskAnswerSchema,
    description="The answer; `type` help (with example questions in `data`) when the question "
    "names no tracked coin",
    headers=ERROR_HEADERS,
    success=True,
)
@bp.alt_response(
    400,
    schema=ErrorSchema,
    description="body not JSON, not an object, or without a non-empty string `query` of at most "
    f"{MAX_QUERY_CHARS} characters",
    headers=ERROR_HEADERS,
)
@bp.alt_response(413, schema=ErrorSchema, description="body over 4 KiB", headers=ERROR_HEADERS)
@bp.alt_response(429, schema=ErrorSchema, description=ASK_429, headers=ERROR_HEADERS)
@bp.alt_response(
    503, schema=ErrorSchema, description="data store unavailable", headers=ERROR_HEADERS
)
def ask() -> Response:
    """Answer a question about a coin's price, market cap, 24 h change, volume, deviation or trend.

    Coins are recognised by id, CoinGecko id, symbol or name, as whole words.
    Examples: "What is the price of Bitcoin?", "Show me the 7-day trend of Ethereum",
    "volume of ethereum".
    """
    query = question_text()
    state = app_state()
    settings = state.settings
    views = state.read_model.all()
    names = [
        assistant.CoinNames(
            public=spec.public,
            upstream=spec.upstream,
            symbol=views[spec.public].snapshot.label.symbol if spec.public in views else "",
            name=views[spec.public].snapshot.label.name if spec.public in views else "",
        )
        for spec in settings.coins
    ]
    question = assistant.read_question(query, names)
    if question.type == "help" or question.coin is None:
        reply = assistant.help_answer(settings.coin_names, "I did not find a tracked coin there.")
        return _json(reply.to_dict())
    view = views.get(question.coin)
    snapshot = view.snapshot if view is not None else None
    trend = None
    if question.type == "trend" and snapshot is not None:
        trend = state.history.trend(question.coin, question.days)
    return _json(assistant.answer(question, snapshot, trend).to_dict())


def question_text() -> str:
    """Return the body's `query`, or raise a 400 saying what is wrong with the body."""
    raw = request.get_data(cache=True)  # raises the JSON 413 when over MAX_CONTENT_LENGTH
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidRequest('the body must be JSON: {"query": "..."}') from None
    if not isinstance(payload, dict) or "query" not in payload:
        raise InvalidRequest('the body must be a JSON object with a "query"')
    query = payload["query"]
    if not isinstance(query, str) or not re.search(NON_BLANK, query):
        raise InvalidRequest('"query" must be a non-empty string')
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidRequest(f'"query" must be at most {MAX_QUERY_CHARS} characters')
    return query


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), mimetype="application/json")
