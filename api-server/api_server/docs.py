"""The OpenAPI document (/openapi.json) and Swagger UI (/docs), generated with flask-smorest.

Swagger UI's files come from the swagger-ui-bundle package and are served by the app itself, so
the page works with no internet access. flask-smorest's own error handler is not installed:
handlers.py renders every error as {"error": ...}.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Callable
from typing import Any

import flask_smorest
from apispec import BasePlugin
from flask import Blueprint, Flask, Response, request, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from api_server.app_state import state_of
from api_server.schemas import ErrorSchema

API_TITLE = "cryptostats"
API_VERSION = "1.0.0"
OPENAPI_VERSION = "3.0.3"
"""Swagger UI 4 (the bundled one) renders OpenAPI 3.0 documents."""

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"

API_DESCRIPTION = """\
Crypto market statistics: prices, market caps and 24 h changes fetched from CoinGecko on a
schedule, stored, and served from memory.

Every error is JSON: `{"error": "<message>"}`. Every response carries `X-Request-ID` (the one the
client sent, when it is 1-128 characters of letters, digits, `.`, `_` or `-`, else a new one).
Read endpoints send `ETag`, `Last-Modified` and `Cache-Control: max-age=<seconds until the next
expected update>`, and answer `If-None-Match` / `If-Modified-Since` with 304.
"""


DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self' {inline_scripts}",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
"""Swagger UI's CSP: its own files, plus its inline start-up script by hash (no 'unsafe-inline')."""

INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def docs_content_security_policy(page: str) -> str:
    """Return the CSP for a Swagger UI page, allowing exactly its inline scripts."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(page)
    )
    return DOCS_CONTENT_SECURITY_POLICY.format(inline_scripts=hashes).replace("  ", " ")


def add_docs_content_security_policy(response: Response) -> Response:
    """Give /docs its CSP (every other response gets the app's, see dashboard.py)."""
    if request.path == DOCS_PATH and response.mimetype == "text/html":
        page = response.get_data(as_text=True)
        response.headers["Content-Security-Policy"] = docs_content_security_policy(page)
    return response


EXTRA_CONTENT: dict[tuple[str, str, str], dict[str, Any]] = {
    ("/api/history", "get", "200"): {
        "text/csv": {
            "schema": {
                "type": "string",
                "description": "format=csv: header time,open,high,low,close,marketCap,volume24h",
            }
        }
    },
}
"""Response content types beside JSON (flask-smorest documents one per status)."""


class ExtraContentPlugin(BasePlugin):  # type: ignore[misc]
    """Adds EXTRA_CONTENT to the operations it names as they enter the document."""

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **_: Any
    ) -> None:
        """Merge the extra content types into the named responses."""
        for (where, method, status), content in EXTRA_CONTENT.items():
            responses = ((operations or {}).get(method) or {}).get("responses", {})
            response = responses.get(status) or responses.get(int(status))
            if path == where and isinstance(response, dict):
                response.setdefault("content", {}).update(content)


class DocumentedApi(flask_smorest.Api):  # type: ignore[misc]
    """flask-smorest's Api, minus its error handler (ours keeps one JSON error shape).

    A blueprint's routes are registered at once, but its views (and flask-smorest's default
    components) enter the OpenAPI document only in `document()`, called by `start()` before the
    process serves and by the first /openapi.json: the same document, in the same order, and an
    app that never serves it (a unit test's) skips most of the cost of building it.
    """

    ERROR_SCHEMA = ErrorSchema

    def __init__(self, app: Flask, **kwargs: Any) -> None:
        self._undocumented: list[tuple[flask_smorest.Blueprint, str, Any]] = []
        self._deferred_defaults: list[Callable[[], None]] = []
        self._document_lock = threading.Lock()
        super().__init__(app, **kwargs)

    # flask-smorest resolves its default components (error responses, ETag and pagination
    # headers, and the schemas they name) at init; here they go first in document(), in order.
    def _register_responses(self) -> None:
        self._deferred_defaults.append(super()._register_responses)

    def _register_etag_headers(self) -> None:
        self._deferred_defaults.append(super()._register_etag_headers)

    def _register_pagination_header(self) -> None:
        self._deferred_defaults.append(super()._register_pagination_header)

    def register_blueprint(
        self, blp: flask_smorest.Blueprint, *, parameters: Any = None, **options: Any
    ) -> None:
        """Register the blueprint's routes now and its views in the document on `document()`."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, name, parameters))

    def document(self) -> None:
        """Add the registered blueprints' views and tags to the document, in registration order."""
        with self._document_lock:
            while self._deferred_defaults:
                self._deferred_defaults.pop(0)()
            while self._undocumented:
                blp, name, parameters = self._undocumented[0]
                blp.register_views_in_doc(
                    self, self._app, self.spec, name=name, parameters=parameters
                )
                self.spec.tag({"name": name, "description": blp.description})
                del self._undocumented[0]

    def _openapi_json(self) -> Response:
        self.document()
        response: Response = super()._openapi_json()
        return response

    def _register_error_handlers(self) -> None:
        return None


