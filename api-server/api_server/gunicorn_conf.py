"""gunicorn settings for the API, derived from the project's settings.

One process per worker runs its own subscriber thread, started after fork. With the embedded
(in-memory) store there is exactly one process, since such a store cannot be shared.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from gunicorn.glogging import Logger
from prometheus_client import values

import api_server
from api_server.metrics import MULTIPROC_ENV
from cryptostats.logs import configure_logging
from cryptostats.startup import load_settings_or_exit

_settings = load_settings_or_exit()
configure_logging(_settings.log_level, secrets=[_settings.coingecko_api_key])

# Metrics of all worker processes are summed from files in a directory fresh for each master
# start (removed on exit). prometheus_client picks its storage when first imported, which
# happened above (api_server is imported before this module), so pick it again now: no metric
# exists yet in this process, and the workers forked from it inherit the choice.
_metrics_dir = tempfile.mkdtemp(prefix="cryptostats-metrics-")
os.environ[MULTIPROC_ENV] = _metrics_dir
values.ValueClass = values.get_value_class()


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, with its own lines sent through the project's JSON handler."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in list(self.error_log.handlers):
            self.error_log.removeHandler(handler)
        self.error_log.propagate = True


logger_class = JsonLogger

wsgi_app = "api_server:create_app()"
bind = [f"{_settings.api_host}:{_settings.api_port}"]
worker_class = "api_server.gunicorn_worker.JsonErrorThreadWorker"
workers = 1 if _settings.embedded_store else _settings.api_workers
threads = _settings.api_threads
preload_app = False  # each worker builds its own clients and thread after fork
timeout = 30
graceful_timeout = 10
keepalive = 5
# gunicorn's largest bound (8 KiB): a longer request line gets a JSON 414 from the worker as soon
# as 8 KiB have arrived. Unbounded (0), a 14 MB line took 18-56 s and up to 100 MB. Query
# strings over 4 KiB still reach the app, which answers them with its own JSON 414.
limit_request_line = 8190
loglevel = _settings.log_level.lower()
accesslog = None
proc_name = "cryptostats-api"
control_socket_disable = True  # no runtime management socket: nothing to expose or write to $HOME


def post_fork(server: Any, worker: Any) -> None:
    """Give the worker the request read deadline from the settings."""
    worker.request_read_seconds = _settings.request_read_timeout_seconds


def post_worker_init(worker: Any) -> None:
    """Start this worker's background threads once the app is loaded."""
    api_server.start(worker.wsgi)


def child_exit(server: Any, worker: Any) -> None:
    """Let the metrics of a dead worker stop counting as live (its counters are kept)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    """Remove this master's metrics directory."""
    shutil.rmtree(_metrics_dir, ignore_errors=True)


def worker_exit(server: Any, worker: Any) -> None:
    """Stop this worker's background threads."""
    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        api_server.stop(app)
