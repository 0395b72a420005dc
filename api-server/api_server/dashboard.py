"""The dashboard: a static page at `/` that reads the JSON API, and the security headers.

The page is plain HTML, CSS and JavaScript modules under `static/` (no build step), with the
uPlot charting library vendored under `static/vendor/uplot/`: nothing is fetched from another
origin, so the page works offline. It never embeds a script or a style, which lets every
response carry a strict Content-Security-Policy.
"""

from __future__ import annotations

from flask import Blueprint, Response, send_from_directory

STATIC_URL_PATH = "/static"
"""Where the page's files are served."""

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)
"""Only this origin's files run or load; no inline script or style, no framing."""

JSON_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
"""The CSP of every response that is not a page (JSON, metrics, errors): nothing may load."""

PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)
"""Powerful browser features no page of the app uses, switched off for it and any frame."""

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "X-Permitted-Cross-Domain-Policies": "none",
}
"""Sent on every response of the app, gunicorn's own errors included (OWASP Secure Headers)."""

bp = Blueprint("dashboard", __name__, static_folder="static", static_url_path=STATIC_URL_PATH)


@bp.get("/")
def index() -> Response:
    """Serve the dashboard page (revalidated on each load through its ETag)."""
    response = send_from_directory(bp.static_folder or "static", "index.html")
    response.cache_control.no_cache = True
    del response.headers["Content-Disposition"]
    return response


@bp.after_request
def add_content_security_policy(response: Response) -> Response:
    """Send the page's CSP with the page and its files (/docs has its own, see docs.py)."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


@bp.after_app_request
def add_security_headers(response: Response) -> Response:
    """Add the security headers to every response of the app, keeping any set by a view."""
    response.headers.setdefault("Content-Security-Policy", JSON_CONTENT_SECURITY_POLICY)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
