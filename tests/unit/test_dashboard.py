"""The dashboard page and its files: served from the package, no inline code, strict headers."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import TestResponse

from api_server import dashboard
from tests.unit.conftest import Harness

STATIC = Path(dashboard.__file__).parent / "static"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
EXPECTED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "accelerometer=(), camera=(), geolocation=(), gyroscope=(), "
    "magnetometer=(), microphone=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "X-Permitted-Cross-Domain-Policies": "none",
}
JSON_CSP = "default-src 'none'; frame-ancestors 'none'"


class PageParser(HTMLParser):
    """Collect what a CSP would judge: scripts, styles, event handlers, referenced files."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline_script_text += data.strip()


def get(harness: Harness, path: str, **kwargs: Any) -> TestResponse:
    """GET a path and close the response (a served file stays open until then)."""
    response = harness.client.get(path, **kwargs)
    response.get_data()
    response.close()
    return response


def parse_page() -> PageParser:
    parser = PageParser()
    parser.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    return parser


def test_page_is_served_at_root_with_the_security_headers(harness: Harness) -> None:
    response = get(harness, "/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert b"<title>cryptostats</title>" in response.data
    assert response.headers["Content-Security-Policy"] == CSP
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers[name] == value
    assert "no-cache" in response.headers["Cache-Control"]
    assert "Content-Disposition" not in response.headers


def test_page_revalidates_with_its_etag(harness: Harness) -> None:
    etag = get(harness, "/").headers["ETag"]
    again = get(harness, "/", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["Content-Security-Policy"] == CSP


@pytest.mark.parametrize("path", ["/static/dashboard.css", "/static/js/main.js", "/static/nope.js"])
def test_the_page_files_carry_the_csp(harness: Harness, path: str) -> None:
    assert get(harness, path).headers["Content-Security-Policy"] == CSP


@pytest.mark.parametrize(
    "path",
    ["/health", "/api/stats", "/api/coins", "/no-such-page", "/openapi.json", "/metrics"],
)
def test_json_responses_carry_the_security_headers_too(harness: Harness, path: str) -> None:
    response = get(harness, path)
    if path != "/metrics":
        assert response.mimetype == "application/json"
    assert response.headers["Content-Security-Policy"] == JSON_CSP
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers[name] == value


def test_errors_and_other_methods_carry_the_security_headers(harness: Harness) -> None:
    for response in (
        harness.client.delete("/api/stats"),
        harness.client.post("/api/ask", data=b"x" * 5000),
        harness.client.get("/api/stats?coin=" + "a" * 5000),
        harness.client.options("/api/stats"),
    ):
        assert response.headers["Content-Security-Policy"] == JSON_CSP, response.status
        for name, value in EXPECTED_HEADERS.items():
            assert response.headers[name] == value


def test_swagger_ui_gets_a_csp_allowing_only_its_own_inline_script(harness: Harness) -> None:
    response = get(harness, "/docs")
    assert response.status_code == 200
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers[name] == value
    policy = response.headers["Content-Security-Policy"]
    scripts = re.findall(r"<script>(.*?)</script>", response.get_data(as_text=True), re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == f"'self' 'sha256-{digest}'"
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_page_has_no_inline_script_style_or_event_handler() -> None:
    page = parse_page()
    assert page.inline_script_text == ""
    for tag, attrs in page.tags:
        assert tag != "style"
        assert "style" not in attrs, f"<{tag}> has a style attribute"
        handlers = [name for name in attrs if name.startswith("on")]
        assert not handlers, f"<{tag}> has inline handlers {handlers}"
        if tag == "script":
            assert attrs.get("src", "").startswith("/static/")
        if tag == "a" or tag == "link":
            assert not attrs.get("href", "").startswith("javascript:")


def test_every_file_the_page_references_is_served_with_its_type(harness: Harness) -> None:
    page = parse_page()
    refs = [a.get("src") or a.get("href") for _, a in page.tags if a.get("src") or a.get("href")]
    local = [ref for ref in refs if ref]
    assert all(ref.startswith("/static/") for ref in local), local
    types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for ref in local:
        response = get(harness, ref)
        assert response.status_code == 200, ref
        suffix = Path(ref).suffix
        if suffix in types:
            assert response.mimetype.replace("application/", "text/") == types[suffix], ref


def test_modules_import_only_files_of_the_page() -> None:
    modules = sorted((STATIC / "js").glob("*.js"))
    assert modules
    for module in modules:
        source = module.read_text(encoding="utf-8")
        for spec in re.findall(r'^import .* from "([^"]+)";$', source, flags=re.M):
            assert spec.startswith("./"), f"{module.name} imports {spec}"
            assert (module.parent / spec).is_file(), f"{module.name} imports missing {spec}"
        assert "innerHTML" not in source, f"{module.name} writes HTML; use textContent"
        assert "eval(" not in source and "new Function" not in source


def test_no_file_of_the_page_loads_from_another_origin() -> None:
    own = [STATIC / "index.html", STATIC / "dashboard.css", *(STATIC / "js").glob("*.js")]
    for path in own:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://", text), f"{path.name} names another origin"


def test_charting_library_is_vendored_with_its_licence(harness: Harness) -> None:
    vendor = STATIC / "vendor" / "uplot"
    assert "MIT License" in (vendor / "LICENSE").read_text(encoding="utf-8")
    assert "1.6.32" in (vendor / "README.md").read_text(encoding="utf-8")
    script = get(harness, "/static/vendor/uplot/uPlot.iife.min.js")
    assert script.status_code == 200
    assert b"uPlot" in script.data


def test_range_buttons_are_the_ranges_the_page_remembers() -> None:
    buttons = [a.get("data-days") for tag, a in parse_page().tags if tag == "button"]
    days = [int(d) for d in buttons if d]
    assert days == [1, 7, 30, 90, 365]
    main = (STATIC / "js" / "main.js").read_text(encoding="utf-8")
    remembered = re.search(r"^const RANGES = \[([0-9, ]+)\];$", main, flags=re.M)
    assert remembered is not None
    assert [int(d) for d in remembered.group(1).split(",")] == days
    assert all(d <= 365 for d in days)  # /api/history allows days 1..365
