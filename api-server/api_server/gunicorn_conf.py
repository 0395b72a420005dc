"""gunicorn settings for the API, derived from the project's settings.

One process per worker runs its own subscriber thread, started after fork. With the embedded
(in-memory) store there is exactly one process, since such a store cannot be shared.
"""

from __future__ import annotations

from typing import Any

from cryptostats.logs import configure_logging
from cryptostats.startup import load_settings_or_exit

_settings = load_settings_or_exit()
configure_logging(_settings.log_level)

wsgi_app = "api_server:create_app()"
bind = [f"{_settings.api_host}:{_settings.api_port}"]
worker_class = "api_server.gunicorn_worker.JsonErrorThreadWorker"
workers = 1 if _settings.embedded_store else _settings.api_workers
threads = _settings.api_threads
preload_app = False  # each worker builds its own clients and thread after fork
timeout = 30
graceful_timeout = 10
keepalive = 5
# Let long request lines reach the app, which answers with a JSON 414 rather than an HTML 400.
limit_request_line = 0
loglevel = _settings.log_level.lower()
accesslog = None
proc_name = "cryptostats-api"
control_socket_disable = True  # no runtime management socket: nothing to expose or write to $HOME


def post_worker_init(worker: Any) -> None:
    """Start this worker's subscriber thread once the app is loaded."""
    worker.wsgi.extensions["cryptostats"].start()


def worker_exit(server: Any, worker: Any) -> None:
    """Stop this worker's subscriber thread."""
    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        app.extensions["cryptostats"].stop()