def document_api(app: Flask) -> None:
    """Complete the app's OpenAPI document now (see DocumentedApi)."""
    for entry in app.extensions["flask-smorest"]["apis"].values():
        entry["ext_obj"].document()


def create_api(app: Flask) -> DocumentedApi:
    """Configure the OpenAPI document and Swagger UI for the app."""
    app.config.update(
        API_TITLE=API_TITLE,
        API_VERSION=API_VERSION,
        OPENAPI_VERSION=OPENAPI_VERSION,
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH=DOCS_PATH.lstrip("/"),
        OPENAPI_SWAGGER_UI_URL=ASSETS_PATH + "/",
    )
    api = DocumentedApi(
        app,
        spec_kwargs={
            "info": {"description": API_DESCRIPTION},
            "servers": [{"url": "/"}],
            "extra_plugins": [ExtraContentPlugin()],
        },
    )
    for name, header in RESPONSE_HEADERS.items():
        api.spec.components.header(name, header)
    register_parameters(api, state_of(app).settings.coin_names)
    app.register_blueprint(_assets_blueprint())
    app.after_request(add_docs_content_security_policy)
    return api


def _assets_blueprint() -> Blueprint:
    assets = Blueprint("docs_assets", __name__)

    @assets.get(ASSETS_PATH + "/<path:filename>")
    def swagger_asset(filename: str) -> Response:
        return send_from_directory(str(swagger_ui_path), filename, max_age=86_400)

    return assets


RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id: the client's X-Request-ID when valid, else a new one",
        "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,128}$"},
    },
    "ETag": {"description": "Strong validator of the body", "schema": {"type": "string"}},
    "Last-Modified": {
        "description": "HTTP date of the newest observation in the body",
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "`max-age` = seconds until the next expected update",
        "schema": {"type": "string"},
    },
}


def header_refs(*names: str) -> dict[str, Any]:
    """Return response header references for an operation's response."""
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def query_param(
    name: str, schema: dict[str, Any], description: str, *, required: bool = False
) -> dict[str, Any]:
    """Return the OpenAPI description of a query parameter."""
    return {
        "in": "query",
        "name": name,
        "required": required,
        "schema": schema,
        "description": description,
    }


REQUEST_ID_PARAM = {
    "in": "header",
    "name": "X-Request-ID",
    "required": False,
    "schema": {"type": "string"},
    "description": "Your id for this request (1-128 of A-Z a-z 0-9 . _ -); else one is generated",
}

CONDITIONAL_PARAMS = [
    {
        "in": "header",
        "name": "If-None-Match",
        "required": False,
        "schema": {"type": "string"},
        "description": "ETag(s) you hold; 304 when one matches",
    },
    {
        "in": "header",
        "name": "If-Modified-Since",
        "required": False,
        "schema": {"type": "string"},
        "description": "HTTP date; 304 when the data is not newer (ignored with If-None-Match)",
    },
]

COIN_PARAM = "Coin"
"""The `coin` query parameter, a component whose enum is the tracked coins of the app."""

LIMIT_PARAM = "Limit"
"""The `limit` query parameter of /api/coins, bounded by the number of tracked coins."""


def register_parameters(api: flask_smorest.Api, coins: list[str]) -> None:
    """Document the parameters whose bounds come from the settings (the tracked coins)."""
    api.spec.components.parameter(
        COIN_PARAM,
        "query",
        {
            "name": "coin",
            "required": True,
            "schema": {"type": "string", "enum": coins},
            "description": "A tracked coin's public id (matched case-insensitively, trimmed). "
            "Missing, repeated or untracked: 400 listing the tracked coins; "
            "tracked with no data yet: 404.",
        },
    )
    api.spec.components.parameter(
        LIMIT_PARAM,
        "query",
        {
            "name": "limit",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": len(coins)},
            "description": "Return the first N coins after sorting (1..number of tracked "
            "coins): `?sort=marketCap&limit=10` is a top 10.",
        },
    )


CACHED_READ_HEADERS = header_refs("X-Request-ID", "ETag", "Last-Modified", "Cache-Control")

NOT_MODIFIED_DOC = "Not modified: your copy (If-None-Match / If-Modified-Since) is current"
